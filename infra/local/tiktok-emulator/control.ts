/**
 * What can be done to the emulator's world (shops, orders, clock, tokens, faults, webhooks) in-process:
 * the contract the world implements and the admin API and tests drive. Types only, so the admin
 * interface depends on this contract and not on the world's implementation or the HTTP server.
 */
import type { ShopInfo, TikTokOrder, TokenData } from "../../../shared/tiktok/api-types";
import type { DatasetOptions, EmulatorApp, RuntimeOptions } from "./config";
import type { CountersSnapshot, RequestLogEntry } from "./counters";
import type { FailNextSpec } from "./faults";
import type { InvalidOrderField, OrderSummary } from "./order-store";
import type { WebhookCounters, WebhookDelivery } from "./webhooks";

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

export interface ClockState {
  readonly now: number;
  readonly frozen: boolean;
}

/** The world's operations (the HTTP server adds its addresses and `stop`: see `TikTokEmulator`). */
export interface EmulatorControl {
  readonly apps: readonly EmulatorApp[];
  /** The first app's credentials. */
  readonly appKey: string;
  readonly appSecret: string;
  shops(): ShopInfo[];
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
