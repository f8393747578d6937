/**
 * Incremental sync of one shop (DESIGN "Sync semantics" rules 1–7, contract).
 *
 * - The cursor is on update_time; a run reads [cursor − overlap, windowEnd) with windowEnd fixed at
 *   start to now − settle, sorted update_time ASC, by value (window-scan.ts): every next request
 *   restarts from the highest update_time committed so far; page_token is followed only while a whole
 *   page sits inside one second. One second no query gets past (the result cap, tokens always refused)
 *   is read in parts by create_time, then by status; what no filter splits stops the run (typed error).
 * - After each committed page the checkpoint and the lock lease are written in one transaction,
 *   conditional on holding the lock; on completion the cursor becomes windowEnd, never the wall clock.
 */

import { randomUUID } from "node:crypto";
import { unixSeconds } from "../clock";
import { MetricName } from "../observability/metric-names";
import { Deadline, isOutOfTime, TIME_BUDGET } from "../time-budget";
import type { IncrementalSyncDeps, RunCounts } from "./incremental-deps";
import type { ApiCallMeter, ShopRef } from "./ports";
import { type Checkpoint, type IncrementalStop, type LastRun, LockLostError } from "./sync-state";
import { RunPaused, SearchStuckError, WindowReader } from "./window-scan";

export {
  ResultCapExceededError,
  SearchStalledError,
  SearchStuckError,
  StatusSplitIncompleteError,
} from "./window-scan";

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
    // a second one (issue 16 item 7). The checkpoint is read beside it (one round trip, not two).
    const [meta, checkpoint] = await Promise.all([
      deps.state.getMeta(shopId),
      deps.state.getCheckpoint(shopId),
    ]);
    if (meta?.cursor === undefined) {
      if (!deps.startFullResync)
        throw new Error(
          `shop ${shopId} has no cursor and no full resync to start (WORK_QUEUE_URL is not set)`,
        );
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
    const result = await pageThroughWindow(deps, shop, runId, meta.cursor, checkpoint, options);
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
    if (error instanceof SearchStuckError) await reportStuck(deps, shopId, runId, error);
    throw error;
  } finally {
    if (lockHeld) await deps.state.releaseLock(shopId, runId);
  }
}

/**
 * Stopped rather than skip orders or loop: the checkpoint keeps what was written and the cursor stays.
 * Logged, and kept in META (status `incremental_stopped`) until a run completes.
 */
async function reportStuck(
  deps: IncrementalSyncDeps,
  shopId: string,
  runId: string,
  error: SearchStuckError,
) {
  deps.log.error("incremental sync stopped: TikTok's search cannot get past one second", {
    shopId,
    runId,
    second: error.second,
    error: { name: error.name, message: error.message },
  });
  const stop: IncrementalStop = {
    run_id: runId,
    at: new Date(deps.clock.nowMs()).toISOString(),
    error: error.name,
    message: error.message,
    second: error.second,
  };
  try {
    await deps.state.updateMeta(shopId, { incremental_stopped: stop });
  } catch (cause) {
    // The error itself is thrown on (the tick reports it): a failed status write must not hide it.
    deps.log.warn("could not record the stop in META", {
      shopId,
      error: cause instanceof Error ? cause.message : String(cause),
    });
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
  checkpoint: Checkpoint | undefined,
  options: RunOptions,
): Promise<WindowResult> {
  const settings = deps.settings;
  const apiBefore = deps.apiCalls.snapshot();
  const windowEnd = unixSeconds(deps.clock) - settings.settleSeconds;
  // Resume an interrupted run from its last committed page (rule 4), never before cursor − overlap.
  const windowStart = Math.max(0, cursor - settings.overlapSeconds, checkpoint?.position ?? 0);
  const reader = new WindowReader(
    deps,
    shop,
    runId,
    windowEnd,
    settings.pageSize ?? DEFAULT_PAGE_SIZE,
    options.deadline ?? Deadline.none(),
    options.signal,
  );
  const result = (stopped?: "deadline") => ({
    windowStart,
    windowEnd,
    counts: reader.counts,
    maxUpdateTime: reader.maxUpdateTime,
    apiBefore,
    ...(stopped ? { stopped } : {}),
  });
  // A run stopped while reading one second in parts resumes inside it (its checkpoint says where).
  const resumeInside = checkpoint?.createFrom !== undefined && checkpoint.position === windowStart;
  try {
    await reader.read(
      resumeInside ? { position: windowStart, createFrom: checkpoint.createFrom } : { position: windowStart },
    );
  } catch (error) {
    if (error instanceof RunPaused) return result("deadline");
    throw error;
  }
  return result();
}
