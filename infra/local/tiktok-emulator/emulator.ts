/**
 * The TikTok Shop API emulator: one node:http server on loopback serving the API paths, the auth host
 * (under `/auth`) and a JSON admin interface (under `/__admin`), all state inside the instance.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import type { ApiEnvelope, ShopInfo, TikTokOrder, TokenData } from "../../../shared/tiktok/api-types";
import { API_CODES } from "../../../shared/tiktok/api-types";
import { verifySignature } from "../../../shared/tiktok/signing";
import { handleAdminRequest } from "./admin";
import { orderDetail, searchOrders, shopInfo } from "./api-handlers";
import { AuthStore, type Grant } from "./auth-store";
import { EmulatorClock } from "./clock";
import {
  type BurstOptions,
  type DatasetOptions,
  DEFAULT_SEED,
  type EmulatorApp,
  type FaultKind,
  isPageFault,
  mergeRuntimeOptions,
  type PageFaultKind,
  type ResolvedShop,
  type RuntimeOptions,
  resolveApps,
  resolveBursts,
  resolveShops,
  runtimeOptionsFrom,
  type TikTokEmulatorOptions,
} from "./config";
import {
  type CountersSnapshot,
  EmulatorCounters,
  type Outcome,
  outcomeOf,
  type RequestLogEntry,
} from "./counters";
import { ADMIN_BASE_PATH, AUTH_BASE_PATH, type EndpointSpec, resolveEndpoint } from "./endpoints";
import { AdminRequestError, apiErrors, TikTokApiError } from "./errors";
import { type FailNextSpec, FaultInjector } from "./faults";
import {
  INVALID_ORDER_FIELDS,
  type InvalidOrderField,
  type OrderSummary,
  ShopOrderStore,
} from "./order-store";
import { PageTokenCodec } from "./page-token";
import { mixSeeds, SeededRandom } from "./prng";
import { TokenBucketLimiter } from "./rate-limiter";
import { type WebhookCounters, type WebhookDelivery, WebhookSender } from "./webhooks";

const MAX_BODY_BYTES = 1024 * 1024;
/** Bounds one catch-up of continuous mutation (e.g. after advancing the clock by a month). */
const MAX_CATCH_UP_MUTATIONS = 100_000;

export interface IssueTokensOptions {
  readonly appKey?: string;
  /** Shops the grant covers; all shops when omitted. */
  readonly shopIds?: readonly string[];
  readonly accessTokenTtlSeconds?: number;
  readonly refreshTokenTtlSeconds?: number;
}

export interface AuthCodeOptions {
  readonly appKey?: string;
  readonly shopIds?: readonly string[];
}

export interface MutateOptions {
  /** Random orders to advance one status step (ignored when `orderIds` is given). */
  readonly count?: number;
  /** Seed for this call's choices; the emulator's own seeded stream when omitted. */
  readonly seed?: number;
  /** Restrict to one shop; random orders of all shops when omitted. */
  readonly shopId?: string;
  /** Exactly these orders (each advanced one step; terminal ones only get a newer update_time). */
  readonly orderIds?: readonly string[];
}

export interface CorruptOrdersOptions {
  readonly orderIds: readonly string[];
  /** The field each is served without (search and detail); the truth keeps the whole order. */
  readonly field: InvalidOrderField;
  readonly shopId?: string;
}

export interface CreateOrdersOptions {
  readonly count: number;
  readonly shopId?: string;
  readonly seed?: number;
  /** Line items of each new order (one per unit); drawn (1–4) when omitted. */
  readonly lineItems?: number;
}

/**
 * Most line items an order may be given (a 40,000-unit order is ~20 MB of JSON). Compressed as the store
 * writes orders, only one of ~16,000 units or more is still larger than a DynamoDB item (400 KB).
 */
export const MAX_LINE_ITEMS = 40_000;
/** Line items `oversizeOrders` gives by default: ~1.2 MB of JSON (~53 KB compressed). */
export const DEFAULT_BULK_LINE_ITEMS = 2_000;

export interface OversizeOrdersOptions {
  readonly orderIds: readonly string[];
  /** Line items each gets from now on (default 2,000); one per unit, as TikTok lists them. */
  readonly lineItems?: number;
  readonly shopId?: string;
}

export interface FloodOptions {
  /** Orders that end up sharing one update_time second (emulator now). */
  readonly count: number;
  readonly shopId?: string;
  readonly seed?: number;
  /**
   * `update` (default): that many distinct existing orders change in this second (their create_times
   * stay spread); `create`: that many new orders are created in it (create_time = update_time).
   */
  readonly source?: "update" | "create";
}

/** One webhook sent on demand (any type), without the drop/duplicate faults. */
export interface SendWebhookOptions {
  readonly type: number;
  readonly shopId: string;
  readonly data?: Record<string, unknown>;
  /** Reuse an id (a TikTok retry of the same notification); a fresh one by default. */
  readonly notificationId?: string;
  /** Unix seconds; the emulator's now by default. */
  readonly timestamp?: number;
  /** Overrides the configured URL. */
  readonly url?: string;
}

/** A slice of a shop's orders in (create_time, id) order. */
export interface TruthRange {
  readonly offset?: number;
  readonly limit?: number;
}

function checkLineItems(caller: string, lineItems: number): void {
  if (!Number.isInteger(lineItems) || lineItems < 1 || lineItems > MAX_LINE_ITEMS) {
    throw new AdminRequestError(400, `${caller}: lineItems must be an integer in [1, ${MAX_LINE_ITEMS}]`);
  }
}

function sliceRange<T>(items: readonly T[], range: TruthRange): T[] {
  const offset = Math.max(0, range.offset ?? 0);
  return items.slice(offset, range.limit === undefined ? undefined : offset + Math.max(0, range.limit));
}

export interface ClockState {
  readonly now: number;
  readonly frozen: boolean;
}

/** What tests, the benchmark and the local stack use in-process. */
export interface TikTokEmulator {
  /** API host, e.g. `http://127.0.0.1:40123`. */
  readonly baseUrl: string;
  /** Auth host (`/api/v2/token/...` lives under it): `${baseUrl}/auth`. */
  readonly authBaseUrl: string;
  readonly adminBaseUrl: string;
  readonly port: number;
  readonly apps: readonly EmulatorApp[];
  /** The first app's credentials. */
  readonly appKey: string;
  readonly appSecret: string;
  shops(): ShopInfo[];
  stop(): Promise<void>;
  issueTokens(options?: IssueTokensOptions): TokenData;
  createAuthCode(options?: AuthCodeOptions): string;
  /**
   * Full current order objects of a shop, in (create_time, id) order. Each is rebuilt on demand: for
   * 283k orders that is ~600 MB and seconds, so page through large shops with `range`.
   */
  truth(shopId: string, range?: TruthRange): TikTokOrder[];
  /** Just id, status and times: cheap even for 283k orders. */
  truthSummary(shopId: string, range?: TruthRange): OrderSummary[];
  orderCount(shopId: string): number;
  mutate(options: MutateOptions): OrderSummary[];
  createOrders(options: CreateOrdersOptions): OrderSummary[];
  /** Serves these orders without `field` from now on: invalid orders from the API, for quarantine tests. */
  corruptOrders(options: CorruptOrdersOptions): void;
  /** Orders served invalid, per shop: id → the field left out. */
  corruptedOrders(shopId: string): ReadonlyMap<string, InvalidOrderField>;
  /** Gives orders thousands of line items (a bulk order: its JSON exceeds DynamoDB's 400 KB item). */
  oversizeOrders(options: OversizeOrdersOptions): OrderSummary[];
  /** Orders given a chosen number of line items, per shop: id → line items. */
  oversizedOrders(shopId: string): ReadonlyMap<string, number>;
  /** `count` orders sharing one update_time second (now): more than a result cap, if asked. */
  flood(options: FloodOptions): OrderSummary[];
  now(): number;
  clock(): ClockState;
  setClock(unixSeconds: number, options?: { frozen?: boolean }): number;
  advance(seconds: number): number;
  /** Changes runtime settings; throws EmulatorConfigError for unknown keys or bad values. */
  configure(change: Partial<RuntimeOptions>): RuntimeOptions;
  config(): RuntimeOptions;
  failNext(spec: FailNextSpec): void;
  clearFaultQueue(): void;
  counters(): CountersSnapshot;
  resetCounters(): void;
  /** Expires every live access token, or only those of grants covering `shopId`. */
  expireAccessTokens(options?: { shopId?: string }): number;
  revokeRefreshToken(token: string): boolean;
  /** Revokes the refresh tokens of every grant covering the shop (the seller withdrew the app). */
  revokeRefreshTokensOf(shopId: string): number;
  /** The request log (no tokens, no bodies): requests after `afterSeq`, optionally of one shop. */
  requests(options?: { afterSeq?: number; shopId?: string }): RequestLogEntry[];
  /** Sequence number of the last logged request; pass it as `afterSeq` to see only later ones. */
  lastRequestSeq(): number;
  /** Replaces the dataset (shops, orders); tokens stay valid for shops that still exist. */
  loadDataset(options?: DatasetOptions): ShopInfo[];
  /** Sends one signed webhook now (any type; no drop/duplicate faults). */
  sendWebhook(options: SendWebhookOptions): WebhookDelivery;
  /** Webhook deliveries logged after `afterSeq` (bodies and signatures included, for replays). */
  webhookDeliveries(afterSeq?: number): WebhookDelivery[];
  webhookCounters(): WebhookCounters;
  /** Resolves once no webhook delivery is waiting or under way. */
  webhooksIdle(): Promise<void>;
}

interface ContinuousMutationState {
  emulatorMs: number;
  realMs: number;
  pendingUpdates: number;
  pendingCreates: number;
}

interface ApiRequest {
  readonly endpoint: EndpointSpec;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly rawBody: string;
  readonly headers: IncomingHttpHeaders;
  readonly pageFault: PageFaultKind | undefined;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(apiErrors.parameter("Invalid parameter: the request body is too large"));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (response.writableEnded || response.destroyed) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

class TikTokEmulatorServer implements TikTokEmulator {
  readonly apps: readonly EmulatorApp[];
  private readonly appsByKey: Map<string, EmulatorApp>;
  private options: RuntimeOptions;
  private readonly clockState: EmulatorClock;
  private stores = new Map<string, ShopOrderStore>();
  private storesByCipher = new Map<string, ShopOrderStore>();
  private readonly auth = new AuthStore();
  private readonly limiter = new TokenBucketLimiter();
  private readonly faults: FaultInjector;
  private readonly counterState = new EmulatorCounters();
  private readonly codec = new PageTokenCodec();
  private mutationRandom: SeededRandom;
  private latencyRandom: SeededRandom;
  private pageFaultRandom: SeededRandom;
  private continuous: ContinuousMutationState;
  private readonly hangingTimers = new Set<NodeJS.Timeout>();
  private readonly webhooks: WebhookSender;
  /** Applies continuous mutation on a timer while webhooks are on (otherwise it is lazy, per request). */
  private mutationTimer: NodeJS.Timeout | undefined;
  private readonly requestIdPrefix = randomBytes(3).toString("hex").toUpperCase();
  private requestSequence = 0;
  private readonly server: Server;
  private readonly log: (line: string) => void;
  private listeningPort = 0;
  private stopping: Promise<void> | undefined;

  constructor(private readonly startOptions: TikTokEmulatorOptions) {
    this.apps = resolveApps(startOptions);
    this.appsByKey = new Map(this.apps.map((app) => [app.appKey, app]));
    this.options = runtimeOptionsFrom(startOptions);
    this.clockState = new EmulatorClock(startOptions.clock);
    this.log = startOptions.log ?? ((line) => process.stderr.write(`[tiktok-emulator] ${line}\n`));
    const seed = startOptions.seed ?? DEFAULT_SEED;
    this.faults = new FaultInjector(mixSeeds(seed, 0xfa017));
    this.mutationRandom = new SeededRandom(mixSeeds(seed, 0x3e7a7e));
    this.latencyRandom = new SeededRandom(mixSeeds(seed, 0x1a7e));
    this.pageFaultRandom = new SeededRandom(mixSeeds(seed, 0x9a9e));
    this.continuous = this.freshContinuousState();
    this.webhooks = new WebhookSender({
      apps: this.apps,
      seed: mixSeeds(seed, 0x3eb400c),
      now: () => this.now(),
      diagnostics: this.log,
    });
    this.webhooks.configure(this.options.webhooks);
    this.syncMutationTimer();
    this.installDataset(resolveShops(startOptions), resolveBursts(startOptions));
    for (const preset of startOptions.presetTokens ?? []) {
      const grant = this.makeGrant(preset.appKey, preset.shopIds);
      this.auth.preset(grant, preset.accessToken, preset.refreshToken, this.now(), this.options);
    }
    this.server = createServer((request, response) => {
      this.dispatch(request, response).catch((error: unknown) => {
        this.log(
          `unhandled error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
        sendJson(response, 500, this.envelope(API_CODES.internalError, "Internal error", null));
      });
    });
  }

  async listen(): Promise<void> {
    const host = this.startOptions.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.startOptions.port ?? 0, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.listeningPort = (this.server.address() as AddressInfo).port;
  }

  get port(): number {
    return this.listeningPort;
  }

  get baseUrl(): string {
    const host = this.startOptions.host ?? "127.0.0.1";
    const reachable = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
    return `http://${reachable}:${this.listeningPort}`;
  }

  get authBaseUrl(): string {
    return `${this.baseUrl}${AUTH_BASE_PATH}`;
  }

  get adminBaseUrl(): string {
    return `${this.baseUrl}${ADMIN_BASE_PATH}`;
  }

  get appKey(): string {
    return (this.apps[0] as EmulatorApp).appKey;
  }

  get appSecret(): string {
    return (this.apps[0] as EmulatorApp).appSecret;
  }

  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      for (const timer of this.hangingTimers) clearTimeout(timer);
      this.hangingTimers.clear();
      this.webhooks.stop();
      clearInterval(this.mutationTimer);
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.stopping;
  }

  // ------------------------------------------------------------------------------------------------
  // Dataset, clock, configuration

  private installDataset(shops: readonly ResolvedShop[], bursts: BurstOptions): void {
    const now = this.now();
    const stores = new Map<string, ShopOrderStore>();
    const byCipher = new Map<string, ShopOrderStore>();
    for (const shop of shops) {
      const store = new ShopOrderStore(shop, bursts, now);
      stores.set(shop.id, store);
      byCipher.set(shop.cipher, store);
    }
    this.stores = stores;
    this.storesByCipher = byCipher;
  }

  loadDataset(options: DatasetOptions = {}): ShopInfo[] {
    const seed = options.seed ?? this.startOptions.seed ?? DEFAULT_SEED;
    const shops = options.shops ?? this.startOptions.shops;
    const historyDays = options.historyDays ?? this.startOptions.historyDays;
    const merged: DatasetOptions = {
      seed,
      bursts: { ...this.startOptions.bursts, ...options.bursts },
      ...(shops === undefined ? {} : { shops }),
      ...(historyDays === undefined ? {} : { historyDays }),
    };
    this.installDataset(resolveShops(merged), resolveBursts(merged));
    this.faults.reseed(mixSeeds(seed, 0xfa017));
    this.mutationRandom = new SeededRandom(mixSeeds(seed, 0x3e7a7e));
    this.latencyRandom = new SeededRandom(mixSeeds(seed, 0x1a7e));
    this.pageFaultRandom = new SeededRandom(mixSeeds(seed, 0x9a9e));
    this.webhooks.reseed(mixSeeds(seed, 0x3eb400c));
    this.continuous = this.freshContinuousState();
    return this.shops();
  }

  shops(): ShopInfo[] {
    return [...this.stores.values()].map(shopInfo);
  }

  private storeFor(shopId: string): ShopOrderStore {
    const store = this.stores.get(shopId);
    if (!store) throw new AdminRequestError(404, `unknown shop "${shopId}"`);
    return store;
  }

  now(): number {
    return this.clockState.now();
  }

  clock(): ClockState {
    return { now: this.clockState.now(), frozen: this.clockState.isFrozen() };
  }

  setClock(unixSeconds: number, options: { frozen?: boolean } = {}): number {
    if (!Number.isFinite(unixSeconds))
      throw new AdminRequestError(400, "clock: unix seconds must be a number");
    return this.clockState.set(unixSeconds, options.frozen);
  }

  advance(seconds: number): number {
    if (!Number.isFinite(seconds)) throw new AdminRequestError(400, "clock: seconds must be a number");
    return this.clockState.advance(seconds);
  }

  configure(change: Partial<RuntimeOptions>): RuntimeOptions {
    this.options = mergeRuntimeOptions(this.options, change);
    if (change.continuousMutation !== undefined) this.continuous = this.freshContinuousState();
    if (change.qps !== undefined || change.burst !== undefined) this.limiter.reset();
    if (change.webhooks !== undefined) this.webhooks.configure(this.options.webhooks);
    this.syncMutationTimer();
    return this.options;
  }

  /**
   * Continuous mutation is applied lazily, on each request. With webhooks on, changes must happen (and
   * be announced) whether or not anyone calls the API: a timer catches up every 200 ms.
   */
  private syncMutationTimer(): void {
    const wanted = this.webhooks.enabled && this.options.continuousMutation !== null;
    if (wanted && !this.mutationTimer) {
      this.mutationTimer = setInterval(() => this.catchUpContinuousMutations(), 200);
      this.mutationTimer.unref();
    } else if (!wanted && this.mutationTimer) {
      clearInterval(this.mutationTimer);
      this.mutationTimer = undefined;
    }
  }

  sendWebhook(options: SendWebhookOptions): WebhookDelivery {
    if (!Number.isInteger(options.type) || options.type < 0) {
      throw new AdminRequestError(400, "sendWebhook: type must be a non-negative integer");
    }
    try {
      return this.webhooks.send(
        {
          type: options.type,
          shopId: options.shopId,
          ...(options.data ? { data: options.data } : {}),
          ...(options.notificationId ? { notificationId: options.notificationId } : {}),
          ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
        },
        options.url,
      );
    } catch (error) {
      throw new AdminRequestError(
        400,
        `sendWebhook: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  webhookDeliveries(afterSeq = 0): WebhookDelivery[] {
    return this.webhooks.deliveries(afterSeq);
  }

  webhookCounters(): WebhookCounters {
    return { ...this.webhooks.counters };
  }

  webhooksIdle(): Promise<void> {
    return this.webhooks.idle();
  }

  /** Announces changed orders through the webhooks (when configured). */
  private announce(changed: readonly OrderSummary[]): void {
    this.webhooks.ordersChanged(
      changed.map((order) => ({
        shopId: order.shop_id,
        orderId: order.id,
        status: order.status,
        updateTime: order.update_time,
      })),
    );
  }

  config(): RuntimeOptions {
    return this.options;
  }

  failNext(spec: FailNextSpec): void {
    this.faults.failNext(spec);
  }

  clearFaultQueue(): void {
    this.faults.clearQueue();
  }

  counters(): CountersSnapshot {
    return this.counterState.snapshot();
  }

  resetCounters(): void {
    this.counterState.reset();
  }

  // ------------------------------------------------------------------------------------------------
  // Orders: truth and mutation feed

  truth(shopId: string, range: TruthRange = {}): TikTokOrder[] {
    this.catchUpContinuousMutations();
    const store = this.storeFor(shopId);
    return sliceRange(store.records(), range).map((record) => store.materialize(record));
  }

  truthSummary(shopId: string, range: TruthRange = {}): OrderSummary[] {
    this.catchUpContinuousMutations();
    const store = this.storeFor(shopId);
    return sliceRange(store.records(), range).map((record) => store.summary(record));
  }

  orderCount(shopId: string): number {
    return this.storeFor(shopId).size;
  }

  private pickStore(random: SeededRandom, shopId: string | undefined): ShopOrderStore {
    if (shopId !== undefined) return this.storeFor(shopId);
    const stores = [...this.stores.values()];
    const total = stores.reduce((sum, store) => sum + store.size, 0);
    if (total === 0) return random.pick(stores);
    let roll = random.next() * total;
    for (const store of stores) {
      roll -= store.size;
      if (roll < 0) return store;
    }
    return stores[stores.length - 1] as ShopOrderStore;
  }

  mutate(options: MutateOptions): OrderSummary[] {
    this.catchUpContinuousMutations();
    return this.applyMutations(options, this.now());
  }

  private applyMutations(options: MutateOptions, at: number | ((index: number) => number)): OrderSummary[] {
    const random = options.seed === undefined ? this.mutationRandom : new SeededRandom(options.seed);
    const stampFor = typeof at === "number" ? () => at : at;
    const changed: OrderSummary[] = [];
    if (options.orderIds !== undefined) {
      options.orderIds.forEach((id, position) => {
        const stores =
          options.shopId === undefined ? [...this.stores.values()] : [this.storeFor(options.shopId)];
        const store = stores.find((candidate) => candidate.get(id) !== undefined);
        const record = store?.get(id);
        if (!store || !record) throw new AdminRequestError(404, `unknown order "${id}"`);
        store.advance(record, stampFor(position), random);
        changed.push(store.summary(record));
      });
      this.announce(changed);
      return changed;
    }
    const count = options.count ?? 1;
    if (!Number.isInteger(count) || count < 0) throw new AdminRequestError(400, "mutate: count must be >= 0");
    const touched = new Set<string>();
    for (let index = 0; index < count; index++) {
      const store = this.pickStore(random, options.shopId);
      let record = store.pickForMutation(random);
      // Prefer distinct orders within one call; a few retries are enough for large datasets.
      for (let retry = 0; retry < 4 && record && touched.has(record.id); retry++) {
        record = store.pickForMutation(random);
      }
      if (!record) continue;
      touched.add(record.id);
      store.advance(record, stampFor(index), random);
      changed.push(store.summary(record));
    }
    this.announce(changed);
    return changed;
  }

  corruptOrders(options: CorruptOrdersOptions): void {
    if (!(INVALID_ORDER_FIELDS as readonly string[]).includes(options.field)) {
      throw new AdminRequestError(
        400,
        `corruptOrders: field must be one of ${INVALID_ORDER_FIELDS.join(", ")}, not "${options.field}"`,
      );
    }
    const stores = options.shopId === undefined ? [...this.stores.values()] : [this.storeFor(options.shopId)];
    for (const id of options.orderIds) {
      const store = stores.find((candidate) => candidate.get(id) !== undefined);
      if (!store) throw new AdminRequestError(404, `unknown order "${id}"`);
      store.corrupt(id, options.field);
    }
  }

  corruptedOrders(shopId: string): ReadonlyMap<string, InvalidOrderField> {
    return this.storeFor(shopId).corruptedOrders();
  }

  oversizeOrders(options: OversizeOrdersOptions): OrderSummary[] {
    const lineItems = options.lineItems ?? DEFAULT_BULK_LINE_ITEMS;
    checkLineItems("oversizeOrders", lineItems);
    const stores = options.shopId === undefined ? [...this.stores.values()] : [this.storeFor(options.shopId)];
    return options.orderIds.map((id) => {
      const store = stores.find((candidate) => candidate.get(id) !== undefined);
      const record = store?.get(id);
      if (!store || !record) throw new AdminRequestError(404, `unknown order "${id}"`);
      store.setLineItems(id, lineItems);
      return store.summary(record);
    });
  }

  oversizedOrders(shopId: string): ReadonlyMap<string, number> {
    return this.storeFor(shopId).lineItemOverrides();
  }

  flood(options: FloodOptions): OrderSummary[] {
    this.catchUpContinuousMutations();
    const source = options.source ?? "update";
    if (source !== "update" && source !== "create") {
      throw new AdminRequestError(400, `flood: source must be update or create, not "${String(source)}"`);
    }
    if (!Number.isInteger(options.count) || options.count < 1) {
      throw new AdminRequestError(400, "flood: count must be a positive integer");
    }
    const at = this.now();
    if (source === "create") {
      return this.applyCreates(
        {
          count: options.count,
          ...(options.seed === undefined ? {} : { seed: options.seed }),
          shopId: options.shopId ?? this.pickStore(this.mutationRandom, undefined).shop.id,
        },
        at,
      );
    }
    const store =
      options.shopId === undefined
        ? this.pickStore(this.mutationRandom, undefined)
        : this.storeFor(options.shopId);
    if (options.count > store.size) {
      throw new AdminRequestError(400, `flood: shop ${store.shop.id} has only ${store.size} orders`);
    }
    const random = options.seed === undefined ? this.mutationRandom : new SeededRandom(options.seed);
    const flooded = store.pickDistinct(options.count, random).map((record) => {
      // An order updated later than `at` keeps its update_time (never backwards): outside the flood.
      store.advance(record, at, random);
      return store.summary(record);
    });
    this.announce(flooded);
    return flooded;
  }

  createOrders(options: CreateOrdersOptions): OrderSummary[] {
    this.catchUpContinuousMutations();
    return this.applyCreates(options, this.now());
  }

  private applyCreates(
    options: CreateOrdersOptions,
    at: number | ((index: number) => number),
  ): OrderSummary[] {
    if (!Number.isInteger(options.count) || options.count < 0) {
      throw new AdminRequestError(400, "createOrders: count must be a non-negative integer");
    }
    if (options.lineItems !== undefined) checkLineItems("createOrders", options.lineItems);
    const random = options.seed === undefined ? this.mutationRandom : new SeededRandom(options.seed);
    const stampFor = typeof at === "number" ? () => at : at;
    const stores = options.shopId === undefined ? [...this.stores.values()] : [this.storeFor(options.shopId)];
    const created: OrderSummary[] = [];
    for (let index = 0; index < options.count; index++) {
      const store = random.pick(stores);
      const record = store.create(stampFor(index), random);
      if (options.lineItems !== undefined) store.setLineItems(record.id, options.lineItems);
      created.push(store.summary(record));
    }
    this.announce(created);
    return created;
  }

  private freshContinuousState(): ContinuousMutationState {
    return { emulatorMs: this.clockState.nowMs(), realMs: Date.now(), pendingUpdates: 0, pendingCreates: 0 };
  }

  /**
   * Applies the continuous mutation due since the last call, lazily (no timers): stamps are spread over
   * the elapsed emulator seconds, always after the previous catch-up, so no change lands in a window a
   * client has already read.
   */
  private catchUpContinuousMutations(): void {
    const settings = this.options.continuousMutation;
    if (!settings) return;
    const state = this.continuous;
    const emulatorMs = this.clockState.nowMs();
    const realMs = Date.now();
    const elapsedMs = settings.timebase === "real" ? realMs - state.realMs : emulatorMs - state.emulatorMs;
    const fromSecond = Math.floor(state.emulatorMs / 1000);
    const toSecond = Math.floor(emulatorMs / 1000);
    state.emulatorMs = emulatorMs;
    state.realMs = realMs;
    if (elapsedMs <= 0) return;
    state.pendingUpdates += (elapsedMs / 1000) * (settings.updatesPerSecond ?? 0);
    state.pendingCreates += (elapsedMs / 1000) * (settings.createsPerSecond ?? 0);
    const updates = Math.min(MAX_CATCH_UP_MUTATIONS, Math.floor(state.pendingUpdates));
    const creates = Math.min(MAX_CATCH_UP_MUTATIONS, Math.floor(state.pendingCreates));
    state.pendingUpdates -= Math.floor(state.pendingUpdates);
    state.pendingCreates -= Math.floor(state.pendingCreates);
    const spread = (total: number) => (index: number) =>
      toSecond <= fromSecond
        ? toSecond
        : fromSecond + Math.ceil(((index + 1) * (toSecond - fromSecond)) / total);
    if (creates > 0) {
      this.applyCreates(
        { count: creates, ...(settings.shopId ? { shopId: settings.shopId } : {}) },
        spread(creates),
      );
    }
    if (updates > 0) {
      this.applyMutations(
        { count: updates, ...(settings.shopId ? { shopId: settings.shopId } : {}) },
        spread(updates),
      );
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Tokens

  private makeGrant(appKey: string | undefined, shopIds: readonly string[] | undefined): Grant {
    const key = appKey ?? this.appKey;
    if (!this.appsByKey.has(key)) throw new AdminRequestError(400, `unknown app key "${key}"`);
    const ids = shopIds ?? [...this.stores.keys()];
    if (ids[0] === undefined) throw new AdminRequestError(400, "a grant needs at least one shop");
    const first = this.storeFor(ids[0]).shop;
    for (const id of ids) this.storeFor(id);
    return {
      appKey: key,
      shopIds: [...ids],
      openId: createHash("sha256")
        .update(`${key}:${ids.join(",")}`)
        .digest("base64url")
        .slice(0, 28),
      sellerName: first.name,
      region: first.region,
    };
  }

  issueTokens(options: IssueTokensOptions = {}): TokenData {
    const grant = this.makeGrant(options.appKey, options.shopIds);
    return this.auth.issue(grant, this.now(), {
      accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? this.options.accessTokenTtlSeconds,
      refreshTokenTtlSeconds: options.refreshTokenTtlSeconds ?? this.options.refreshTokenTtlSeconds,
    });
  }

  createAuthCode(options: AuthCodeOptions = {}): string {
    const grant = this.makeGrant(options.appKey, options.shopIds);
    return this.auth.createAuthCode(grant, this.now(), this.options.authCodeTtlSeconds);
  }

  expireAccessTokens(options: { shopId?: string } = {}): number {
    if (options.shopId !== undefined) this.storeFor(options.shopId);
    return this.auth.expireAccessTokens(this.now(), options.shopId);
  }

  revokeRefreshTokensOf(shopId: string): number {
    this.storeFor(shopId);
    return this.auth.revokeRefreshTokensOf(shopId);
  }

  requests(options: { afterSeq?: number; shopId?: string } = {}): RequestLogEntry[] {
    return this.counterState.requests(options);
  }

  lastRequestSeq(): number {
    return this.counterState.lastSeq();
  }

  /** The shops a request concerns (for per-shop counters, the request log and per-shop faults). */
  private shopsOf(
    endpoint: EndpointSpec,
    query: Readonly<Record<string, string>>,
    headers: IncomingHttpHeaders,
  ) {
    if (endpoint.shopScoped) {
      const store = query.shop_cipher ? this.storesByCipher.get(query.shop_cipher) : undefined;
      return store ? [store.shop.id] : [];
    }
    let grant: Grant | undefined;
    if (endpoint.name === "tokenRefresh") grant = this.auth.grantOf("refresh", query.refresh_token);
    else if (endpoint.name === "tokenGet") grant = this.auth.grantOf("code", query.auth_code);
    else {
      const header = headers["x-tts-access-token"];
      grant = this.auth.grantOf("access", Array.isArray(header) ? header[0] : header);
    }
    return grant ? [...grant.shopIds] : [];
  }

  revokeRefreshToken(token: string): boolean {
    return this.auth.revokeRefreshToken(token);
  }

  // ------------------------------------------------------------------------------------------------
  // HTTP

  private envelope<T>(code: number, message: string, data: T | null): ApiEnvelope<T> {
    this.requestSequence++;
    const stamp = new Date(this.clockState.nowMs()).toISOString().replace(/\D/g, "").slice(0, 14);
    const sequence = this.requestSequence.toString(16).toUpperCase().padStart(8, "0");
    return { code, message, request_id: `${stamp}${this.requestIdPrefix}${sequence}`, data };
  }

  private async dispatch(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://emulator.invalid");
    const path = url.pathname;
    if (path === ADMIN_BASE_PATH || path.startsWith(`${ADMIN_BASE_PATH}/`)) {
      const rawBody = await readBody(request).catch(() => "");
      const answer = await handleAdminRequest(this, request.method ?? "GET", path, url.searchParams, rawBody);
      sendJson(response, answer.status, answer.body);
      return;
    }
    const endpoint = resolveEndpoint(request.method ?? "GET", path);
    let rawBody: string;
    try {
      rawBody = await readBody(request);
    } catch (error) {
      this.answerError(response, endpoint?.name ?? "unknown", error);
      return;
    }
    if (!endpoint) {
      this.answerError(response, "unknown", apiErrors.badPath());
      return;
    }
    this.catchUpContinuousMutations();
    await this.simulateLatency();
    const query = Object.fromEntries(url.searchParams);
    const shopIds = this.shopsOf(endpoint, query, request.headers);
    const shopRates =
      endpoint.shopScoped && shopIds[0] !== undefined ? this.options.shopFaults[shopIds[0]] : undefined;
    const fault = this.faults.pick(
      {
        endpoint: endpoint.name,
        hasPageToken: endpoint.name === "searchOrders" && Boolean(query.page_token),
        updateTimeSearch: endpoint.name === "searchOrders" && query.sort_field === "update_time",
        ratesApply: !endpoint.authHost,
      },
      shopRates ?? this.options.faults,
    );
    let pageFault: PageFaultKind | undefined;
    if (fault !== undefined) {
      this.counterState.recordFault(fault);
      // Page faults alter the page the handler serves; every other fault answers instead of it.
      if (isPageFault(fault)) pageFault = fault;
      else {
        this.injectFault(fault, endpoint, request, response, shopIds);
        return;
      }
    }
    try {
      const data = endpoint.authHost
        ? this.handleAuthHost(endpoint, query)
        : this.handleApi({ endpoint, path, query, rawBody, headers: request.headers, pageFault });
      this.counterState.record(endpoint.name, "ok", shopIds, this.now());
      sendJson(response, 200, this.envelope(API_CODES.ok, "Success", data));
    } catch (error) {
      this.answerError(response, endpoint.name, error, shopIds);
    }
  }

  private answerError(
    response: ServerResponse,
    endpointName: string,
    error: unknown,
    shopIds: readonly string[] = [],
  ): void {
    let apiError: TikTokApiError;
    if (error instanceof TikTokApiError) {
      apiError = error;
    } else if (error instanceof AdminRequestError) {
      apiError = apiErrors.parameter(error.message);
    } else {
      this.log(`handler error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      apiError = apiErrors.internal();
    }
    this.counterState.record(
      endpointName,
      outcomeOf(apiError.httpStatus, apiError.code),
      shopIds,
      this.now(),
    );
    sendJson(
      response,
      apiError.httpStatus,
      this.envelope(apiError.code, apiError.message, null),
      apiError.headers,
    );
  }

  private async simulateLatency(): Promise<void> {
    const { latencyMs, latencyJitterMs } = this.options;
    const delay = latencyMs + (latencyJitterMs > 0 ? this.latencyRandom.next() * latencyJitterMs : 0);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  }

  private injectFault(
    fault: Exclude<FaultKind, PageFaultKind>,
    endpoint: EndpointSpec,
    request: IncomingMessage,
    response: ServerResponse,
    shopIds: readonly string[],
  ): void {
    const record = (outcome: Outcome) =>
      this.counterState.record(endpoint.name, outcome, shopIds, this.now());
    switch (fault) {
      case "http500":
        this.answerError(response, endpoint.name, apiErrors.internal(), shopIds);
        return;
      case "http504":
        this.answerError(response, endpoint.name, apiErrors.gatewayTimeout(), shopIds);
        return;
      case "rateLimit":
        this.answerError(
          response,
          endpoint.name,
          apiErrors.rateLimited(this.options.retryAfter ? 1 : undefined),
          shopIds,
        );
        return;
      case "rateLimitNoRetryAfter":
        this.answerError(response, endpoint.name, apiErrors.rateLimited(undefined));
        return;
      case "expiredPageToken":
        this.answerError(
          response,
          endpoint.name,
          apiErrors.pageTokenRefused(this.options.pageTokenRefusal),
          shopIds,
        );
        return;
      case "expiredAccessToken":
        this.answerError(response, endpoint.name, apiErrors.accessTokenExpired(), shopIds);
        return;
      case "malformedJson": {
        record("malformedJson");
        const text = JSON.stringify(this.envelope(API_CODES.ok, "Success", { orders: [{ id: "57" }] }));
        response.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
        response.end(text.slice(0, Math.floor(text.length / 2)));
        return;
      }
      case "connectionReset":
        record("connectionReset");
        request.socket.destroy();
        return;
      case "timeout": {
        record("timeout");
        // Hold the request past any sane client timeout, then drop the connection without an answer.
        const timer = setTimeout(() => {
          this.hangingTimers.delete(timer);
          request.socket.destroy();
        }, this.options.hangMs);
        this.hangingTimers.add(timer);
        return;
      }
    }
  }

  private checkTimestamp(raw: string | undefined): void {
    const reference =
      this.options.timestampReference === "emulator" ? this.now() : Math.floor(Date.now() / 1000);
    if (raw === undefined || !/^\d{1,12}$/.test(raw)) {
      throw apiErrors.parameter("Invalid parameter: timestamp is missing or not unix seconds");
    }
    const timestamp = Number(raw);
    const earliest = reference - this.options.timestampPastSkewSeconds;
    const latest = reference + this.options.timestampFutureSkewSeconds;
    if (timestamp < earliest || timestamp > latest) {
      throw apiErrors.parameter(
        `Invalid parameter: timestamp ${timestamp} is outside the accepted window [${earliest}, ${latest}]`,
      );
    }
  }

  /** Gateway checks (app_key, timestamp, sign, token, shop, rate) in that order, then the handler. */
  private handleApi(request: ApiRequest): unknown {
    const { endpoint, query, rawBody } = request;
    const app = this.appsByKey.get(query.app_key ?? "");
    if (!app) throw apiErrors.parameter("Invalid parameter: app_key is missing or unknown");
    this.checkTimestamp(query.timestamp);
    const received = query.sign;
    if (!received) throw apiErrors.invalidSign();
    const signed = { appSecret: app.appSecret, path: request.path, query };
    const validSign =
      verifySignature({ ...signed, body: rawBody }, received) ||
      (rawBody === "{}" && this.options.acceptUnsignedEmptyObjectBody && verifySignature(signed, received));
    if (!validSign) throw apiErrors.invalidSign();
    const tokenHeader = request.headers["x-tts-access-token"];
    const token = Array.isArray(tokenHeader) ? tokenHeader[0] : tokenHeader;
    const access = this.auth.checkAccessToken(token, app.appKey, this.now());
    if (!access.ok)
      throw access.reason === "expired" ? apiErrors.accessTokenExpired() : apiErrors.accessTokenInvalid();
    let store: ShopOrderStore | undefined;
    if (endpoint.shopScoped) {
      const cipher = query.shop_cipher;
      if (!cipher) throw apiErrors.missingShopCipher();
      store = this.storesByCipher.get(cipher);
      if (!store) throw apiErrors.parameter("Invalid parameter: shop_cipher is invalid");
      if (!access.grant.shopIds.includes(store.shop.id)) {
        throw apiErrors.parameter("Invalid parameter: shop_cipher is not authorized for this access_token");
      }
    } else if (query.shop_cipher !== undefined) {
      throw apiErrors.parameter("Unexpected identifier: shop_cipher is not accepted by this API");
    }
    const rateKey = store ? `${app.appKey}|${store.shop.id}` : app.appKey;
    const decision = this.limiter.take(rateKey, this.options.qps, this.options.burst);
    if (!decision.allowed) {
      throw apiErrors.rateLimited(this.options.retryAfter ? decision.retryAfterSeconds : undefined);
    }
    switch (endpoint.name) {
      case "searchOrders": {
        const outcome = searchOrders(
          {
            store: store as ShopOrderStore,
            codec: this.codec,
            options: this.options,
            now: this.now(),
            pageFault: request.pageFault,
            random: this.pageFaultRandom,
          },
          query,
          rawBody,
        );
        this.counterState.recordSearchServed(outcome.served);
        return outcome.data;
      }
      case "orderDetail":
        return orderDetail(store as ShopOrderStore, query);
      case "shops":
        return {
          shops: access.grant.shopIds
            .map((id) => this.stores.get(id))
            .filter((candidate): candidate is ShopOrderStore => candidate !== undefined)
            .map(shopInfo),
        };
      default:
        throw apiErrors.badPath();
    }
  }

  /** The auth host: credentials in the query, refusals with `authErrorHttpStatus` (200 by default). */
  private handleAuthHost(endpoint: EndpointSpec, query: Readonly<Record<string, string>>): TokenData {
    const refuse = (code: number, message: string) =>
      new TikTokApiError(this.options.authErrorHttpStatus, code, message);
    const app = this.appsByKey.get(query.app_key ?? "");
    if (!app || query.app_secret !== app.appSecret) {
      throw refuse(API_CODES.parameterOrAuthError, "Invalid parameter: app_key or app_secret is invalid");
    }
    const lifetimes = this.options;
    if (endpoint.name === "tokenGet") {
      if (query.grant_type !== "authorized_code") {
        throw refuse(API_CODES.parameterOrAuthError, "Invalid parameter: grant_type must be authorized_code");
      }
      if (!query.auth_code)
        throw refuse(API_CODES.parameterOrAuthError, "Invalid parameter: auth_code is required");
      const tokens = this.auth.exchangeAuthCode(app.appKey, query.auth_code, this.now(), lifetimes);
      if (!tokens) {
        throw refuse(
          API_CODES.noAuthRecord,
          "Invalid auth_code: no auth record (unknown, expired or already used)",
        );
      }
      return tokens;
    }
    // TikTok's own Node SDK sends grant_type=authorized_code on refresh too.
    if (query.grant_type !== "refresh_token" && query.grant_type !== "authorized_code") {
      throw refuse(API_CODES.parameterOrAuthError, "Invalid parameter: grant_type must be refresh_token");
    }
    if (!query.refresh_token) {
      throw refuse(API_CODES.parameterOrAuthError, "Invalid parameter: refresh_token is required");
    }
    const outcome = this.auth.refresh(app.appKey, query.refresh_token, this.now(), lifetimes, this.options);
    if (outcome.ok) return outcome.tokens;
    throw outcome.reason === "expired"
      ? refuse(API_CODES.refreshTokenExpired, "refresh_token has expired: the seller must authorize again")
      : refuse(API_CODES.noAuthRecord, "refresh_token is invalid: no auth record");
  }
}

/** Generates the dataset, binds the server (loopback, free port by default) and resolves when it listens. */
export async function startTikTokEmulator(options: TikTokEmulatorOptions = {}): Promise<TikTokEmulator> {
  const emulator = new TikTokEmulatorServer(options);
  await emulator.listen();
  return emulator;
}
