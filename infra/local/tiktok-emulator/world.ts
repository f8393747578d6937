/**
 * The emulator's world: apps, shops and their orders, the clock, tokens, faults, counters, webhooks and
 * continuous mutation, with the operations of `EmulatorControl`. It knows nothing of HTTP: the server
 * (server.ts) reads and updates it through the members marked "for the HTTP server" below.
 */
import { createHash } from "node:crypto";
import type { ShopInfo, TikTokOrder, TokenData } from "../../../shared/tiktok/api-types";
import { shopInfo } from "./api-handlers";
import { AdminRequestError } from "./api-refusals";
import { AuthStore, type Grant } from "./auth-store";
import { EmulatorClock } from "./clock";
import {
  type BurstOptions,
  type DatasetOptions,
  DEFAULT_SEED,
  type EmulatorApp,
  mergeRuntimeOptions,
  type ResolvedShop,
  type RuntimeOptions,
  resolveApps,
  resolveBursts,
  resolveShops,
  runtimeOptionsFrom,
  type TikTokEmulatorOptions,
} from "./config";
import type {
  AuthCodeOptions,
  ClockState,
  CorruptOrdersOptions,
  CreateOrdersOptions,
  EmulatorControl,
  FloodOptions,
  IssueTokensOptions,
  MutateOptions,
  OversizeOrdersOptions,
  SendWebhookOptions,
  TruthRange,
} from "./control";
import { type CountersSnapshot, EmulatorCounters, type RequestLogEntry } from "./counters";
import { type FailNextSpec, FaultInjector } from "./faults";
import {
  INVALID_ORDER_FIELDS,
  type InvalidOrderField,
  type OrderSummary,
  ShopOrderStore,
} from "./order-store";
import { mixSeeds, SeededRandom } from "./prng";
import { TokenBucketLimiter } from "./rate-limiter";
import { type WebhookCounters, type WebhookDelivery, WebhookSender } from "./webhooks";

/** Bounds one catch-up of continuous mutation (e.g. after advancing the clock by a month). */
const MAX_CATCH_UP_MUTATIONS = 100_000;

/**
 * Most line items an order may be given (a 40,000-unit order is ~20 MB of JSON). Compressed as the store
 * writes orders, only one of ~16,000 units or more is still larger than a DynamoDB item (400 KB).
 */
export const MAX_LINE_ITEMS = 40_000;
/** Line items `oversizeOrders` gives by default: ~1.2 MB of JSON (~53 KB compressed). */
export const DEFAULT_BULK_LINE_ITEMS = 2_000;

function checkLineItems(caller: string, lineItems: number): void {
  if (!Number.isInteger(lineItems) || lineItems < 1 || lineItems > MAX_LINE_ITEMS) {
    throw new AdminRequestError(400, `${caller}: lineItems must be an integer in [1, ${MAX_LINE_ITEMS}]`);
  }
}

function sliceRange<T>(items: readonly T[], range: TruthRange): T[] {
  const offset = Math.max(0, range.offset ?? 0);
  return items.slice(offset, range.limit === undefined ? undefined : offset + Math.max(0, range.limit));
}

interface ContinuousMutationState {
  emulatorMs: number;
  realMs: number;
  pendingUpdates: number;
  pendingCreates: number;
}

export class EmulatorWorld implements EmulatorControl {
  readonly apps: readonly EmulatorApp[];
  private readonly appsByKey: Map<string, EmulatorApp>;
  private options: RuntimeOptions;
  private readonly clockState: EmulatorClock;
  private stores = new Map<string, ShopOrderStore>();
  private storesByCipher = new Map<string, ShopOrderStore>();
  private mutationRandom: SeededRandom;
  private latencyDraws: SeededRandom;
  private pageFaultDraws: SeededRandom;
  private continuous: ContinuousMutationState;
  private readonly webhooks: WebhookSender;
  /** Applies continuous mutation on a timer while webhooks are on (otherwise it is lazy, per request). */
  private mutationTimer: NodeJS.Timeout | undefined;

  // For the HTTP server: state its gateway checks and fault injection work on.
  /** Grants and tokens: the gateway checks access tokens and the auth host issues and refreshes them. */
  readonly auth = new AuthStore();
  /** Request budgets per app and shop; reset when `qps` or `burst` change. */
  readonly limiter = new TokenBucketLimiter();
  readonly faults: FaultInjector;
  readonly requestCounters = new EmulatorCounters();
  readonly log: (line: string) => void;

  constructor(private readonly startOptions: TikTokEmulatorOptions) {
    this.apps = resolveApps(startOptions);
    this.appsByKey = new Map(this.apps.map((app) => [app.appKey, app]));
    this.options = runtimeOptionsFrom(startOptions);
    this.clockState = new EmulatorClock(startOptions.clock);
    this.log = startOptions.log ?? ((line) => process.stderr.write(`[tiktok-emulator] ${line}\n`));
    const seed = startOptions.seed ?? DEFAULT_SEED;
    this.faults = new FaultInjector(mixSeeds(seed, 0xfa017));
    this.mutationRandom = new SeededRandom(mixSeeds(seed, 0x3e7a7e));
    this.latencyDraws = new SeededRandom(mixSeeds(seed, 0x1a7e));
    this.pageFaultDraws = new SeededRandom(mixSeeds(seed, 0x9a9e));
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
  }

  get appKey(): string {
    return (this.apps[0] as EmulatorApp).appKey;
  }

  get appSecret(): string {
    return (this.apps[0] as EmulatorApp).appSecret;
  }

  /** Stops the world's timers (webhook deliveries, continuous mutation); the server closes itself. */
  dispose(): void {
    this.webhooks.stop();
    clearInterval(this.mutationTimer);
  }

  // ------------------------------------------------------------------------------------------------
  // For the HTTP server

  appByKey(appKey: string): EmulatorApp | undefined {
    return this.appsByKey.get(appKey);
  }

  findStore(shopId: string): ShopOrderStore | undefined {
    return this.stores.get(shopId);
  }

  storeByCipher(cipher: string): ShopOrderStore | undefined {
    return this.storesByCipher.get(cipher);
  }

  /** Emulator time in milliseconds (request ids carry it). */
  nowMs(): number {
    return this.clockState.nowMs();
  }

  /** Draws of the simulated latency's jitter; reseeded with the dataset. */
  get latencyRandom(): SeededRandom {
    return this.latencyDraws;
  }

  /** Draws of the page faults (cut sizes, slots, shuffles); reseeded with the dataset. */
  get pageFaultRandom(): SeededRandom {
    return this.pageFaultDraws;
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
    this.latencyDraws = new SeededRandom(mixSeeds(seed, 0x1a7e));
    this.pageFaultDraws = new SeededRandom(mixSeeds(seed, 0x9a9e));
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
    return this.requestCounters.snapshot();
  }

  resetCounters(): void {
    this.requestCounters.reset();
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
   * The server calls it before serving each API request.
   */
  catchUpContinuousMutations(): void {
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
    return this.requestCounters.requests(options);
  }

  lastRequestSeq(): number {
    return this.requestCounters.lastSeq();
  }

  revokeRefreshToken(token: string): boolean {
    return this.auth.revokeRefreshToken(token);
  }
}
