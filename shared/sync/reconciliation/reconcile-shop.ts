import type {
  JobRepository,
  ReconciliationRepository,
  StoredOrderCounts,
  SyncStateRepository,
} from "../ports";
/**
 * Reconciliation of one shop (issue 18, DESIGN "Push and reconciliation"): finds where DynamoDB and
 * TikTok drifted apart and heals it. Not to be confused with the full-resync reconciler (DESIGN rule 10,
 * shared/sync/full-resync/reconciler.ts), which re-enqueues stalled windows of a running job.
 *
 * A sweep compares the shop's settled history month by month (drift-check.ts narrows a month that
 * differs), and heals every range missing orders with ONE ranged full resync of just those ranges (the
 * shop's single job slot). Orders stored but unknown to TikTok are counted and reported, never deleted.
 *
 * The compared window is [history start, cursor − guard): the incremental sync owns everything newer, and
 * every order it has read is older than its cursor. Counts of a settled `create_time` range move only
 * when an order is really missing and gets written meanwhile (or TikTok removes one), so live traffic
 * — new orders, status changes — never shows as drift. A shop with a full-resync job running is skipped:
 * the job writes the very ranges being counted. With ORDER_RETENTION_DAYS the window starts at
 * now − retention (older orders expire from the table by design).
 *
 * A sweep whose run runs out of time (an API request, many shops) is continued by the next run from the
 * month it stopped at; drift it found is healed before the run ends when planning still fits, else kept
 * as `pending` and healed by the next run. Drift found again in a range whose healing completed, or a
 * healing job that FAILED or was CANCELLED, is drift that persists after healing: counted in
 * ReconciliationDriftPersisting (an alarm) and in status.
 */

import { randomBytes } from "node:crypto";
import type { Clock } from "../../clock";
import { MetricName } from "../../observability/metric-names";
import type { LogPort, MetricsPort } from "../../observability/telemetry";
import { Deadline, DeadlineExceededError, TIME_BUDGET } from "../../time-budget";
import type { ScopedApiCallMeter } from "../full-resync/api-calls";
import type { ShopAccess } from "../full-resync/deps";
import type { ResyncSegment } from "../full-resync/planner";
import { JobAlreadyRunningError } from "../full-resync/resync-errors";
import { ApiCallMeter } from "../ports";
import {
  calendarMonths,
  checkRange,
  DEFAULT_DRIFT_CHECK_SETTINGS,
  type DriftCheckSettings,
  joinAdjacent,
  monthStart,
  type RangeCounts,
} from "./drift-check";
import {
  type ComparedRange,
  type HealingRecord,
  MAX_LISTED_JOBS,
  MAX_LISTED_RANGES,
  type RunOutcome,
  type SweepState,
} from "./model";

export interface ReconciliationSettings extends DriftCheckSettings {
  /** The full resync's history start (unix seconds): nothing older is compared. */
  readonly historyStart: number;
  /** Ranges newer than cursor − guard are left to the incremental sync. */
  readonly guardSeconds: number;
  /** ORDER_RETENTION_DAYS: stored orders expire, so only the last N days are compared. */
  readonly retentionDays?: number | undefined;
  /** Longest lease a run takes on a shop (a run without a deadline, e.g. the CLI). */
  readonly maxLeaseMs: number;
}

export function reconciliationSettings(
  settings: Partial<ReconciliationSettings> & Pick<ReconciliationSettings, "historyStart">,
): ReconciliationSettings {
  return {
    ...DEFAULT_DRIFT_CHECK_SETTINGS,
    guardSeconds: 3_600,
    maxLeaseMs: 15 * 60_000,
    ...settings,
  };
}

export interface HealingStarted {
  readonly jobId: string;
  readonly status: string;
}

export interface ReconciliationDeps {
  readonly state: Pick<SyncStateRepository, "getMeta" | "quarantinedCreateTimes">;
  readonly jobs: Pick<JobRepository, "getJobPointers" | "getJob">;
  readonly counts: Pick<StoredOrderCounts, "countCreated" | "oldestCreateTime">;
  readonly store: ReconciliationRepository;
  readonly resolveShop: (shopId: string) => Promise<ShopAccess>;
  readonly apiCalls: ScopedApiCallMeter;
  /** Starts the ranged full resync of the segments (one job); JobAlreadyRunningError when one runs. */
  readonly heal: (
    shopId: string,
    segments: readonly ResyncSegment[],
    options: { readonly deadline: Deadline },
  ) => Promise<HealingStarted>;
  readonly clock: Clock;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  readonly settings: ReconciliationSettings;
  readonly newRunId?: () => string;
}

export type SkipReason = "job_running" | "not_synced" | "already_running";

export interface ShopReconciliation {
  readonly shopId: string;
  readonly runId: string;
  /** completed: the sweep reached its end; partial: out of time, the next run continues it. */
  readonly status: "completed" | "partial" | "skipped";
  readonly reason?: SkipReason | "out_of_time" | "healing_deferred";
  /** The running job a skipped run found, or the healing job this run started. */
  readonly jobId?: string;
  /** The compared create_time window of the sweep (unix seconds). */
  readonly window?: { readonly from: number; readonly to: number };
  /** Where the sweep continues (its end when complete). */
  readonly checkedUntil?: number;
  /** This run's figures. */
  readonly rangesChecked: number;
  readonly rangesMismatched: number;
  readonly ordersMissing: number;
  readonly extraOrders: number;
  /** Ranges of the healing job this run started. */
  readonly healedRanges: readonly ComparedRange[];
  /** Ranges whose healing is still to start (the next run starts it). */
  readonly pendingRanges: readonly ComparedRange[];
  readonly persisting: number;
  readonly apiCalls: number;
  readonly durationMs: number;
}

export interface ReconcileOptions {
  readonly deadline?: Deadline;
  readonly trigger?: RunOutcome["trigger"];
}

function newRunId(): string {
  return `rec-${randomBytes(6).toString("hex")}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

const overlaps = (a: { from: number; to: number }, b: { from: number; to: number }) =>
  a.from < b.to && b.from < a.to;

/** Orders of a sorted list of create_times in [from, to). */
function countIn(sorted: readonly number[], from: number, to: number): number {
  const firstAtOrAfter = (value: number) => {
    let low = 0;
    let high = sorted.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((sorted[middle] as number) < value) low = middle + 1;
      else high = middle;
    }
    return low;
  };
  return firstAtOrAfter(to) - firstAtOrAfter(from);
}

export async function reconcileShop(
  deps: ReconciliationDeps,
  shopId: string,
  options: ReconcileOptions = {},
): Promise<ShopReconciliation> {
  const deadline = options.deadline ?? Deadline.none();
  const trigger = options.trigger ?? "api";
  const runId = deps.newRunId?.() ?? newRunId();
  const startedMs = deps.clock.nowMs();
  const base = {
    shopId,
    runId,
    rangesChecked: 0,
    rangesMismatched: 0,
    ordersMissing: 0,
    extraOrders: 0,
    healedRanges: [],
    pendingRanges: [],
    persisting: 0,
    apiCalls: 0,
  };
  const skip = async (reason: SkipReason, jobId?: string): Promise<ShopReconciliation> => {
    const durationMs = deps.clock.nowMs() - startedMs;
    await deps.store.recordSkip(shopId, {
      runId,
      atMs: startedMs,
      trigger,
      status: "skipped",
      reason,
      ...(jobId ? { jobId } : {}),
      durationMs,
    });
    deps.log.info("reconciliation skipped", { shopId, runId, reason, ...(jobId ? { jobId } : {}) });
    return { ...base, status: "skipped", reason, ...(jobId ? { jobId } : {}), durationMs };
  };

  // A running job writes the ranges we would count: its counts move, so nothing is compared now.
  const { runningJobId } = await deps.jobs.getJobPointers(shopId);
  if (runningJobId) return skip("job_running", runningJobId);
  const cursor = (await deps.state.getMeta(shopId))?.cursor;
  if (cursor === undefined) return skip("not_synced");
  const leaseMs = Math.min(deadline.remainingMs(), deps.settings.maxLeaseMs) + 60_000;
  if (!(await deps.store.acquire(shopId, runId, startedMs + leaseMs))) return skip("already_running");

  const meter = new ApiCallMeter();
  let failure: unknown;
  let stopReason: ShopReconciliation["reason"];
  let healingJobId: string | undefined;
  let healedRanges: ComparedRange[] = [];
  const found = { checked: 0, mismatched: 0, missing: 0, extra: 0, persisting: [] as ComparedRange[] };
  let sweep: SweepState | undefined;
  let healing: HealingRecord | undefined;
  /** The last healing job, found FAILED or CANCELLED by this run. */
  let healFailed: SweepState["healFailed"];
  try {
    const record = await deps.store.get(shopId);
    healing = record?.healing;
    const access = await deps.resolveShop(shopId);
    const measure = <T>(work: () => Promise<T>) => deps.apiCalls.measure(meter, work);
    const probe = async (from: number, to: number, callDeadline: Deadline) =>
      measure(() =>
        access.tiktok.searchOrders({
          shopCipher: access.shop.shopCipher,
          query: { page_size: 1, sort_field: "create_time", sort_order: "ASC" },
          body: { create_time_ge: from, create_time_lt: to },
          ...(callDeadline.bounded ? { deadline: callDeadline } : {}),
        }),
      );
    const quarantined = await deps.state.quarantinedCreateTimes(shopId);
    const counts: RangeCounts = {
      tiktok: async (from, to, callDeadline) => (await probe(from, to, callDeadline)).totalCount,
      stored: async (from, to, callDeadline) =>
        (await deps.counts.countCreated(shopId, from, to, { deadline: callDeadline })).count +
        countIn(quarantined.createTimes, from, to),
    };

    // The last healing: a job that did not complete means its drift persists (alarm once), and its
    // ranges are healed again by this run.
    let healingHeld = false;
    let requeue: readonly ComparedRange[] = [];
    if (healing) {
      const job = await deps.jobs.getJob(shopId, healing.jobId);
      healingHeld = job?.status === "COMPLETED";
      if (job && (job.status === "FAILED" || job.status === "CANCELLED") && !healing.failureReported) {
        healFailed = { jobId: healing.jobId, status: job.status };
        requeue = healing.ranges;
        healing = { ...healing, failureReported: true };
        deps.log.error("reconciliation: the healing job did not complete; its ranges are healed again", {
          shopId,
          jobId: job.jobId,
          status: job.status,
        });
      }
    }

    const nowMs = deps.clock.nowMs();
    if (!record?.sweep || record.sweep.next >= record.sweep.to) {
      sweep = await startSweep(deps, shopId, runId, nowMs, cursor, {
        tiktokFirst: async (from, to) => {
          const page = await probe(from, to, deadline);
          const first = (page.orders[0] as { create_time?: unknown } | undefined)?.create_time;
          return page.totalCount > 0 && typeof first === "number" ? first : undefined;
        },
        quarantinedFirst: quarantined.createTimes[0],
      });
    } else {
      sweep = { ...record.sweep, runs: record.sweep.runs + 1 };
    }
    // Drift found by the last sweep and not healed yet (time, or a job running then) carries over.
    const carried = record?.sweep && record.sweep.id !== sweep.id ? record.sweep.pending : [];
    sweep = {
      ...sweep,
      lastRunAtMs: nowMs,
      unplacedQuarantined: quarantined.unplaced,
      ...(healFailed ? { healFailed } : {}),
      pending: joinPending([...sweep.pending, ...carried, ...requeue]),
    };

    for (const month of calendarMonths(sweep.next, sweep.to)) {
      // Time for the month's counts, and for planning the healing of what was found.
      const keep = TIME_BUDGET.pageStartMs + (sweep.pending.length > 0 ? TIME_BUDGET.planningStartMs : 0);
      if (!deadline.allows(keep)) {
        stopReason = "out_of_time";
        break;
      }
      let result: Awaited<ReturnType<typeof checkRange>>;
      try {
        result = await checkRange(counts, month, deps.settings, deadline);
      } catch (error) {
        if (error instanceof DeadlineExceededError) {
          // The month is checked again by the next run; nothing of it is kept.
          stopReason = "out_of_time";
          break;
        }
        throw error;
      }
      found.checked += result.rangesChecked;
      found.mismatched += result.mismatched.length;
      const missing = result.mismatched.filter((range) => range.tiktok > range.stored);
      const extra = result.mismatched.filter((range) => range.tiktok < range.stored);
      found.missing += missing.reduce((sum, range) => sum + range.tiktok - range.stored, 0);
      found.extra += extra.reduce((sum, range) => sum + range.stored - range.tiktok, 0);
      if (healing && healingHeld) {
        const ranges = healing.ranges;
        found.persisting.push(...missing.filter((range) => ranges.some((healed) => overlaps(range, healed))));
      }
      sweep = {
        ...sweep,
        next: month.to,
        rangesChecked: sweep.rangesChecked + result.rangesChecked,
        rangesMismatched: sweep.rangesMismatched + result.mismatched.length,
        ordersMissing: sweep.ordersMissing + missing.reduce((sum, r) => sum + r.tiktok - r.stored, 0),
        extraOrders: sweep.extraOrders + extra.reduce((sum, r) => sum + r.stored - r.tiktok, 0),
        extraRanges: [...sweep.extraRanges, ...extra].slice(0, MAX_LISTED_RANGES),
        pending: joinPending([...sweep.pending, ...missing]),
      };
    }
    if (found.persisting.length > 0) {
      sweep = {
        ...sweep,
        persisting: [...sweep.persisting, ...found.persisting].slice(0, MAX_LISTED_RANGES),
      };
    }

    // One job heals every range found missing orders.
    if (sweep.pending.length > 0) {
      if (!deadline.allows(TIME_BUDGET.planningStartMs)) stopReason = "out_of_time";
      else {
        const ranges = sweep.pending;
        try {
          const started = await deps.heal(
            shopId,
            ranges.map((range) => ({ from: range.from, to: range.to, expected: range.tiktok })),
            { deadline },
          );
          healingJobId = started.jobId;
          healedRanges = [...ranges];
          healing = { jobId: started.jobId, startedAtMs: deps.clock.nowMs(), ranges };
          sweep = {
            ...sweep,
            pending: [],
            healingJobIds: [...sweep.healingJobIds, started.jobId].slice(-MAX_LISTED_JOBS),
          };
          deps.log.info("reconciliation: healing started", {
            shopId,
            runId,
            jobId: started.jobId,
            ranges: ranges.map((range) => [range.from, range.to]),
            missing: ranges.reduce((sum, range) => sum + range.tiktok - range.stored, 0),
          });
        } catch (error) {
          if (error instanceof JobAlreadyRunningError) {
            // Started by someone else since we looked: the ranges stay pending for the next run.
            stopReason = "healing_deferred";
            healingJobId = error.runningJobId;
          } else if (error instanceof DeadlineExceededError) stopReason = "out_of_time";
          else throw error;
        }
      }
    }
  } catch (error) {
    failure = error;
  }

  const durationMs = deps.clock.nowMs() - startedMs;
  const complete = sweep !== undefined && sweep.next >= sweep.to;
  const status: ShopReconciliation["status"] = complete && stopReason === undefined ? "completed" : "partial";
  const persisting = found.persisting.length + (healFailed ? 1 : 0);
  if (sweep) sweep = { ...sweep, apiCalls: sweep.apiCalls + meter.calls };
  const lastOutcome: RunOutcome = {
    runId,
    atMs: startedMs,
    trigger,
    status: failure ? "failed" : status,
    ...(failure ? { reason: describe(failure).slice(0, 300) } : stopReason ? { reason: stopReason } : {}),
    ...(healingJobId ? { jobId: healingJobId } : {}),
    durationMs,
  };
  const saved = await deps.store.save(shopId, runId, {
    ...(sweep ? { sweep } : {}),
    ...(healing ? { healing } : {}),
    lastOutcome,
  });
  deps.metrics.record(shopId, MetricName.ReconciliationDrift, found.missing + found.extra, "Count");
  deps.metrics.record(shopId, MetricName.ReconciliationDriftPersisting, persisting, "Count");
  const summary = {
    shopId,
    runId,
    trigger,
    status: lastOutcome.status,
    ...(lastOutcome.reason ? { reason: lastOutcome.reason } : {}),
    rangesChecked: found.checked,
    rangesMismatched: found.mismatched,
    ordersMissing: found.missing,
    extraOrders: found.extra,
    persisting,
    ...(healingJobId ? { jobId: healingJobId } : {}),
    apiCalls: meter.calls,
    durationMs,
    ...(saved ? {} : { leaseLost: true }),
  };
  if (failure) {
    deps.log.error("reconciliation failed", summary);
    throw failure;
  }
  if (found.missing + found.extra > 0 || persisting > 0) deps.log.warn("reconciliation found drift", summary);
  else deps.log.info("reconciliation completed", summary);
  return {
    ...base,
    status,
    ...(stopReason ? { reason: stopReason } : {}),
    ...(healingJobId ? { jobId: healingJobId } : {}),
    ...(sweep ? { window: { from: sweep.from, to: sweep.to }, checkedUntil: sweep.next } : {}),
    rangesChecked: found.checked,
    rangesMismatched: found.mismatched,
    ordersMissing: found.missing,
    extraOrders: found.extra,
    healedRanges,
    pendingRanges: sweep?.pending ?? [],
    persisting,
    apiCalls: meter.calls,
    durationMs,
  };
}

/** Pending ranges sorted, duplicates (a failed healing's ranges found again) dropped, adjacent joined. */
function joinPending(ranges: readonly ComparedRange[]): ComparedRange[] {
  const unique: ComparedRange[] = [];
  for (const range of [...ranges].sort((a, b) => a.from - b.from || a.to - b.to)) {
    const last = unique.at(-1);
    if (last && overlaps(last, range)) {
      // The same drift seen twice (or nested halves): keep the wider range and the newer counts.
      unique[unique.length - 1] = {
        from: Math.min(last.from, range.from),
        to: Math.max(last.to, range.to),
        tiktok: Math.max(last.tiktok, range.tiktok),
        stored: Math.min(last.stored, range.stored),
      };
    } else unique.push(range);
  }
  return joinAdjacent(unique);
}

/**
 * A new sweep: the window [start, cursor − guard), where start is the history start (or now − retention),
 * moved up to the month of the shop's first order on either side — one probe instead of a probe per
 * empty month before the shop opened.
 */
async function startSweep(
  deps: ReconciliationDeps,
  shopId: string,
  runId: string,
  nowMs: number,
  cursor: number,
  first: {
    tiktokFirst: (from: number, to: number) => Promise<number | undefined>;
    quarantinedFirst: number | undefined;
  },
): Promise<SweepState> {
  const { settings } = deps;
  const nowSeconds = Math.floor(nowMs / 1000);
  const retained = settings.retentionDays ? nowSeconds - settings.retentionDays * 86_400 : 0;
  const from = Math.max(settings.historyStart, retained);
  const to = Math.max(from, cursor - settings.guardSeconds);
  const empty: SweepState = {
    id: runId,
    startedAtMs: nowMs,
    from,
    to,
    next: to,
    runs: 1,
    lastRunAtMs: nowMs,
    rangesChecked: 0,
    rangesMismatched: 0,
    ordersMissing: 0,
    extraOrders: 0,
    extraRanges: [],
    pending: [],
    persisting: [],
    healingJobIds: [],
    apiCalls: 0,
    unplacedQuarantined: 0,
  };
  if (to <= from) return empty;
  const [tiktokFirst, storedOldest] = await Promise.all([
    first.tiktokFirst(from, to),
    deps.counts.oldestCreateTime(shopId),
  ]);
  const candidates = [
    tiktokFirst,
    storedOldest === undefined ? undefined : Math.max(from, storedOldest),
    first.quarantinedFirst === undefined ? undefined : Math.max(from, first.quarantinedFirst),
  ].filter((value): value is number => value !== undefined && value < to);
  if (candidates.length === 0) return empty;
  return { ...empty, next: Math.max(from, monthStart(Math.min(...candidates))) };
}
