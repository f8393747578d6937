/**
 * Full-resync planner (DESIGN rules 6 and 8): takes the shop's single job slot, fixes
 * `windowEnd = now − settle`, writes the job's `create_time` windows to the state table (the truth)
 * and enqueues one SQS message per window.
 *
 * By default (settings.maxProbes = 0) it makes no TikTok call: one window covers the whole range, and
 * its first page — which carries total_count — sizes it. The worker writes that page and splits the
 * window there into children sized from the count, the first of which goes on from the page's
 * checkpoint (worker.ts, "Splitting"). Every call is then a page of orders; planning is instant, even
 * inside the API's 29 s.
 *
 * With maxProbes > 0 the planner sizes windows up front with `total_count` probes (page_size 1):
 * probe the whole range, then cut the biggest range until every range holds at most the planned
 * window size. Only the left part is probed — the right part's count is the parent's minus the left's
 * (create_time windows in the settled past do not change) — so empty years before a shop's first order
 * cost one probe each. Adjacent small ranges are then merged up to the limit and the windows made
 * contiguous over the whole range (gaps are proven empty).
 *
 * If probes run out, the caller's time runs short (a deadline: the tick's or the API request's), or a
 * sizing probe still fails after the client's retries (a flaky shop), the range stays whole and its
 * worker splits it on its first page instead: only the first probe, the job's total, is needed to
 * plan at all, and it gets one more round of retries. Planning does not start without
 * TIME_BUDGET.planningStartMs left, and keeps TIME_BUDGET.planningCommitReserveMs for writing and
 * enqueuing the windows after its last probe.
 */

import { randomBytes } from "node:crypto";
import { unixSeconds } from "../../clock";
import { mapWithConcurrency } from "../../concurrency";
import { MetricName } from "../../observability/metric-names";
import type { LogPort } from "../../observability/telemetry";
import { isRetryableError, type Sleep, withRetries } from "../../tiktok/retry";
import { Deadline, DeadlineExceededError, TIME_BUDGET } from "../../time-budget";
import { ApiCallMeter } from "../ports";
import { type FullResyncDeps, type FullResyncSettings, plannedWindowLimit, type ShopAccess } from "./deps";
import { enqueueWindows, finalizeJob } from "./lifecycle";
import type { JobRecord, JobStatus, PlannedWindow } from "./model";
import {
  EnqueueError,
  FullResyncPlanningError,
  InvalidRangeError,
  JobAlreadyRunningError,
} from "./resync-errors";

export interface FullResyncRange {
  /** Unix seconds, inclusive; default the configured history start. */
  readonly from?: number | undefined;
  /** Unix seconds, exclusive; default (and at most) now − settle. */
  readonly to?: number | undefined;
  /**
   * Re-read only these disjoint `create_time` segments (instead of `[from, to)`), each clipped to settled
   * history, in one job: the reconciliation heals every drifted range of a shop with one job (the shop's
   * single slot). `expected` is the segment's order count when the caller already probed it (the planner
   * then skips that probe).
   */
  readonly segments?: readonly ResyncSegment[] | undefined;
}

export interface ResyncSegment {
  readonly from: number;
  readonly to: number;
  readonly expected?: number;
}

export interface FullResyncStarted {
  readonly jobId: string;
  readonly status: JobStatus;
  readonly rangeStart: number;
  readonly rangeEnd: number;
  readonly windowEnd: number;
  readonly windows: number;
  readonly probes: number;
  readonly expectedOrders: number;
}

/** Sortable and readable, within the API's job_id pattern: `20240501T120000Z-3f9a1c2b`. */
export function newJobId(nowMs: number): string {
  const stamp = new Date(nowMs)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${stamp}-${randomBytes(4).toString("hex")}`;
}

export interface StartOptions {
  /** When the caller (tick, API request) must be done; planning fits its probes inside. */
  readonly deadline?: Deadline;
}

export async function startFullResync(
  deps: FullResyncDeps,
  shopId: string,
  range: FullResyncRange = {},
  options: StartOptions = {},
): Promise<FullResyncStarted> {
  const settings = deps.settings;
  const deadline = options.deadline ?? Deadline.none();
  if (!deadline.allows(TIME_BUDGET.planningStartMs)) {
    // Checked before the job exists, so running short leaves nothing behind to clean up.
    throw new DeadlineExceededError("too little time left to plan a full resync", deadline.remainingMs());
  }
  const windowEnd = unixSeconds(deps.clock) - settings.settleSeconds;
  const segments = range.segments ? clipSegments(range.segments, windowEnd) : undefined;
  const rangeStart = segments ? (segments[0]?.from ?? 0) : Math.max(0, range.from ?? settings.historyStart);
  const rangeEnd = segments ? (segments.at(-1)?.to ?? 0) : Math.min(range.to ?? windowEnd, windowEnd);
  if (rangeStart >= rangeEnd) throw new InvalidRangeError(rangeStart, rangeEnd);
  // Only a whole-history job may stand in for a first sync and set the cursor (rule 6).
  const fullHistory = range.from === undefined && range.to === undefined && segments === undefined;
  const access = await deps.resolveShop(shopId);
  const job = await deps.jobs.createJob({
    shopId,
    jobId: deps.newJobId?.() ?? newJobId(deps.clock.nowMs()),
    rangeStart,
    rangeEnd,
    windowEnd,
    fullHistory,
  });
  const meter = new ApiCallMeter();
  let plan: WindowPlan;
  let windows: Awaited<ReturnType<FullResyncDeps["jobs"]["activateJob"]>>;
  try {
    // Healing segments come with their counts (no probe; any bisection only within maxProbes); a
    // range is one window sized by its own first page unless the planner may probe.
    plan = segments
      ? await deps.apiCalls.measure(meter, () =>
          planSegments(access, segments, settings, { log: deps.log, deadline }),
        )
      : settings.maxProbes > 0
        ? await deps.apiCalls.measure(meter, () =>
            planWindows(access, rangeStart, rangeEnd, settings, { log: deps.log, deadline }),
          )
        : wholeRange(rangeStart, rangeEnd);
    windows = await deps.jobs.activateJob(job, plan.windows, {
      probes: plan.probes,
      apiCalls: meter.calls,
      successfulSearches: meter.successfulSearches,
      expectedOrders: plan.expectedOrders,
    });
  } catch (error) {
    await deps.jobs.failJob(job, "planning failed").catch(() => undefined);
    deps.log.error("full resync planning failed", { shopId, jobId: job.jobId, error: describe(error) });
    throw new FullResyncPlanningError(shopId, job.jobId, { cause: error });
  }
  const started = {
    jobId: job.jobId,
    rangeStart,
    rangeEnd,
    windowEnd,
    windows: windows.length,
    probes: plan.probes,
    expectedOrders: plan.expectedOrders,
  };
  // Rule 6: a whole-history job's activation has set the shop's cursor (if it had none) in the same
  // transaction; a planning that failed before it leaves a never-synced shop to its next first sync.
  if (windows.length === 0 && plan.windows.length > 0) return { ...started, status: "CANCELLED" };
  deps.metrics.record(shopId, MetricName.JobWindowsOpen, windows.length, "Count");
  deps.log.info("full resync planned", {
    shopId,
    jobId: job.jobId,
    rangeStart,
    rangeEnd,
    windows: windows.length,
    probes: plan.probes,
    expectedOrders: plan.expectedOrders,
  });
  if (windows.length === 0) {
    const activated: JobRecord = { ...job, phase: "running" };
    await finalizeJob(deps, activated);
    return { ...started, status: "COMPLETED" };
  }
  try {
    await enqueueWindows(deps, windows);
  } catch (error) {
    // The windows are stored: the reconciler enqueues what is missing once they look stalled.
    if (!(error instanceof EnqueueError)) throw error;
    deps.log.warn("some windows could not be enqueued; the reconciler will retry", {
      shopId,
      jobId: job.jobId,
      failed: error.failed,
    });
  }
  return { ...started, status: "RUNNING" };
}

/**
 * For a first sync (rule 6) and `force_full` callers that prefer joining a running job to a 409:
 * the new job, or the one already running.
 */
export async function startOrJoinFullResync(
  deps: FullResyncDeps,
  shopId: string,
  range: FullResyncRange = {},
  options: StartOptions = {},
): Promise<{ jobId: string; started: boolean }> {
  try {
    return { jobId: (await startFullResync(deps, shopId, range, options)).jobId, started: true };
  } catch (error) {
    if (error instanceof JobAlreadyRunningError) return { jobId: error.runningJobId, started: false };
    throw error;
  }
}

/**
 * The plan without probes: one window over the whole range. Its first page is its probe: the worker
 * splits it there, keeping the page, into windows sized from that page's total_count.
 */
export function wholeRange(from: number, to: number): WindowPlan {
  return { windows: [{ start: from, end: to }], probes: 0, expectedOrders: 0 };
}

export interface WindowPlan {
  readonly windows: PlannedWindow[];
  readonly probes: number;
  readonly expectedOrders: number;
}

interface CountedRange {
  readonly start: number;
  readonly end: number;
  readonly count: number;
}

/** Parallel probes in flight (the shop's rate limiter still paces them). */
const PROBE_CONCURRENCY = 4;

/** Rounds of the client's retries for the job's total, the one probe planning cannot do without. */
const TOTAL_PROBE_ROUNDS = 2;

export interface PlanOptions {
  readonly log?: LogPort;
  /** Injected in tests. */
  readonly sleep?: Sleep;
  /** Probes end TIME_BUDGET.planningCommitReserveMs before it; ranges left unsized go to workers. */
  readonly deadline?: Deadline;
  /** The range's order count when the caller already probed it: the first probe is skipped. */
  readonly knownTotal?: number;
}

/** Segments sorted, clipped to [0, windowEnd), empty ones dropped; overlapping ones refused. */
function clipSegments(segments: readonly ResyncSegment[], windowEnd: number): ResyncSegment[] {
  const clipped = segments
    .map((segment) => ({ ...segment, from: Math.max(0, segment.from), to: Math.min(segment.to, windowEnd) }))
    .filter((segment) => segment.from < segment.to)
    .sort((a, b) => a.from - b.from);
  for (let index = 1; index < clipped.length; index += 1) {
    const previous = clipped[index - 1] as ResyncSegment;
    const segment = clipped[index] as ResyncSegment;
    if (segment.from < previous.to)
      throw new InvalidRangeError(segment.from, previous.to, "is covered by two segments");
  }
  return clipped;
}

/** Plans each segment on its own (windows exactly cover each segment, nothing between them). */
export async function planSegments(
  access: ShopAccess,
  segments: readonly ResyncSegment[],
  settings: FullResyncSettings,
  options: PlanOptions = {},
): Promise<WindowPlan> {
  const windows: PlannedWindow[] = [];
  let probes = 0;
  let expectedOrders = 0;
  for (const segment of segments) {
    const plan = await planWindows(access, segment.from, segment.to, settings, {
      ...options,
      ...(segment.expected !== undefined ? { knownTotal: segment.expected } : {}),
    });
    windows.push(...plan.windows);
    probes += plan.probes;
    expectedOrders += plan.expectedOrders;
  }
  return { windows, probes, expectedOrders };
}

export async function planWindows(
  access: ShopAccess,
  from: number,
  to: number,
  settings: FullResyncSettings,
  options: PlanOptions = {},
): Promise<WindowPlan> {
  let probes = 0;
  const probeDeadline = options.deadline?.minus(TIME_BUDGET.planningCommitReserveMs);
  /** Set once a probe ran out of time: the remaining ranges are left to their workers. */
  let outOfProbeTime = false;
  const probe = async (start: number, end: number): Promise<number> => {
    probes += 1;
    const page = await access.tiktok.searchOrders({
      shopCipher: access.shop.shopCipher,
      query: { page_size: 1, sort_field: "create_time", sort_order: "ASC" },
      body: { create_time_ge: start, create_time_lt: end },
      ...(probeDeadline?.bounded ? { deadline: probeDeadline } : {}),
    });
    return page.totalCount;
  };
  const total =
    options.knownTotal ??
    (await withRetries(() => probe(from, to), {
      maxAttempts: TOTAL_PROBE_ROUNDS,
      baseDelayMs: 1_000,
      maxDelayMs: 2_000,
      ...(options.sleep ? { sleep: options.sleep } : {}),
      ...(probeDeadline?.bounded ? { deadline: probeDeadline } : {}),
    }));
  if (total === 0) return { windows: [], probes, expectedOrders: 0 };
  const limit = plannedWindowLimit(settings, total);

  let ranges: CountedRange[] = [{ start: from, end: to, count: total }];
  // Ranges whose sizing probe failed: left whole for their worker to split on its first page.
  const leftToWorkers = new Set<CountedRange>();
  for (;;) {
    if (outOfProbeTime || (probeDeadline && !probeDeadline.allows(TIME_BUDGET.minAttemptMs))) break;
    const budget = settings.maxProbes - probes;
    // The biggest splittable ranges first, as many as the probe budget allows this round.
    const oversized = ranges
      .filter((range) => range.count > limit && range.end - range.start > 1 && !leftToWorkers.has(range))
      .sort((a, b) => b.count - a.count)
      .slice(0, Math.max(0, Math.floor(budget / 2)));
    if (oversized.length === 0) break;
    const halves = await mapWithConcurrency(oversized, PROBE_CONCURRENCY, async (range) => {
      const middle = cutPoint(range, limit);
      try {
        const left = await probe(range.start, middle);
        let right = range.count - left;
        // A derived count ≤ 0 would drop data if the probes disagreed: confirm it.
        if (right <= 0) right = await probe(middle, range.end);
        return [
          { start: range.start, end: middle, count: left },
          { start: middle, end: range.end, count: right },
        ];
      } catch (error) {
        // Out of time, however it came: the range is sized by its worker instead.
        if (error instanceof DeadlineExceededError) outOfProbeTime = true;
        else if (!isRetryableError(error)) throw error;
        leftToWorkers.add(range);
        options.log?.warn("planning probe failed; the window is left for its worker to split", {
          shopId: access.shop.shopId,
          start: range.start,
          end: range.end,
          count: range.count,
          error: error instanceof Error ? error.name : String(error),
        });
        return [range];
      }
    });
    const replaced = new Map(oversized.map((range, index) => [range, halves[index] ?? []]));
    ranges = ranges.flatMap((range) => replaced.get(range) ?? [range]).filter((range) => range.count > 0);
  }
  return { windows: mergeRanges(ranges, from, to, limit), probes, expectedOrders: total };
}

/**
 * Where to cut an oversized range: a range of `count` orders needs k = ⌈count / limit⌉ windows, so
 * the left part gets ⌊k / 2⌋ of them, placed by the range's average density. Windows come out nearly
 * full (count / k each when orders are even), where halving leaves many about half full — and every
 * extra window costs a probe and a partial last page. Uneven density is corrected by the next cuts.
 */
export function cutPoint(range: CountedRange, limit: number): number {
  const windows = Math.ceil(range.count / limit);
  const share = Math.floor(windows / 2) / windows;
  const span = range.end - range.start;
  return range.start + Math.min(span - 1, Math.max(1, Math.round(span * share)));
}

/** Greedy merge of adjacent ranges up to `limit`, then contiguous over [from, to). */
export function mergeRanges(ranges: readonly CountedRange[], from: number, to: number, limit: number) {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const merged: { start: number; end: number; count: number }[] = [];
  for (const range of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.count + range.count <= limit) {
      last.end = range.end;
      last.count += range.count;
    } else {
      merged.push({ ...range });
    }
  }
  return merged.map(
    (range, index): PlannedWindow => ({
      start: index === 0 ? from : range.start,
      end: merged[index + 1]?.start ?? to,
      expected: range.count,
    }),
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
