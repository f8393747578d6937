import type { OrderRepository, SyncStateRepository } from "../sync/ports";
import type { PushStatsPort } from "./push-stats";
/**
 * The webhook consumer (issue 18): takes a batch of verified events off the webhook queue and makes the
 * orders they name current, as an accelerator of the scheduled sync (ticks still run and stay the truth).
 *
 * Per shop of the batch (shops side by side, each isolated: one failing shop fails only its events):
 * - a shop this deployment does not sync: counted (status `webhooks`) and dropped;
 * - type 6 (seller deauthorization) and 7 (authorization expiring) update the authorization's TOKEN
 *   item (needs_reauth with the reason; the announced expiry), unless a newer authorization exists;
 * - every event naming an order (types 1 and 3, and any other carrying `data.order_id`) asks for that
 *   order to be re-read: ids are coalesced per shop (duplicates and several events of one order are one
 *   id), orders already stored at least as new as the event says are skipped (a duplicate, late or
 *   replayed event costs a DynamoDB read, not a TikTok call), the rest are fetched with Get Order Detail,
 *   50 ids per call, within the push share of the shop's request budget, and stored with the conditional
 *   upsert (rule 5): what is written is always TikTok's current order, never the event's content, so no
 *   event can regress an order.
 * - An order TikTok's detail still shows older than the event (or not at all) is asked for again a few
 *   seconds later (the event's message re-sent with a delay, at most MAX_BEHIND_ATTEMPTS times).
 *
 * Time and throttling: a shop is started, and each detail call made, only while TIME_BUDGET.pageStartMs
 * is left; what is left over, or what TikTok throttled, goes back to the queue as fresh messages (with a
 * delay when throttled) and is acknowledged, so neither spends a receive. Any other failure leaves the
 * shop's records as batch item failures: SQS redelivers them, and after maxReceiveCount the DLQ keeps them.
 */

import type { Clock } from "../clock";
import { mapWithConcurrency } from "../concurrency";
import { MetricName } from "../observability/metric-names";
import type { LogPort, MetricsPort } from "../observability/telemetry";
import { decideWrite } from "../orders/versions";
import { writePage } from "../sync/page-writer";
import type { ApiCallMeter, ShopRef } from "../sync/ports";
import { TikTokRateLimitedError, TikTokReauthRequiredError } from "../tiktok/api-errors";
import { MAX_ORDER_IDS_PER_DETAIL_CALL } from "../tiktok/api-types";
import type { TikTokClient } from "../tiktok/client";
import type { AuthorizationNotice, StoredTokenPair } from "../tiktok/tokens";
import { type Deadline, isOutOfTime, TIME_BUDGET } from "../time-budget";
import {
  announcedExpiry,
  encodeWebhookMessage,
  type OrderHint,
  orderHint,
  parseWebhookMessage,
  type WebhookMessage,
  WebhookType,
} from "./events";
import type { PushBatchStats } from "./push-stats";

/** Re-reads of an order whose detail is behind its event, before the next tick is left to it. */
export const MAX_BEHIND_ATTEMPTS = 3;
/** Shops of one batch worked on at once. */
const SHOP_CONCURRENCY = 4;
/** A throttled shop's events come back after this long when TikTok named no Retry-After. */
const THROTTLED_DELAY_SECONDS = 5;
/** SQS's longest DelaySeconds. */

export interface WebhookRecord {
  readonly messageId: string;
  readonly body: string;
}

/** A shop as the consumer needs it: the authorization covering it, and how to reach TikTok for it. */
export interface WebhookShopPort {
  /** The authorization of a shop this deployment syncs; undefined for any other shop. */
  authorizationOf(shopId: string): Promise<string | undefined>;
  open(shopId: string): Promise<{
    readonly ref: ShopRef;
    readonly client: Pick<TikTokClient, "getOrders">;
    readonly meter: ApiCallMeter;
  }>;
}

export interface WebhookTokenPort {
  get(authId: string): Promise<StoredTokenPair | undefined>;
  applyAuthorizationNotice(
    authId: string,
    eventAtSeconds: number,
    notice: AuthorizationNotice,
  ): Promise<boolean>;
}

/** Sends messages back to the webhook queue (SendMessageBatch), each with its own delay. */
export interface WebhookQueuePort {
  send(messages: readonly { readonly body: string; readonly delaySeconds?: number }[]): Promise<void>;
}

export interface WebhookConsumerDeps {
  readonly shops: WebhookShopPort;
  readonly tokens: WebhookTokenPort;
  readonly orders: OrderRepository;
  readonly state: SyncStateRepository;
  readonly stats: PushStatsPort;
  readonly queue: WebhookQueuePort;
  readonly clock: Clock;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  readonly settings: {
    readonly storeRecipientData: boolean;
    /** SYNC_MAX_CLOCK_SKEW_SECONDS: how far TikTok's update_time and our fetch time may disagree. */
    readonly maxClockSkewSeconds: number;
  };
}

export interface WebhookBatchOutcome {
  /** Records to report as batch item failures (SQS redelivers them). */
  readonly failedMessageIds: readonly string[];
  /** Per shop: what the batch did (also stored in the shop's PUSH item). */
  readonly shops: readonly ShopOutcome[];
}

export interface ShopOutcome {
  readonly shopId: string;
  readonly events: number;
  readonly known: boolean;
  /** Orders named by the events (distinct). */
  readonly ordersNamed: number;
  /** Of those, already stored at least as new as their events said (no call made). */
  readonly alreadyCurrent: number;
  readonly ordersRefreshed: number;
  readonly detailCalls: number;
  /** Events handed back to the queue (out of time, throttled, or detail behind the event). */
  readonly handedBack: number;
  readonly failed: boolean;
}

interface Delivery {
  readonly messageId: string;
  readonly message: WebhookMessage;
}

/** One order the events name: the newest change they announce and the deliveries naming it. */
interface NamedOrder {
  readonly orderId: string;
  /** The newest `data.update_time` announced; undefined when an event named the order without one. */
  updateTime: number | undefined;
  readonly deliveries: Delivery[];
}

export async function processWebhookBatch(
  deps: WebhookConsumerDeps,
  records: readonly WebhookRecord[],
  options: { readonly deadline: Deadline },
): Promise<WebhookBatchOutcome> {
  const byShop = new Map<string, Delivery[]>();
  let unreadable = 0;
  for (const record of records) {
    let message: WebhookMessage;
    try {
      message = parseWebhookMessage(record.body);
    } catch (error) {
      // Only the receiver writes this queue, after validating: retrying cannot make it readable.
      unreadable += 1;
      deps.log.error("unreadable webhook message dropped", {
        messageId: record.messageId,
        error: error instanceof Error ? error.message : String(error),
      });
      continue;
    }
    const list = byShop.get(message.event.shop_id) ?? [];
    list.push({ messageId: record.messageId, message });
    byShop.set(message.event.shop_id, list);
  }
  const events = records.length - unreadable;
  if (events > 0) deps.metrics.record("", MetricName.WebhookEvents, events, "Count");

  const outcomes = await mapWithConcurrency([...byShop], SHOP_CONCURRENCY, ([shopId, deliveries]) =>
    processShop(deps, shopId, deliveries, options.deadline),
  );
  const unknown = outcomes.filter((outcome) => !outcome.known);
  try {
    await deps.stats.recordIgnored({
      unknownShop: unknown.reduce((total, outcome) => total + outcome.events, 0),
      unreadable,
      ...(unknown[0] ? { lastUnknownShopId: unknown[0].shopId } : {}),
    });
  } catch (error) {
    deps.log.warn("webhook counters not updated", { error: describe(error) });
  }
  const failedMessageIds = outcomes.flatMap((outcome, index) =>
    outcome.failed ? ([...byShop.values()][index] ?? []).map((delivery) => delivery.messageId) : [],
  );
  return { failedMessageIds, shops: outcomes };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

async function processShop(
  deps: WebhookConsumerDeps,
  shopId: string,
  deliveries: readonly Delivery[],
  deadline: Deadline,
): Promise<ShopOutcome> {
  const outcome = {
    shopId,
    events: deliveries.length,
    known: true,
    ordersNamed: 0,
    alreadyCurrent: 0,
    ordersRefreshed: 0,
    detailCalls: 0,
    handedBack: 0,
    failed: false,
  };
  const stats: PushBatchStats & { ordersRefreshed: number; lagsMs: number[] } = {
    events: deliveries.length,
    ordersRefreshed: 0,
    lastEventAtMs: Math.max(...deliveries.map((delivery) => delivery.message.received_at_ms)),
    lagsMs: [],
  };
  const handBack = async (items: readonly Delivery[], delaySeconds?: number) => {
    if (items.length === 0) return;
    await deps.queue.send(
      items.map((item) => ({
        body: encodeWebhookMessage(item.message),
        ...(delaySeconds ? { delaySeconds } : {}),
      })),
    );
    outcome.handedBack += items.length;
  };
  try {
    if (!deadline.allows(TIME_BUDGET.pageStartMs)) {
      await handBack(deliveries);
      return outcome;
    }
    const authId = await deps.shops.authorizationOf(shopId);
    if (authId === undefined) {
      deps.log.info("webhook events for a shop this deployment does not sync: ignored", {
        shopId,
        events: deliveries.length,
      });
      return { ...outcome, known: false };
    }
    await applyAuthorizationEvents(deps, shopId, authId, deliveries);
    const named = namedOrders(deliveries);
    outcome.ordersNamed = named.size;
    if (named.size > 0) {
      const pair = await deps.tokens.get(authId);
      if (pair?.needsReauth) {
        // Nothing can be read until the seller authorizes again; the tick reports it, and syncs after.
        deps.log.info("webhook orders not refreshed: the shop's authorization needs re-authorizing", {
          shopId,
          orders: named.size,
        });
      } else {
        await refreshOrders(deps, shopId, named, deadline, { outcome, stats, handBack });
      }
    }
    await deps.stats.record(shopId, stats);
    return outcome;
  } catch (error) {
    deps.log.warn("webhook events of a shop failed; SQS will redeliver them", {
      shopId,
      events: deliveries.length,
      error: describe(error),
    });
    return { ...outcome, failed: true };
  }
}

/** Types 6 and 7, oldest first; each only if the authorization was installed before the event. */
async function applyAuthorizationEvents(
  deps: WebhookConsumerDeps,
  shopId: string,
  authId: string,
  deliveries: readonly Delivery[],
): Promise<void> {
  const events = deliveries
    .map((delivery) => delivery.message.event)
    .filter(
      (event) =>
        event.type === WebhookType.sellerDeauthorization || event.type === WebhookType.authorizationExpiring,
    )
    .sort((a, b) => a.timestamp - b.timestamp);
  for (const event of events) {
    const at = new Date(event.timestamp * 1000).toISOString();
    if (event.type === WebhookType.sellerDeauthorization) {
      const applied = await deps.tokens.applyAuthorizationNotice(authId, event.timestamp, {
        kind: "deauthorized",
        reason: `the seller deauthorized the app (TikTok webhook type 6 for shop ${shopId} at ${at}): authorize again`,
      });
      if (applied) {
        deps.metrics.record(shopId, MetricName.NeedsReauth, 1, "Count");
        deps.log.error(
          "TikTok says the seller deauthorized the app: its shops make no calls until re-authorized",
          {
            authId,
            shopId,
          },
        );
      } else {
        deps.log.info("deauthorization webhook older than the authorization: ignored", { authId, shopId });
      }
      continue;
    }
    const expiresAt = announcedExpiry(event);
    if (expiresAt === undefined) {
      deps.log.warn("authorization-expiring webhook without an expiry time: nothing recorded", {
        authId,
        shopId,
      });
      continue;
    }
    const applied = await deps.tokens.applyAuthorizationNotice(authId, event.timestamp, {
      kind: "expiring",
      expiresAt,
    });
    if (applied) {
      deps.log.warn(
        "TikTok says the seller's authorization expires soon: ask the seller to authorize again",
        {
          authId,
          shopId,
          expiresAt: new Date(expiresAt * 1000).toISOString(),
        },
      );
    }
  }
}

/** The orders the deliveries name, each with the newest change announced for it. */
function namedOrders(deliveries: readonly Delivery[]): Map<string, NamedOrder> {
  const named = new Map<string, NamedOrder>();
  for (const delivery of deliveries) {
    const hint: OrderHint | undefined = orderHint(delivery.message.event);
    if (!hint) continue;
    let order = named.get(hint.orderId);
    if (!order) {
      order = { orderId: hint.orderId, updateTime: hint.updateTime, deliveries: [] };
      named.set(hint.orderId, order);
    } else if (order.updateTime !== undefined) {
      // Any event without a time makes the order's newest change unknown: it is always re-read.
      order.updateTime =
        hint.updateTime === undefined ? undefined : Math.max(order.updateTime, hint.updateTime);
    }
    order.deliveries.push(delivery);
  }
  return named;
}

interface RefreshContext {
  readonly outcome: { alreadyCurrent: number; ordersRefreshed: number; detailCalls: number };
  readonly stats: { ordersRefreshed: number; lagsMs: number[] };
  readonly handBack: (items: readonly Delivery[], delaySeconds?: number) => Promise<void>;
}

async function refreshOrders(
  deps: WebhookConsumerDeps,
  shopId: string,
  named: ReadonlyMap<string, NamedOrder>,
  deadline: Deadline,
  context: RefreshContext,
): Promise<void> {
  const { outcome, stats } = context;
  const stored = await deps.orders.readVersions(shopId, [...named.keys()]);
  const skewMs = deps.settings.maxClockSkewSeconds * 1000;
  const toRead = [...named.values()].filter((order) => {
    const version = stored.get(order.orderId);
    if (!version || order.updateTime === undefined) return true;
    if (version.updateTime > order.updateTime) return false;
    // Fetched after the announced second ended (and any skew): every change of that second is in it.
    return !(
      version.updateTime === order.updateTime && version.fetchedAt >= (order.updateTime + 1) * 1000 + skewMs
    );
  });
  outcome.alreadyCurrent = named.size - toRead.length;
  if (toRead.length === 0) return;

  const shop = await deps.shops.open(shopId);
  const callsBefore = shop.meter.snapshot();
  const counts = { inserted: 0, updated: 0, unchanged: 0, stale: 0, quarantined: 0 };
  const behind: Delivery[] = [];
  const chunks: NamedOrder[][] = [];
  for (let start = 0; start < toRead.length; start += MAX_ORDER_IDS_PER_DETAIL_CALL) {
    chunks.push(toRead.slice(start, start + MAX_ORDER_IDS_PER_DETAIL_CALL));
  }
  try {
    for (const [index, orders] of chunks.entries()) {
      const rest = () =>
        chunks
          .slice(index)
          .flat()
          .flatMap((order) => order.deliveries);
      if (!deadline.allows(TIME_BUDGET.pageStartMs)) {
        await context.handBack(rest());
        return;
      }
      let fetched: unknown[];
      const fetchedAt = deps.clock.nowMs();
      try {
        outcome.detailCalls += 1;
        ({ orders: fetched } = await shop.client.getOrders({
          shopCipher: shop.ref.shopCipher,
          ids: orders.map((order) => order.orderId),
          deadline: deadline.minus(TIME_BUDGET.pageCommitReserveMs),
        }));
      } catch (error) {
        if (error instanceof TikTokReauthRequiredError) {
          deps.log.info("webhook orders not refreshed: the shop's authorization needs re-authorizing", {
            shopId,
          });
          return;
        }
        if (error instanceof TikTokRateLimitedError || isOutOfTime(error)) {
          // Throttled (or out of time while waiting for TikTok's Retry-After): back after that wait;
          // simply out of time: back at once, for the next invocation.
          const throttled = error instanceof TikTokRateLimitedError || error.retryAfterMs !== undefined;
          const delaySeconds = throttled
            ? Math.max(1, Math.ceil((error.retryAfterMs ?? THROTTLED_DELAY_SECONDS * 1000) / 1000))
            : undefined;
          deps.log.info("webhook orders handed back to the queue (throttled or out of time)", {
            shopId,
            events: rest().length,
            delaySeconds: delaySeconds ?? 0,
          });
          await context.handBack(rest(), delaySeconds);
          return;
        }
        throw error;
      }
      const result = await writePage(
        { orders: deps.orders, state: deps.state, storeRecipientData: deps.settings.storeRecipientData },
        shopId,
        fetched,
        fetchedAt,
        // The versions read above, before the detail call: not read a second time.
        { source: "webhook", versionsRead: { ids: new Set(named.keys()), versions: stored } },
      );
      const storedAt = deps.clock.nowMs();
      counts.inserted += result.inserted;
      counts.updated += result.updated;
      counts.unchanged += result.unchanged;
      counts.stale += result.stale;
      counts.quarantined += result.quarantined;
      stats.ordersRefreshed += result.inserted + result.updated;
      // Lag of each order this write made current: from its change (TikTok's update_time) to now.
      const current = new Map(result.valid.map((order) => [order.orderId, order]));
      for (const order of result.valid) {
        const decision = decideWrite({ ...order, fetchedAt }, stored.get(order.orderId));
        if (decision !== "insert" && decision !== "update") continue;
        const lagMs = Math.max(0, storedAt - order.updateTime * 1000);
        stats.lagsMs.push(lagMs);
        deps.metrics.record(shopId, MetricName.WebhookLagMs, lagMs, "Milliseconds");
      }
      const returned = new Set(
        fetched
          .map((raw) => (raw as { id?: unknown } | null)?.id)
          .filter((id): id is string | number => typeof id === "string" || typeof id === "number")
          .map(String),
      );
      for (const order of orders) {
        const got = current.get(order.orderId);
        const lagging = got
          ? order.updateTime !== undefined && got.updateTime < order.updateTime
          : !returned.has(order.orderId);
        if (lagging) behind.push(newestDelivery(order));
      }
    }
  } finally {
    const calls = shop.meter.since(callsBefore);
    deps.metrics.record(shopId, MetricName.ApiCalls, calls.calls, "Count");
    deps.metrics.record(shopId, MetricName.ApiThrottled, calls.throttled, "Count");
    deps.metrics.record(shopId, MetricName.OrdersInserted, counts.inserted, "Count");
    deps.metrics.record(shopId, MetricName.OrdersUpdated, counts.updated, "Count");
    deps.metrics.record(shopId, MetricName.OrdersUnchanged, counts.unchanged, "Count");
    deps.metrics.record(shopId, MetricName.OrdersStale, counts.stale, "Count");
    deps.metrics.record(shopId, MetricName.OrdersQuarantined, counts.quarantined, "Count");
    outcome.ordersRefreshed = counts.inserted + counts.updated;
  }
  await askAgainLater(deps, shopId, behind, context);
}

/** The delivery announcing the order's newest change (the one to repeat). */
function newestDelivery(order: NamedOrder): Delivery {
  return order.deliveries.reduce((newest, delivery) => {
    const time = orderHint(delivery.message.event)?.updateTime ?? 0;
    const best = orderHint(newest.message.event)?.updateTime ?? 0;
    return time > best ? delivery : newest;
  });
}

/**
 * Orders whose detail is still older than their event (TikTok's read side lagging its events), or not
 * there yet: the newest event of each is re-sent with a growing delay (2, 4, 8 s), then left to the tick.
 */
async function askAgainLater(
  deps: WebhookConsumerDeps,
  shopId: string,
  behind: readonly Delivery[],
  context: RefreshContext,
): Promise<void> {
  const again = behind.filter((delivery) => (delivery.message.attempt ?? 0) < MAX_BEHIND_ATTEMPTS);
  if (behind.length > again.length) {
    deps.log.warn("order detail still behind its webhook after every re-read: the next tick syncs it", {
      shopId,
      orders: behind.length - again.length,
    });
  }
  const byDelay = new Map<number, Delivery[]>();
  for (const delivery of again) {
    const attempt = (delivery.message.attempt ?? 0) + 1;
    const list = byDelay.get(attempt) ?? [];
    list.push({ ...delivery, message: { ...delivery.message, attempt } });
    byDelay.set(attempt, list);
  }
  for (const [attempt, list] of byDelay) await context.handBack(list, 2 ** attempt);
}
