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
import type { NormalizedOrder } from "../orders/normalize";
import type { OrderStore } from "../store/order-store";
import { type LastRun, LockLostError, type StateStore } from "../store/state-store";
import type { SearchOrdersBody, SearchOrdersQuery } from "../tiktok/api-types";
import { isPageTokenRefusal } from "../tiktok/errors";
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
  const meta = await deps.state.getMeta(shopId);

  if (!(await deps.state.acquireLock(shopId, runId, deps.settings.lockLeaseMs))) {
    deps.log.info("incremental sync skipped: another run holds the lock", { shopId });
    return { status: "locked", lagSeconds: emitLag(deps, shopId, meta?.cursor) };
  }

  let lockHeld = true;
  try {
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
    if (error instanceof ResultCapExceededError || error instanceof SearchStalledError) {
      // Stopped rather than skip or loop: the checkpoint keeps what was written, the cursor stays.
      deps.log.error("incremental sync stopped: TikTok's search cannot get past one second", {
        shopId,
        runId,
        second: error.second,
        error: { name: error.name, message: error.message },
      });
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

/**
 * Requests in a row that one query may spend without progress (no new order committed, restart point
 * unmoved: refused page tokens, re-read or empty pages) before it stops following tokens. A token that
 * is refused every time while more than a page of orders shares one second would otherwise loop for
 * good: each restart by value re-reads that second and needs a token again. A single refusal (then the
 * re-read first page) stays well inside the bound.
 */
const MAX_REQUESTS_WITHOUT_PROGRESS = 4;

/** No progress past one second: page tokens refused (or pages adding nothing) every time. */
export class SearchStalledError extends Error {
  constructor(
    readonly shopId: string,
    readonly second: number,
    readonly requests: number,
    options?: { cause?: unknown },
  ) {
    super(
      `shop ${shopId}: no progress inside update_time ${second} after ${requests} requests in a row (page tokens refused or pages adding nothing); stopped with the checkpoint kept`,
      options,
    );
    this.name = "SearchStalledError";
  }
}

/** The run stops between pages with its checkpoint kept: no time left (unwinds nested scans). */
class RunPaused extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RunPaused";
  }
}

type SearchPage = Awaited<ReturnType<OrderSearchPort["searchOrders"]>>;

/** Why a scan cannot get past one key second by value. */
type StuckSecond =
  | { readonly kind: "result-cap"; readonly totalCount: number; readonly served: number }
  | { readonly kind: "stalled"; readonly requests: number; readonly cause: unknown };

/** One way of reading a key range by value (DESIGN rule 2); the run's main scan is on update_time. */
interface ByValueScan {
  readonly sortField: "update_time" | "create_time";
  readonly keyOf: (order: NormalizedOrder) => number;
  /** The query restarting at key `from`. */
  readonly body: (from: number) => SearchOrdersBody;
  /** Whether a served order lies inside the query from `from`: only those move the restart point. */
  readonly inRange: (order: NormalizedOrder, from: number) => boolean;
  /** Exclusive end of the key range. */
  readonly end: number;
  /** The checkpoint's position while the scan restarts at `from`. */
  readonly position: (from: number) => number;
  /** Reads key second `key` whole, when queries from it cannot get past it; or throws. */
  readonly readSecond: (key: number, why: StuckSecond) => Promise<void>;
  /** Forgets written orders no later query can serve again (memory only; skipping is by version). */
  readonly forget?: (written: Map<string, number>, from: number) => void;
  /** Log fields locating the query. */
  readonly describe: (from: number) => Record<string, unknown>;
}

/** The state of one run's window shared by its scans: counts, checkpoint, time budget. */
class WindowReader {
  readonly counts = emptyCounts();
  maxUpdateTime: number | undefined;

  constructor(
    private readonly deps: IncrementalSyncDeps,
    private readonly shop: ShopRef,
    private readonly runId: string,
    readonly windowEnd: number,
    private readonly deadline: Deadline,
    private readonly signal: AbortSignal | undefined,
  ) {}

  get log(): LogPort {
    return this.deps.log;
  }

  get shopId(): string {
    return this.shop.shopId;
  }

  async search(query: SearchOrdersQuery, body: SearchOrdersBody): Promise<SearchPage> {
    if (!this.deadline.allows(TIME_BUDGET.pageStartMs)) throw new RunPaused("no time left to start a page");
    try {
      return await this.deps.tiktok.searchOrders({
        shopCipher: this.shop.shopCipher,
        query,
        body,
        ...(this.signal ? { signal: this.signal } : {}),
        ...(this.deadline.bounded ? { deadline: this.deadline.minus(TIME_BUDGET.pageCommitReserveMs) } : {}),
      });
    } catch (error) {
      if (!isOutOfTime(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      this.deps.log.info("incremental sync paused: the page does not fit in the time left", {
        shopId: this.shopId,
        body,
        reason,
      });
      throw new RunPaused(reason, { cause: error });
    }
  }

  /**
   * Stores a page, skipping orders this run already wrote in the same version (`written`: id →
   * update_time), and remembers what it wrote. `fresh` counts the orders new to this run.
   */
  async commit(
    rawOrders: readonly unknown[],
    written: Map<string, number>,
  ): Promise<{ valid: readonly NormalizedOrder[]; fresh: number }> {
    const deps = this.deps;
    const alreadyWritten = (order: NormalizedOrder) => written.get(order.orderId) === order.updateTime;
    const result = await writePage(
      { orders: deps.orders, state: deps.state, storeRecipientData: deps.settings.storeRecipientData },
      this.shopId,
      rawOrders,
      deps.clock.nowMs(),
      { source: "incremental", skip: alreadyWritten },
    );
    const counts = this.counts;
    counts.pages += 1;
    counts.inserted += result.inserted;
    counts.updated += result.updated;
    counts.unchanged += result.unchanged;
    counts.stale += result.stale;
    counts.quarantined += result.quarantined;
    let fresh = 0;
    for (const order of result.valid) {
      if (!alreadyWritten(order)) fresh += 1;
      written.set(order.orderId, order.updateTime);
      this.maxUpdateTime = Math.max(this.maxUpdateTime ?? order.updateTime, order.updateTime);
    }
    return { valid: result.valid, fresh };
  }

  /** Commits the restart position and renews the lock lease (conditional on holding the lock). */
  checkpoint(position: number): Promise<void> {
    const { deps } = this;
    return deps.state.checkpoint(this.shopId, this.runId, deps.settings.lockLeaseMs, {
      runId: this.runId,
      position,
      windowEnd: this.windowEnd,
    });
  }

  /** Logs (ids only) a page holding orders outside its query's range, or not sorted by its key. */
  reportIrregularPage(
    scan: ByValueScan,
    from: number,
    served: readonly NormalizedOrder[],
    inRange: readonly NormalizedOrder[],
  ): void {
    if (inRange.length < served.length) {
      const inside = new Set(inRange);
      this.log.warn(
        "search page holds orders outside the query's range; they do not move the restart point",
        {
          shopId: this.shopId,
          ...scan.describe(from),
          orderIds: served.filter((order) => !inside.has(order)).map((order) => order.orderId),
        },
      );
    }
    const sorted = served.every(
      (order, index) => index === 0 || scan.keyOf(order) >= scan.keyOf(served[index - 1] as NormalizedOrder),
    );
    if (!sorted) {
      this.log.warn(
        `search page not sorted by ${scan.sortField}; the restart point is its highest key in range`,
        {
          shopId: this.shopId,
          ...scan.describe(from),
          orderIds: served.map((order) => order.orderId),
        },
      );
    }
  }
}

/**
 * Pages through a scan by value: every next query restarts at the highest key committed so far, and
 * page_token is followed only while a page sits inside key second `from` (more than a page shares it).
 * The end is a page without a next token whose query served everything it counted. A short page with a
 * token is not the end (TikTok may cap or cut pages). `written` (id → update_time) skips re-read orders.
 */
async function scanByValue(
  reader: WindowReader,
  scan: ByValueScan,
  start: number,
  written: Map<string, number>,
  pageSize: number,
): Promise<void> {
  let from = start;
  let pageToken: string | undefined;
  /** Orders the current query (its first page and those its tokens led to) has served. */
  let servedInQuery = 0;
  let withoutProgress = 0;
  let lastRefusal: unknown;
  const restartAt = (key: number) => {
    if (key !== from) {
      from = key;
      scan.forget?.(written, from);
      withoutProgress = 0;
    }
    pageToken = undefined;
    servedInQuery = 0;
  };
  const readWholeSecond = async (why: StuckSecond) => {
    await scan.readSecond(from, why);
    restartAt(from + 1);
    await reader.checkpoint(scan.position(from));
  };

  while (from < scan.end) {
    if (withoutProgress >= MAX_REQUESTS_WITHOUT_PROGRESS) {
      await readWholeSecond({ kind: "stalled", requests: withoutProgress, cause: lastRefusal });
      continue;
    }
    let page: SearchPage;
    try {
      page = await reader.search(
        {
          page_size: pageSize,
          sort_field: scan.sortField,
          sort_order: "ASC",
          ...(pageToken ? { page_token: pageToken } : {}),
        },
        scan.body(from),
      );
    } catch (error) {
      if (!isPageTokenRefusal(error, pageToken !== undefined)) throw error;
      // Restart the query at its last committed key; what this run wrote there is skipped.
      reader.log.warn("page token refused; restarting the query from its last committed key", {
        shopId: reader.shopId,
        ...scan.describe(from),
        error: error instanceof Error ? error.message : String(error),
      });
      lastRefusal = error;
      withoutProgress += 1;
      restartAt(from);
      continue;
    }
    const { valid, fresh } = await reader.commit(page.orders, written);
    servedInQuery += page.orders.length;
    const inRange = valid.filter((order) => scan.inRange(order, from));
    reader.reportIrregularPage(scan, from, valid, inRange);
    const pageMax = inRange.reduce((max, order) => Math.max(max, scan.keyOf(order)), from);
    // A query can end before its total_count: TikTok pages through a limited number of results per
    // query (the result cap). Only a query that served everything it counted has reached the end.
    const capped = !page.nextPageToken && servedInQuery < page.totalCount;
    if (capped && pageMax <= from) {
      // More orders share key second `from` than one query serves: restarting there by value would
      // ask the same query again.
      await readWholeSecond({ kind: "result-cap", totalCount: page.totalCount, served: servedInQuery });
      continue;
    }
    if (capped) {
      reader.log.warn("query ended before its total_count (result cap); continuing by value", {
        shopId: reader.shopId,
        ...scan.describe(pageMax),
        served: servedInQuery,
        totalCount: page.totalCount,
      });
    }
    const lastPage = !page.nextPageToken && !capped;
    if (pageMax > from) {
      // Restart by value from the newest key of this page.
      restartAt(pageMax);
    } else {
      // The page sits in key second `from`: only the token can move past it.
      pageToken = page.nextPageToken;
      if (fresh > 0) withoutProgress = 0;
      else if (!lastPage) withoutProgress += 1;
    }
    await reader.checkpoint(scan.position(from));
    if (lastPage) return;
  }
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
  const windowStart = Math.max(0, cursor - settings.overlapSeconds, checkpoint?.position ?? 0);
  const deadline = options.deadline ?? Deadline.none();
  const reader = new WindowReader(deps, shop, runId, windowEnd, deadline, options.signal);

  const updateTimeScan: ByValueScan = {
    sortField: "update_time",
    keyOf: (order) => order.updateTime,
    body: (from) => ({ update_time_ge: from, update_time_lt: windowEnd }),
    // An order served at or past windowEnd (a search index lagging the order's current state) is stored
    // all the same, but would jump the restart point past everything not read yet.
    inRange: (order, from) => order.updateTime >= from && order.updateTime < windowEnd,
    end: windowEnd,
    position: (from) => from,
    forget: (written, from) => {
      for (const [orderId, updateTime] of written) if (updateTime < from) written.delete(orderId);
    },
    readSecond: async (second, why) => {
      if (why.kind === "result-cap") {
        throw new ResultCapExceededError(shopId, second, why.totalCount, why.served);
      }
      throw new SearchStalledError(shopId, second, why.requests, { cause: why.cause });
    },
    describe: (from) => ({ lower: from, windowEnd }),
  };

  const result = (stopped?: "deadline") => ({
    windowStart,
    windowEnd,
    counts: reader.counts,
    maxUpdateTime: reader.maxUpdateTime,
    apiBefore,
    ...(stopped ? { stopped } : {}),
  });
  try {
    await scanByValue(reader, updateTimeScan, windowStart, new Map(), pageSize);
  } catch (error) {
    if (error instanceof RunPaused) return result("deadline");
    throw error;
  }
  return result();
}
