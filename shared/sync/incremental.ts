/**
 * Incremental sync of one shop (DESIGN "Sync semantics" rules 1–7, contract).
 *
 * - The cursor is on update_time; a run reads [cursor − overlap, windowEnd) with windowEnd fixed at
 *   start to now − settle, sorted update_time ASC.
 * - Pages are fetched by value: every next request restarts from the highest update_time committed so
 *   far and skips what this run already wrote there. TikTok's page_token is followed only while a whole
 *   page sits inside one second (more than a page of orders share it). An offset-style token would
 *   otherwise skip an unchanged order each time another order leaves the window mid-paging. Because
 *   each query serves at most a page or two, a per-query result cap can never cut a run short.
 * - After each committed page the checkpoint and the lock lease are written in one transaction,
 *   conditional on holding the lock; on completion the cursor becomes windowEnd, never the wall clock.
 */
import { randomUUID } from "node:crypto";
import { type Clock, unixSeconds } from "../clock";
import { MetricName } from "../observability/metric-names";
import type { LogPort, MetricsPort } from "../observability/telemetry";
import type { OrderStore } from "../store/order-store";
import { type LastRun, LockLostError, type StateStore } from "../store/state-store";
import { TikTokPageTokenRefusedError } from "../tiktok/errors";
import { Deadline, isOutOfTime, TIME_BUDGET } from "../time-budget";
import { writePage } from "./page-writer";
import type { ApiCallMeter, OrderSearchPort, ShopRef } from "./ports";

/** More orders share one `update_time` second than one TikTok query may page through (the result cap). */
export class ResultCapExceededError extends Error {
  constructor(
    readonly shopId: string,
    readonly second: number,
    readonly totalCount: number,
    readonly served: number,
  ) {
    super(
      `shop ${shopId}: ${totalCount} orders from update_time ${second} on, but the query stopped after ${served} inside that one second (result cap)`,
    );
    this.name = "ResultCapExceededError";
  }
}

export interface IncrementalSettings {
  readonly overlapSeconds: number;
  readonly settleSeconds: number;
  readonly lockLeaseMs: number;
  readonly storeRecipientData: boolean;
  readonly pageSize?: number;
}

export interface IncrementalSyncDeps {
  readonly tiktok: OrderSearchPort;
  readonly apiCalls: ApiCallMeter;
  readonly orders: OrderStore;
  readonly state: StateStore;
  readonly clock: Clock;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  readonly settings: IncrementalSettings;
  /** Starts a full resync (DESIGN rule 6) for a shop that has never been synced. */
  readonly startFullResync?: (shopId: string, options: { deadline: Deadline }) => Promise<{ jobId: string }>;
  readonly newRunId?: () => string;
}

export interface RunCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  stale: number;
  quarantined: number;
  pages: number;
}

export type IncrementalOutcome =
  | {
      readonly status: "completed";
      readonly runId: string;
      readonly lastRun: LastRun;
      readonly lagSeconds: number;
    }
  | { readonly status: "locked"; readonly lagSeconds: number | undefined }
  | { readonly status: "full-sync-started"; readonly runId: string; readonly jobId: string }
  /** Stopped before the function deadline; the checkpoint is kept and the next tick resumes. */
  | { readonly status: "deadline"; readonly runId: string; readonly counts: RunCounts }
  | { readonly status: "lock-lost"; readonly runId: string; readonly counts: RunCounts };

export interface RunOptions {
  /**
   * When the run must be over (the Lambda's deadline less its end margin): a page is started only
   * while TIME_BUDGET.pageStartMs is left, and its fetch must end TIME_BUDGET.pageCommitReserveMs
   * before it. Running out stops the run with its checkpoint kept ("deadline").
   */
  readonly deadline?: Deadline;
  readonly signal?: AbortSignal;
}

const DEFAULT_PAGE_SIZE = 100;

function emitLag(deps: IncrementalSyncDeps, shopId: string, cursor: number | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const lag = Math.max(0, unixSeconds(deps.clock) - cursor);
  deps.metrics.record(shopId, MetricName.SyncLagSeconds, lag, "Seconds");
  return lag;
}

export async function runIncrementalSync(
  deps: IncrementalSyncDeps,
  shop: ShopRef,
  options: RunOptions = {},
): Promise<IncrementalOutcome> {
  const { shopId } = shop;
  const startedMs = deps.clock.nowMs();
  const runId = deps.newRunId?.() ?? randomUUID();
  if (!(await deps.state.acquireLock(shopId, runId, deps.settings.lockLeaseMs))) {
    deps.log.info("incremental sync skipped: another run holds the lock", { shopId });
    const cursor = (await deps.state.getMeta(shopId))?.cursor;
    return { status: "locked", lagSeconds: emitLag(deps, shopId, cursor) };
  }

  let lockHeld = true;
  try {
    // Read under the lock: a run that read META before another's first sync set the cursor would start
    // a second one (issue 16 item 7).
    const meta = await deps.state.getMeta(shopId);
    if (meta?.cursor === undefined) {
      if (!deps.startFullResync) throw new Error(`shop ${shopId} has no cursor and no full resync is wired`);
      const deadline = options.deadline ?? Deadline.none();
      if (!deadline.allows(TIME_BUDGET.planningStartMs)) {
        return { status: "deadline", runId, counts: emptyCounts() };
      }
      let jobId: string;
      try {
        ({ jobId } = await deps.startFullResync(shopId, { deadline }));
      } catch (error) {
        // Planning ran out of time (throttled or slow probes): the next run plans again.
        if (isOutOfTime(error) || (error instanceof Error && isOutOfTime(error.cause))) {
          return { status: "deadline", runId, counts: emptyCounts() };
        }
        throw error;
      }
      deps.log.info("first sync: full resync started", { shopId, jobId });
      return { status: "full-sync-started", runId, jobId };
    }
    const result = await pageThroughWindow(deps, shop, runId, meta.cursor, options);
    if (result.stopped) {
      // Lag is reported on every run, a stopped one too (the cursor has not moved).
      emitLag(deps, shopId, meta.cursor);
      return { status: result.stopped, runId, counts: result.counts };
    }
    const finishedMs = deps.clock.nowMs();
    const apiCalls = deps.apiCalls.since(result.apiBefore);
    const lastRun: LastRun = {
      run_id: runId,
      started_at: new Date(startedMs).toISOString(),
      finished_at: new Date(finishedMs).toISOString(),
      window_start: result.windowStart,
      window_end: result.windowEnd,
      api_calls: apiCalls.calls,
      successful_api_calls: apiCalls.successful,
      throttled_api_calls: apiCalls.throttled,
      duration_ms: finishedMs - startedMs,
      ...result.counts,
    };
    const cursor = Math.max(meta.cursor, result.windowEnd);
    await deps.state.completeIncrementalRun(shopId, runId, {
      cursor,
      lastRun,
      recordsSynced: result.counts.inserted + result.counts.updated,
      ...(result.maxUpdateTime !== undefined
        ? { lastRecordTime: new Date(result.maxUpdateTime * 1000).toISOString() }
        : {}),
    });
    lockHeld = false;
    recordRunMetrics(deps, shopId, lastRun);
    const lagSeconds = emitLag(deps, shopId, cursor) ?? 0;
    deps.log.info("incremental sync completed", {
      shopId,
      runId,
      apiCalls: lastRun.api_calls,
      durationMs: lastRun.duration_ms,
      inserted: lastRun.inserted,
      updated: lastRun.updated,
      unchanged: lastRun.unchanged,
      stale: lastRun.stale,
      quarantined: lastRun.quarantined,
      lagSeconds,
    });
    return { status: "completed", runId, lastRun, lagSeconds };
  } catch (error) {
    if (error instanceof LockLostError) {
      lockHeld = false;
      deps.log.warn("incremental sync stopped: lock lost to another run", { shopId, runId });
      return { status: "lock-lost", runId, counts: emptyCounts() };
    }
    throw error;
  } finally {
    if (lockHeld) await deps.state.releaseLock(shopId, runId);
  }
}

function emptyCounts(): RunCounts {
  return { inserted: 0, updated: 0, unchanged: 0, stale: 0, quarantined: 0, pages: 0 };
}

function recordRunMetrics(deps: IncrementalSyncDeps, shopId: string, run: LastRun) {
  const metrics = deps.metrics;
  metrics.record(shopId, MetricName.RunDurationMs, run.duration_ms, "Milliseconds");
  metrics.record(shopId, MetricName.ApiCalls, run.api_calls, "Count");
  metrics.record(shopId, MetricName.ApiThrottled, run.throttled_api_calls, "Count");
  metrics.record(shopId, MetricName.OrdersInserted, run.inserted, "Count");
  metrics.record(shopId, MetricName.OrdersUpdated, run.updated, "Count");
  metrics.record(shopId, MetricName.OrdersUnchanged, run.unchanged, "Count");
  metrics.record(shopId, MetricName.OrdersStale, run.stale, "Count");
  metrics.record(shopId, MetricName.OrdersQuarantined, run.quarantined, "Count");
}

interface WindowResult {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly counts: RunCounts;
  readonly maxUpdateTime: number | undefined;
  readonly apiBefore: ReturnType<ApiCallMeter["snapshot"]>;
  readonly stopped?: "deadline" | "lock-lost";
}

async function pageThroughWindow(
  deps: IncrementalSyncDeps,
  shop: ShopRef,
  runId: string,
  cursor: number,
  options: RunOptions,
): Promise<WindowResult> {
  const { shopId } = shop;
  const settings = deps.settings;
  const pageSize = settings.pageSize ?? DEFAULT_PAGE_SIZE;
  const apiBefore = deps.apiCalls.snapshot();
  const windowEnd = unixSeconds(deps.clock) - settings.settleSeconds;
  const checkpoint = await deps.state.getCheckpoint(shopId);
  // Resume an interrupted run from its last committed page (rule 4), never before cursor − overlap.
  let lower = Math.max(0, cursor - settings.overlapSeconds, checkpoint?.position ?? 0);
  const windowStart = lower;
  const counts = emptyCounts();
  let maxUpdateTime: number | undefined;
  /** Orders this run already wrote in second `lower` (re-read when the next request restarts there). */
  let writtenAtLower = new Set<string>();
  let pageToken: string | undefined;
  /** Orders the current query (first page and the pages its token led to) has served so far. */
  let servedInQuery = 0;

  const deadline = options.deadline ?? Deadline.none();
  while (lower < windowEnd) {
    if (!deadline.allows(TIME_BUDGET.pageStartMs)) {
      return { windowStart, windowEnd, counts, maxUpdateTime, apiBefore, stopped: "deadline" };
    }
    let page: Awaited<ReturnType<OrderSearchPort["searchOrders"]>>;
    try {
      page = await deps.tiktok.searchOrders({
        shopCipher: shop.shopCipher,
        query: {
          page_size: pageSize,
          sort_field: "update_time",
          sort_order: "ASC",
          ...(pageToken ? { page_token: pageToken } : {}),
        },
        body: { update_time_ge: lower, update_time_lt: windowEnd },
        ...(options.signal ? { signal: options.signal } : {}),
        ...(deadline.bounded ? { deadline: deadline.minus(TIME_BUDGET.pageCommitReserveMs) } : {}),
      });
    } catch (error) {
      if (isOutOfTime(error)) {
        deps.log.info("incremental sync paused: the page does not fit in the time left", {
          shopId,
          lower,
          reason: error instanceof Error ? error.message : String(error),
        });
        return { windowStart, windowEnd, counts, maxUpdateTime, apiBefore, stopped: "deadline" };
      }
      if (error instanceof TikTokPageTokenRefusedError && pageToken) {
        // Restart the one-second group from its start; what we wrote there is skipped.
        deps.log.warn("page token refused; restarting from the last committed second", { shopId, lower });
        pageToken = undefined;
        servedInQuery = 0;
        continue;
      }
      throw error;
    }
    const fetchedAt = deps.clock.nowMs();
    const written = await writePage(
      { orders: deps.orders, state: deps.state, storeRecipientData: settings.storeRecipientData },
      shopId,
      page.orders,
      fetchedAt,
      {
        source: "incremental",
        skip: (order) => order.updateTime === lower && writtenAtLower.has(order.orderId),
      },
    );
    counts.pages += 1;
    counts.inserted += written.inserted;
    counts.updated += written.updated;
    counts.unchanged += written.unchanged;
    counts.stale += written.stale;
    counts.quarantined += written.quarantined;

    const pageMax = written.valid.reduce((max, order) => Math.max(max, order.updateTime), lower);
    if (written.valid.length > 0) maxUpdateTime = Math.max(maxUpdateTime ?? pageMax, pageMax);
    servedInQuery += page.orders.length;
    // A query can end before its total_count: TikTok pages through a limited number of results per query
    // (the result cap). Only a query that served everything it counted is the end of the window.
    const capped = !page.nextPageToken && servedInQuery < page.totalCount;
    const lastPage = (!page.nextPageToken || page.orders.length < pageSize) && !capped;
    if (capped && pageMax <= lower) {
      // Restarting by value would ask the same query again: more orders share one second than a query
      // may page through. Stop (the checkpoint keeps what was written) rather than skip the rest.
      throw new ResultCapExceededError(shopId, lower, page.totalCount, servedInQuery);
    }
    if (capped) {
      deps.log.warn("query ended before its total_count (result cap); continuing by value", {
        shopId,
        lower: pageMax,
        served: servedInQuery,
        totalCount: page.totalCount,
      });
    }
    if (pageMax > lower) {
      // Restart by value from the newest second of this page.
      lower = pageMax;
      writtenAtLower = new Set(written.valid.filter((o) => o.updateTime === pageMax).map((o) => o.orderId));
      pageToken = undefined;
      servedInQuery = 0;
    } else {
      // The whole page sits in second `lower`: only the token can move past it.
      for (const order of written.valid) writtenAtLower.add(order.orderId);
      pageToken = page.nextPageToken;
    }
    await deps.state.checkpoint(shopId, runId, settings.lockLeaseMs, { runId, position: lower, windowEnd });
    if (lastPage) break;
  }
  return { windowStart, windowEnd, counts, maxUpdateTime, apiBefore };
}
