/**
 * Emulator options: what is fixed at start (apps, shops, dataset) and what `configure()` may change at
 * runtime (paging mode, limits, latency, faults, token lifetimes). See README.md for the meaning of each.
 */
import { createHash } from "node:crypto";
import { EmulatorConfigError, PAGE_TOKEN_REFUSALS, type PageTokenRefusal } from "./api-refusals";
import { mixSeeds } from "./prng";
import type { WebhookOptions } from "./webhooks";

export type PageTokenMode = "keyset" | "offset";
/** How the last page signals the end: `next_page_token: ""` or no `next_page_token` key at all. */
export type LastPageTokenStyle = "empty" | "absent";
/** Which clock the `timestamp` skew window is checked against. */
export type TimestampReference = "wall" | "emulator";
export type MutationTimebase = "emulator" | "real";

export const FAULT_KINDS = [
  "http500",
  "http504",
  "timeout",
  "connectionReset",
  "malformedJson",
  "rateLimit",
  /** 429 / 36009002 without a Retry-After header, whatever `retryAfter` says. */
  "rateLimitNoRetryAfter",
  "expiredPageToken",
  "expiredAccessToken",
  /**
   * Page faults: the search answers, but the page is altered (search endpoint only; see README).
   * `shortPage`: fewer orders than asked (possibly none) with a next token that continues right after them.
   */
  "shortPage",
  /** One order of an update_time page has changed since the index saw it: served with update_time >= the window's end. */
  "outOfWindowOrder",
  /** The page's orders are served out of their sort order (paging itself is unaffected). */
  "unsortedPage",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** Faults that alter a served search page instead of refusing the request. */
export const PAGE_FAULT_KINDS = [
  "shortPage",
  "outOfWindowOrder",
  "unsortedPage",
] as const satisfies readonly FaultKind[];
export type PageFaultKind = (typeof PAGE_FAULT_KINDS)[number];
export function isPageFault(fault: FaultKind): fault is PageFaultKind {
  return (PAGE_FAULT_KINDS as readonly string[]).includes(fault);
}
/** Probability (0..1) per request of each fault; applied to the order and shop endpoints only. */
export type FaultRates = Partial<Record<FaultKind, number>>;

export interface EmulatorApp {
  readonly appKey: string;
  readonly appSecret: string;
}

export interface EmulatorShopOptions {
  readonly id: string;
  readonly name?: string;
  readonly region?: string;
  readonly cipher?: string;
  readonly sellerType?: string;
  /** Orders generated for this shop (default 1000). */
  readonly orders?: number;
  /** Dataset seed for this shop; derived from the global seed and the shop's position when omitted. */
  readonly seed?: number;
  readonly historyDays?: number;
  /** Overrides `bursts.fraction` for this shop. */
  readonly burstFraction?: number;
}

export interface BurstOptions {
  /** Fraction of orders placed in same-second bursts (half create_time, half update_time bursts). */
  readonly fraction: number;
  readonly minSize: number;
  readonly maxSize: number;
}

export interface ContinuousMutationOptions {
  /** Orders advanced one status step per second. */
  readonly updatesPerSecond?: number;
  /** New orders per second. */
  readonly createsPerSecond?: number;
  /** Seconds of emulator time (default; follows setClock/advance) or of real time. */
  readonly timebase?: MutationTimebase;
  /** Restrict to one shop; all shops (picked at random) when omitted. */
  readonly shopId?: string;
}

/** Settings `configure()` and `POST /__admin/configure` may change while the emulator runs. */
export interface RuntimeOptions {
  readonly tokenMode: PageTokenMode;
  /** Results one query may page through before paging silently ends; 0 or null = no cap. */
  readonly resultCap: number | null;
  /**
   * A silent page-size cap: at most this many orders per page whatever `page_size` asks, with a next
   * token while more remain; 0 or null = no cap.
   */
  readonly maxPageSize: number | null;
  readonly lastPageToken: LastPageTokenStyle;
  readonly pageTokenRefusal: PageTokenRefusal;
  /** Requests per second per app+shop (per app for non-shop calls); 0 or null = unlimited. */
  readonly qps: number | null;
  /** Bucket size of the rate limiter; defaults to max(1, qps). */
  readonly burst: number | null;
  /** Whether 429 answers carry `Retry-After` (seconds). */
  readonly retryAfter: boolean;
  readonly latencyMs: number;
  /** Extra latency drawn uniformly in [0, latencyJitterMs] from the seeded generator. */
  readonly latencyJitterMs: number;
  /** Replaced as a whole by `configure({faults})`. */
  readonly faults: FaultRates;
  /**
   * Fault rates of one shop's requests (order endpoints by `shop_cipher`), used instead of `faults` for
   * that shop; replaced as a whole by `configure({shopFaults})`.
   */
  readonly shopFaults: Readonly<Record<string, FaultRates>>;
  /** How long a `timeout` fault holds the request before closing the connection. */
  readonly hangMs: number;
  readonly accessTokenTtlSeconds: number;
  readonly refreshTokenTtlSeconds: number;
  readonly pageTokenTtlSeconds: number;
  readonly authCodeTtlSeconds: number;
  /** Refresh revokes the access token issued with the old refresh token. */
  readonly revokeAccessTokenOnRefresh: boolean;
  /** Refresh issues a new refresh token and revokes the old one (else the same one is returned). */
  readonly rotateRefreshToken: boolean;
  /** HTTP status of auth-host refusals (the envelope always carries the code). */
  readonly authErrorHttpStatus: number;
  readonly timestampReference: TimestampReference;
  readonly timestampPastSkewSeconds: number;
  readonly timestampFutureSkewSeconds: number;
  /** Accept a literal `{}` body signed as if the body were empty (TikTok's Node SDK does that). */
  readonly acceptUnsignedEmptyObjectBody: boolean;
  readonly continuousMutation: ContinuousMutationOptions | null;
  /** Signed webhooks for the emulator's own order changes (see webhooks.ts); null = none sent. */
  readonly webhooks: WebhookOptions | null;
}

/** A token pair the emulator accepts from the start (e.g. configured in a local `.env`). */
export interface PresetTokenPair {
  readonly accessToken: string;
  readonly refreshToken?: string;
  readonly appKey?: string;
  /** Shops the pair is authorized for; all shops when omitted. */
  readonly shopIds?: readonly string[];
}

export interface DatasetOptions {
  readonly seed?: number;
  readonly shops?: readonly EmulatorShopOptions[];
  readonly historyDays?: number;
  readonly bursts?: Partial<BurstOptions>;
}

export interface TikTokEmulatorOptions extends Partial<RuntimeOptions>, DatasetOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Bind address; loopback by default (the admin API is unauthenticated). */
  readonly host?: string;
  readonly apps?: readonly EmulatorApp[];
  /** Shorthand for a single app. */
  readonly appKey?: string;
  readonly appSecret?: string;
  readonly clock?: { readonly start?: number; readonly frozen?: boolean };
  readonly presetTokens?: readonly PresetTokenPair[];
  /** Diagnostics (unexpected handler errors); stderr by default. */
  readonly log?: (line: string) => void;
}

export interface ResolvedShop {
  readonly id: string;
  readonly name: string;
  readonly region: string;
  readonly cipher: string;
  readonly sellerType: string;
  readonly orders: number;
  readonly seed: number;
  readonly historyDays: number;
  readonly burstFraction: number;
  /** Position among the shops: part of every order id, so ids never collide across shops. */
  readonly tag: number;
}

export const DEFAULT_APP: EmulatorApp = { appKey: "emulator_app_key", appSecret: "emulator_app_secret" };
export const DEFAULT_SEED = 20230901;
export const DEFAULT_ORDERS_PER_SHOP = 1000;
export const DEFAULT_HISTORY_DAYS = 365;
export const DEFAULT_BURSTS: BurstOptions = { fraction: 0.05, minSize: 150, maxSize: 300 };

export const DEFAULT_RUNTIME_OPTIONS: RuntimeOptions = {
  tokenMode: "keyset",
  resultCap: null,
  maxPageSize: null,
  lastPageToken: "empty",
  pageTokenRefusal: "pageToken",
  qps: null,
  burst: null,
  retryAfter: true,
  latencyMs: 0,
  latencyJitterMs: 0,
  faults: {},
  shopFaults: {},
  hangMs: 30_000,
  accessTokenTtlSeconds: 7 * 86_400,
  refreshTokenTtlSeconds: 365 * 86_400,
  pageTokenTtlSeconds: 600,
  authCodeTtlSeconds: 3_600,
  revokeAccessTokenOnRefresh: true,
  rotateRefreshToken: true,
  authErrorHttpStatus: 200,
  timestampReference: "wall",
  timestampPastSkewSeconds: 300,
  timestampFutureSkewSeconds: 30,
  acceptUnsignedEmptyObjectBody: true,
  continuousMutation: null,
  webhooks: null,
};

const RUNTIME_KEYS = Object.keys(DEFAULT_RUNTIME_OPTIONS) as (keyof RuntimeOptions)[];

function requireNonNegative(name: string, value: unknown, allowNull = false): void {
  if (allowNull && value === null) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new EmulatorConfigError(`${name} must be a non-negative number, got ${JSON.stringify(value)}`);
  }
}

function requireOneOf(name: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== "string" || !allowed.includes(value)) {
    throw new EmulatorConfigError(
      `${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
    );
  }
}

function requireBoolean(name: string, value: unknown): void {
  if (typeof value !== "boolean") throw new EmulatorConfigError(`${name} must be true or false`);
}

function validateFaults(faults: unknown): FaultRates {
  if (typeof faults !== "object" || faults === null || Array.isArray(faults)) {
    throw new EmulatorConfigError("faults must be an object of rates");
  }
  let total = 0;
  for (const [kind, rate] of Object.entries(faults)) {
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
      throw new EmulatorConfigError(`unknown fault "${kind}"; known: ${FAULT_KINDS.join(", ")}`);
    }
    requireNonNegative(`faults.${kind}`, rate);
    total += rate as number;
  }
  if (total > 1) throw new EmulatorConfigError("fault rates must add up to at most 1");
  return faults as FaultRates;
}

/** Applies a partial runtime change on top of `base`, rejecting unknown keys and bad values. */
export function mergeRuntimeOptions(base: RuntimeOptions, change: Partial<RuntimeOptions>): RuntimeOptions {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(change)) {
    if (value === undefined) continue;
    if (!(RUNTIME_KEYS as string[]).includes(key)) {
      throw new EmulatorConfigError(`"${key}" cannot be configured at runtime`);
    }
    merged[key] = value;
  }
  const result = merged as unknown as RuntimeOptions;
  requireOneOf("tokenMode", result.tokenMode, ["keyset", "offset"]);
  requireOneOf("lastPageToken", result.lastPageToken, ["empty", "absent"]);
  requireOneOf("timestampReference", result.timestampReference, ["wall", "emulator"]);
  requireOneOf("pageTokenRefusal", result.pageTokenRefusal, PAGE_TOKEN_REFUSALS);
  requireNonNegative("resultCap", result.resultCap, true);
  requireNonNegative("maxPageSize", result.maxPageSize, true);
  requireNonNegative("qps", result.qps, true);
  requireNonNegative("burst", result.burst, true);
  for (const key of [
    "latencyMs",
    "latencyJitterMs",
    "hangMs",
    "accessTokenTtlSeconds",
    "refreshTokenTtlSeconds",
    "pageTokenTtlSeconds",
    "authCodeTtlSeconds",
    "timestampPastSkewSeconds",
    "timestampFutureSkewSeconds",
    "authErrorHttpStatus",
  ] as const) {
    requireNonNegative(key, result[key]);
  }
  for (const key of [
    "retryAfter",
    "revokeAccessTokenOnRefresh",
    "rotateRefreshToken",
    "acceptUnsignedEmptyObjectBody",
  ] as const) {
    requireBoolean(key, result[key]);
  }
  validateFaults(result.faults);
  if (
    typeof result.shopFaults !== "object" ||
    result.shopFaults === null ||
    Array.isArray(result.shopFaults)
  ) {
    throw new EmulatorConfigError("shopFaults must be an object of shop id → fault rates");
  }
  for (const rates of Object.values(result.shopFaults)) validateFaults(rates);
  const mutation = result.continuousMutation;
  if (mutation !== null) {
    if (typeof mutation !== "object") throw new EmulatorConfigError("continuousMutation must be an object");
    requireNonNegative("continuousMutation.updatesPerSecond", mutation.updatesPerSecond ?? 0);
    requireNonNegative("continuousMutation.createsPerSecond", mutation.createsPerSecond ?? 0);
    if (mutation.timebase !== undefined) {
      requireOneOf("continuousMutation.timebase", mutation.timebase, ["emulator", "real"]);
    }
  }
  if (result.webhooks !== null) validateWebhooks(result.webhooks);
  return result;
}

function validateWebhooks(webhooks: WebhookOptions): void {
  if (typeof webhooks !== "object" || webhooks === null) {
    throw new EmulatorConfigError("webhooks must be an object {url, delayMs?, jitterMs?, ...} or null");
  }
  const known = ["url", "delayMs", "jitterMs", "duplicateRate", "dropRate", "appKey", "maxAttempts"];
  const unknown = Object.keys(webhooks).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new EmulatorConfigError(`webhooks: unknown option(s) ${unknown.join(", ")}`);
  if (typeof webhooks.url !== "string" || !/^https?:\/\/\S+$/.test(webhooks.url)) {
    throw new EmulatorConfigError("webhooks.url must be an http(s) URL");
  }
  for (const key of ["delayMs", "jitterMs", "maxAttempts"] as const) {
    if (webhooks[key] !== undefined) requireNonNegative(`webhooks.${key}`, webhooks[key]);
  }
  for (const key of ["duplicateRate", "dropRate"] as const) {
    const rate = webhooks[key];
    if (rate === undefined) continue;
    requireNonNegative(`webhooks.${key}`, rate);
    if (rate > 1) throw new EmulatorConfigError(`webhooks.${key} must be at most 1`);
  }
  if (webhooks.appKey !== undefined && typeof webhooks.appKey !== "string") {
    throw new EmulatorConfigError("webhooks.appKey must be a string");
  }
}

/** Picks the runtime keys out of the start options. */
export function runtimeOptionsFrom(options: TikTokEmulatorOptions): RuntimeOptions {
  const change: Record<string, unknown> = {};
  for (const key of RUNTIME_KEYS) {
    if (options[key] !== undefined) change[key] = options[key];
  }
  return mergeRuntimeOptions(DEFAULT_RUNTIME_OPTIONS, change as Partial<RuntimeOptions>);
}

export function resolveApps(options: TikTokEmulatorOptions): EmulatorApp[] {
  const apps = [...(options.apps ?? [])];
  if (options.appKey !== undefined || options.appSecret !== undefined) {
    apps.unshift({
      appKey: options.appKey ?? DEFAULT_APP.appKey,
      appSecret: options.appSecret ?? DEFAULT_APP.appSecret,
    });
  }
  if (apps.length === 0) apps.push(DEFAULT_APP);
  const keys = new Set<string>();
  for (const app of apps) {
    if (!app.appKey || !app.appSecret)
      throw new EmulatorConfigError("every app needs an appKey and appSecret");
    if (keys.has(app.appKey)) throw new EmulatorConfigError(`app key "${app.appKey}" is configured twice`);
    keys.add(app.appKey);
  }
  return apps;
}

/** A stable, realistic-looking cipher for a shop id (TikTok's look like `ROW_` + opaque text). */
export function defaultCipher(shopId: string): string {
  return `ROW_${createHash("sha256").update(shopId).digest("base64url").slice(0, 22)}`;
}

export function defaultShopId(position: number): string {
  return `749400000000${String(position + 1).padStart(7, "0")}`;
}

export function resolveShops(dataset: DatasetOptions): ResolvedShop[] {
  const seed = dataset.seed ?? DEFAULT_SEED;
  const historyDays = dataset.historyDays ?? DEFAULT_HISTORY_DAYS;
  const bursts = { ...DEFAULT_BURSTS, ...dataset.bursts };
  const shops = dataset.shops ?? [{ id: defaultShopId(0) }];
  if (shops.length === 0) throw new EmulatorConfigError("at least one shop is required");
  if (shops.length > 100) throw new EmulatorConfigError("at most 100 shops are supported");
  const seenIds = new Set<string>();
  const seenCiphers = new Set<string>();
  return shops.map((shop, position) => {
    if (!shop.id) throw new EmulatorConfigError(`shop #${position + 1} needs an id`);
    const cipher = shop.cipher ?? defaultCipher(shop.id);
    if (seenIds.has(shop.id)) throw new EmulatorConfigError(`shop id "${shop.id}" is configured twice`);
    if (seenCiphers.has(cipher)) throw new EmulatorConfigError(`shop cipher "${cipher}" is configured twice`);
    seenIds.add(shop.id);
    seenCiphers.add(cipher);
    const orders = shop.orders ?? DEFAULT_ORDERS_PER_SHOP;
    if (!Number.isInteger(orders) || orders < 0) {
      throw new EmulatorConfigError(`shop ${shop.id}: orders must be a non-negative integer`);
    }
    const resolved: ResolvedShop = {
      id: shop.id,
      name: shop.name ?? `Emulator Shop ${position + 1}`,
      region: shop.region ?? "US",
      cipher,
      sellerType: shop.sellerType ?? "LOCAL",
      orders,
      seed: shop.seed ?? mixSeeds(seed, position),
      historyDays: shop.historyDays ?? historyDays,
      burstFraction: shop.burstFraction ?? bursts.fraction,
      tag: position,
    };
    requireNonNegative(`shop ${shop.id}: historyDays`, resolved.historyDays);
    requireNonNegative(`shop ${shop.id}: burstFraction`, resolved.burstFraction);
    return resolved;
  });
}

export function resolveBursts(dataset: DatasetOptions): BurstOptions {
  const bursts = { ...DEFAULT_BURSTS, ...dataset.bursts };
  if (bursts.minSize < 1 || bursts.maxSize < bursts.minSize) {
    throw new EmulatorConfigError("bursts need 1 <= minSize <= maxSize");
  }
  return bursts;
}
