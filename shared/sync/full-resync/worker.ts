/**
 * Full-resync worker core (DESIGN rules 8 and 9): one SQS message = one window from page s on, one
 * step per page, paged on in the same invocation while its time allows (a run; see
 * processWindowMessage), each step committed as below before the next.
 *
 * Protocol per step {window n, sequence s}:
 * 1. Read the job (dropped unless RUNNING) and window n (the truth). If the window's sequence is
 *    past s this is a duplicate. If the window's latest step was committed by this very SQS message
 *    (the window records the committing messageId), this is its redelivery after a crash between a
 *    commit and the send: the stored continuation is re-sent. Any other duplicate is dropped —
 *    the copy that committed sends the continuation (or is redelivered and re-sends it).
 * 2. Fetch the page at the stored position: `create_time_ge = lower`, `create_time_lt = end`,
 *    `sort_field=create_time&sort_order=ASC`, page_size 100, the stored page token if any.
 * 3. Upsert the page through writePage (rule 5), skipping ids the window already wrote at `lower`.
 * 4. On the window's first page, a `total_count` above what a window should hold splits the window
 *    there, keeping the page just written (see "Splitting" below).
 * 5. Commit the step in one TransactWriteItems conditional on sequence s: s + 1, the next token, the
 *    checkpoint (newest create_time written and the ids at that second), counts. A last page instead
 *    closes the window and decrements the job's openWindows in the same transaction.
 * 6. Go on with page s + 1 in this invocation (its request already made while page s was written), or
 *    send the continuation {n, s + 1} and let the message be acknowledged. The last window's worker
 *    finalizes the job (conditional, exactly once).
 *
 * Splitting and the result cap: a window's first page is its probe. Windows are split only at
 * sequence 0, on that page's total_count (above the window limit — page budget, result cap — or well
 * above the spread's share), after the page is written: in one transaction the window turns SPLIT and
 * its children are created, the first going on by value from the page's checkpoint with the page's
 * counts (`carried`), the others cutting the rest of the range after the page's newest second for
 * even shares (children re-check their own first page). A window that has committed a step is never
 * split, and no cut lies at or before the kept page's newest second, so no create_time tie can
 * straddle a split point. No call is spent on probing: by default the planner writes one window over
 * the whole range and the workers size it. Should a query still end early (no next token while
 * fewer orders were served than its total_count — the cap, or a cap we were not told about), the
 * window restarts by value from its checkpoint: `create_time_ge` = the newest committed create_time, skipping the ids
 * committed at that second. Every order of the window is therefore read: orders before the
 * checkpoint second were served, the checkpoint second is re-read whole, later ones follow. Only a
 * single second holding more orders than the cap cannot be read through create_time filters: that
 * restart makes no progress and the window is marked FAILED (visible, never silent).
 *
 * Throttling (429 after the client's retries) re-sends the same message with DelaySeconds and acks
 * it, so it never feeds the DLQ. So does a page the invocation's time budget cannot cover: the fetch
 * gets the invocation's deadline minus what the commit needs, and the client throws
 * DeadlineExceededError instead of sleeping a Retry-After, a backoff or a wait for the shop's request
 * budget that would not fit. Only when the attempts themselves kept failing (5xx, timeouts) is that a
 * failure. A refused page token — any non-retryable refusal of a request that carried one, whatever
 * its wording — restarts the window by value from its checkpoint. Restarts in a row that commit no new
 * order are bounded (settings.maxRestartsWithoutProgress): a second holding more than a page of orders
 * needs a token to get past its first page, so with every token refused a restart comes back to the
 * same place; the window is then marked FAILED with that reason (status, resume). Any other error
 * fails the message (partial batch failure); on its last receive the window is marked FAILED before
 * the message goes to the DLQ.
 */

import { MetricName } from "../../observability/metric-names";
import {
  isPageTokenRefusal,
  TikTokRateLimitedError,
  TikTokReauthRequiredError,
} from "../../tiktok/api-errors";
import { Deadline, isOutOfTime, TIME_BUDGET } from "../../time-budget";
import { writePage } from "../page-writer";
import { ApiCallMeter, type ApiCallSnapshot, type SearchPage } from "../ports";
import { type CrashPoint, type FullResyncDeps, windowSplitLimits } from "./deps";
import { messageFor, settleJob } from "./lifecycle";
import { parseWorkMessage, type WorkMessage } from "./messages";
import {
  checkpointRestart,
  type JobRecord,
  type SplitChild,
  type WindowCounts,
  type WindowCursor,
  type WindowRecord,
} from "./model";

/** The part of an SQS record the worker reads (Lambda's SQSRecord satisfies it). */
export interface WorkRecord {
  readonly messageId: string;
  readonly body: string;
  readonly attributes?: { readonly ApproximateReceiveCount?: string | undefined };
}

export type WindowOutcome =
  /** A page committed and its continuation sent. */
  | "advanced"
  /** The window's last page committed. */
  | "done"
  | "split"
  /** Restarted by value from the checkpoint (refused token or a capped query). */
  | "restarted"
  /** Re-sent with a delay after a 429, or because the time budget could not cover the page. */
  | "throttled"
  /** Not started: too little time was left in the invocation; re-sent as a fresh message. */
  | "handed-back"
  /** A duplicate found its step committed but not continued: the stored continuation was re-sent. */
  | "resent"
  /** A duplicate or a lost race: nothing to do. */
  | "duplicate"
  /** The job is not running (cancelled, finished) or unknown. */
  | "dropped"
  /** The window cannot progress and was marked FAILED. */
  | "failed";

interface StepContext {
  readonly deps: FullResyncDeps;
  readonly messageId: string;
  readonly job: JobRecord;
  readonly window: WindowRecord;
  readonly message: WorkMessage;
  readonly receiveCount: number;
  readonly meter: ApiCallMeter;
  /** When the invocation must be done (its end margin already taken off). */
  readonly deadline: Deadline;
  /** Past this, a committed step sends its continuation instead of going on in this invocation. */
  readonly runUntil: Deadline;
  /** Meter reading already committed to the window (so a failure adds only the rest). */
  committed: ApiCallSnapshot;
  /** This page fetched ahead by the previous step of the same message (used if it is the same query). */
  readonly prefetched: PrefetchedPage | undefined;
  /** Set by a committed step that goes on in this invocation instead of sending its continuation. */
  continuation?: { readonly message: WorkMessage; readonly prefetched: PrefetchedPage | undefined };
}

/** A page requested ahead, while the page before it was written (settled: it never rejects). */
interface PrefetchedPage {
  readonly query: WindowQuery;
  readonly result: Promise<{ readonly page: SearchPage } | { readonly error: unknown }>;
}

/** What a window's next request asks for: its range and the stored page token. */
interface WindowQuery {
  readonly lower: number;
  readonly end: number;
  readonly pageToken: string | undefined;
}

function sameQuery(a: WindowQuery, b: WindowQuery): boolean {
  return a.lower === b.lower && a.end === b.end && a.pageToken === b.pageToken;
}

/** Thrown through by the crash hook: a simulated process death is never handed off as an error. */
class SimulatedCrash extends Error {
  constructor(cause: unknown) {
    super("simulated crash", { cause });
    this.name = "SimulatedCrash";
  }
}

const EMPTY_SNAPSHOT: ApiCallSnapshot = { calls: 0, successful: 0, throttled: 0, successfulSearches: 0 };

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export interface ProcessOptions {
  /** When the invocation must be done; the page's fetch gets this minus the commit's reserve. */
  readonly deadline?: Deadline;
  /** This record's share of the invocation: how long its run may go on (the batch handler's split). */
  readonly runMs?: number;
}

/**
 * One SQS message: its page, and while time allows the window's next pages in the same invocation
 * (each step committed exactly as a message of its own would be, the next page fetched while the
 * current one is written). A window thus costs one message per run of pages, not per page, and its
 * TikTok latency overlaps its writes. The run stops well inside the visibility timeout (a third of
 * it, `maxRunMs`) and the invocation's deadline; then the continuation is sent as usual.
 */
export async function processWindowMessage(
  deps: FullResyncDeps,
  record: WorkRecord,
  options: ProcessOptions = {},
): Promise<WindowOutcome> {
  const first = parseWorkMessage(record.body);
  const receiveCount = Math.max(1, Number(record.attributes?.ApproximateReceiveCount ?? "1") || 1);
  const meter = new ApiCallMeter();
  const deadline = options.deadline ?? Deadline.none();
  const runUntil = deadline.within(Math.min(runLimitMs(deps), options.runMs ?? Number.POSITIVE_INFINITY));
  try {
    return await deps.apiCalls.measure(meter, async () => {
      let message = first;
      let prefetched: PrefetchedPage | undefined;
      let committed = EMPTY_SNAPSHOT;
      for (let stepIndex = 0; ; stepIndex += 1) {
        const job = await deps.jobs.getJob(message.shopId, message.jobId);
        if (job?.status !== "RUNNING") {
          deps.log.info("work message dropped: job not running", {
            shopId: message.shopId,
            jobId: message.jobId,
            status: job?.status ?? "unknown",
          });
          return "dropped";
        }
        const window = await deps.windows.getWindow(message.shopId, message.jobId, message.window);
        if (!window) {
          deps.log.warn("work message dropped: unknown window", {
            jobId: message.jobId,
            window: message.window,
          });
          return "dropped";
        }
        const context: StepContext = {
          deps,
          messageId: record.messageId,
          job,
          window,
          message,
          receiveCount,
          meter,
          deadline,
          runUntil,
          committed,
          prefetched,
        };
        let outcome: WindowOutcome;
        try {
          outcome = await step(context);
        } catch (error) {
          if (stepIndex === 0 || error instanceof SimulatedCrash) {
            await onFailure(context, error);
            throw error;
          }
          return handOffFailedStep(context, error);
        }
        committed = context.committed;
        if (!context.continuation) return outcome;
        ({ message, prefetched } = context.continuation);
      }
    });
  } finally {
    const spent = meter.snapshot();
    deps.metrics.record(first.shopId, MetricName.ApiCalls, spent.calls, "Count");
    deps.metrics.record(first.shopId, MetricName.ApiThrottled, spent.throttled, "Count");
  }
}

/** How long one message may go on paging its window: a third of the visibility timeout. */
function runLimitMs(deps: FullResyncDeps): number {
  return deps.settings.maxRunMs ?? (deps.settings.visibilityTimeoutSeconds * 1000) / 3;
}

/**
 * A later step of a message failed: its window is sent on as a message of its own (a fresh
 * receive count, so the failure is retried and, if it persists, dead-lettered like any page), and
 * this message — whose own page committed — is acknowledged. The step's API calls are kept.
 */
async function handOffFailedStep(context: StepContext, error: unknown): Promise<WindowOutcome> {
  const { deps, window } = context;
  await deps.windows.addWindowCounts(window, uncommittedCalls(context)).catch(() => {});
  await deps.workQueue.send([{ message: messageFor(window) }]);
  deps.log.warn("a later page of a message failed; its window goes on as a message of its own", {
    jobId: window.jobId,
    window: window.window,
    sequence: window.seq,
    error: describe(error),
  });
  return "handed-back";
}

/** Keeps the API calls of a failed attempt, and on the last receive marks the window FAILED. */
async function onFailure(context: StepContext, error: unknown) {
  const { deps, window, receiveCount } = context;
  const counts = uncommittedCalls(context);
  try {
    if (receiveCount >= deps.settings.maxReceiveCount) {
      const reason = `message failed ${receiveCount} times (last: ${describe(error)})`;
      if (await deps.windows.failWindow(window, reason, counts)) {
        deps.log.error("window failed: its message goes to the DLQ", {
          shopId: window.shopId,
          jobId: window.jobId,
          window: window.window,
          receiveCount,
          error: describe(error),
        });
        await settleJob(deps, window.shopId, window.jobId);
        return;
      }
    }
    await deps.windows.addWindowCounts(window, counts);
  } catch (bookkeepingError) {
    deps.log.warn("could not record a failed attempt", {
      jobId: window.jobId,
      window: window.window,
      error: describe(bookkeepingError),
    });
  }
}

function uncommittedCalls(context: StepContext): Partial<WindowCounts> {
  const spent = context.meter.since(context.committed);
  return { apiCalls: spent.calls, successfulSearches: spent.successfulSearches, throttled: spent.throttled };
}

/** Takes the uncommitted API-call counts for a write that is about to commit them. */
function takeCalls(context: StepContext): Partial<WindowCounts> {
  const counts = uncommittedCalls(context);
  context.committed = context.meter.snapshot();
  return counts;
}

async function crash(context: StepContext, point: CrashPoint, split = false) {
  try {
    await context.deps.crashAt?.(point, {
      jobId: context.window.jobId,
      window: context.window.window,
      sequence: context.window.seq,
      receiveCount: context.receiveCount,
      split,
    });
  } catch (error) {
    throw new SimulatedCrash(error);
  }
}

async function step(context: StepContext): Promise<WindowOutcome> {
  const { deps, job, window, message } = context;
  // This delivery committed the window's latest step (a message may commit several in a row), so its
  // continuation may never have been sent.
  const ownStep = message.sequence < window.seq && window.committedBy === context.messageId;
  if (window.status === "DONE" || window.status === "SPLIT") {
    if (window.status === "SPLIT" && ownStep) await resendChildren(context);
    // A crash between closing the last window and finalizing leaves this to the redelivery.
    if (job.openWindows <= job.failedWindows) await settleJob(deps, job.shopId, job.jobId);
    return "duplicate";
  }
  if (window.status === "FAILED") return "dropped";
  if (message.sequence < window.seq) {
    if (ownStep) {
      await deps.workQueue.send([{ message: messageFor(window) }]);
      deps.log.info("duplicate delivery re-sent the stored continuation", {
        jobId: window.jobId,
        window: window.window,
        sequence: window.seq,
      });
      return "resent";
    }
    return "duplicate";
  }
  if (message.sequence > window.seq) {
    deps.log.warn("work message ahead of its window; dropped", {
      jobId: window.jobId,
      window: window.window,
      messageSequence: message.sequence,
      windowSequence: window.seq,
    });
    return "dropped";
  }
  return fetchAndCommit(context);
}

async function resendChildren(context: StepContext) {
  const { deps, window } = context;
  const children = await Promise.all(
    (window.children ?? []).map((child) => deps.windows.getWindow(window.shopId, window.jobId, child)),
  );
  const idle = children.filter(
    (child): child is WindowRecord => child !== undefined && child.status === "OPEN" && child.seq === 0,
  );
  if (idle.length === 0) return;
  await deps.workQueue.send(idle.map((child) => ({ message: messageFor(child) })));
  deps.log.info("duplicate delivery re-sent a split's children", {
    jobId: window.jobId,
    window: window.window,
    children: idle.length,
  });
}

/** The request for `query`'s page of the window (its deadline keeps the commit's reserve back). */
async function searchWindowPage(context: StepContext, query: WindowQuery): Promise<SearchPage> {
  const { deps } = context;
  const { shop, tiktok } = await deps.resolveShop(context.window.shopId);
  return tiktok.searchOrders({
    shopCipher: shop.shopCipher,
    query: {
      page_size: deps.settings.pageSize,
      sort_field: "create_time",
      sort_order: "ASC",
      ...(query.pageToken ? { page_token: query.pageToken } : {}),
    },
    body: { create_time_ge: query.lower, create_time_lt: query.end },
    deadline: context.deadline.minus(TIME_BUDGET.pageCommitReserveMs),
  });
}

/** The page at the window's stored position: fetched ahead by the previous step, or now. */
async function windowPage(context: StepContext): Promise<SearchPage> {
  const { window, prefetched } = context;
  const query: WindowQuery = { lower: window.lower, end: window.end, pageToken: window.pageToken };
  if (prefetched && sameQuery(prefetched.query, query)) {
    const settled = await prefetched.result;
    if ("error" in settled) throw settled.error;
    return settled.page;
  }
  return searchWindowPage(context, query);
}

async function fetchAndCommit(context: StepContext): Promise<WindowOutcome> {
  const { deps, window } = context;
  const settings = deps.settings;
  let page: SearchPage;
  try {
    page = await windowPage(context);
  } catch (error) {
    const waitMs = deferral(error);
    if (waitMs !== undefined) return throttled(context, waitMs, "throttled");
    // The shop's authorization needs renewing: retrying will not help, and the DLQ is no place for it.
    // Park the page (SQS's longest delay) until `npm run reauth` installs a new pair; no TikTok call is
    // made meanwhile (the token manager refuses before any request).
    if (error instanceof TikTokReauthRequiredError) return throttled(context, REAUTH_PARK_MS, "parked");
    if (isPageTokenRefusal(error, window.pageToken !== undefined)) {
      return restartFromCheckpoint(context, error);
    }
    throw error;
  }

  // The window's first page is its probe: total_count sizes it (the job's total: from the planner, the
  // root's first page, or — at the root itself — this page).
  const limits = windowSplitLimits(settings, context.job.expectedOrders || page.totalCount);
  const oversized = window.seq === 0 && page.totalCount > limits.splitAbove;

  // Going on in this invocation (within the run's limit, and with time for this page's commit and a
  // whole next page): the next page is requested now, while this one is written.
  const goesOn =
    !context.runUntil.expired() &&
    context.deadline.allows(TIME_BUDGET.pageCommitReserveMs + TIME_BUDGET.pageStartMs);
  const nextQuery: WindowQuery | undefined =
    page.nextPageToken && !oversized && goesOn
      ? { lower: window.lower, end: window.end, pageToken: page.nextPageToken }
      : undefined;
  const prefetched: PrefetchedPage | undefined = nextQuery && {
    query: nextQuery,
    result: searchWindowPage(context, nextQuery).then(
      (next) => ({ page: next }),
      (error: unknown) => ({ error }),
    ),
  };

  const skip = new Set(window.skipIds);
  const isSkipped = (order: { createTime: number; orderId: string }) =>
    order.createTime === window.lower && skip.has(order.orderId);
  const written = await writePage(
    { orders: deps.orders, state: deps.state, storeRecipientData: settings.storeRecipientData },
    window.shopId,
    page.orders,
    deps.clock.nowMs(),
    { source: "full-resync", skip: isSkipped },
  );
  await crash(context, "after-upsert", oversized);

  // The checkpoint: newest create_time written and every id written at that second.
  let lastCreateTime = window.lastCreateTime;
  let lastIds = new Set(window.lastIds);
  let fresh = 0;
  for (const order of written.valid) {
    if (!isSkipped(order)) fresh += 1;
    if (lastCreateTime === undefined || order.createTime > lastCreateTime) {
      lastCreateTime = order.createTime;
      lastIds = new Set([order.orderId]);
    } else if (order.createTime === lastCreateTime) {
      lastIds.add(order.orderId);
    }
  }
  const counts: Partial<WindowCounts> = {
    orders: fresh + written.quarantined,
    pages: 1,
    inserted: written.inserted,
    updated: written.updated,
    unchanged: written.unchanged,
    stale: written.stale,
    quarantined: written.quarantined,
    ...takeCalls(context),
  };
  const cursor: WindowCursor = {
    pageToken: page.nextPageToken,
    lower: window.lower,
    skipIds: window.skipIds,
    lastCreateTime,
    lastIds: [...lastIds],
    queryServed: window.queryServed + page.orders.length,
    queryNew: window.queryNew + fresh,
    ...(window.seq === 0 ? { totalCount: page.totalCount } : {}),
  };

  if (oversized) {
    const kept = { page, counts, checkpoint: written.valid.length > 0 ? cursor : undefined };
    const outcome = await splitKeepingPage(context, kept, limits.childTarget);
    if (outcome) return outcome;
    // No second after the page's newest to cut at: the window is paged on as it is.
  }

  let outcome: WindowOutcome;
  if (page.nextPageToken) {
    if (
      !(await deps.windows.advanceWindow(window, cursor, counts, {
        messageId: context.messageId,
        progressed: fresh > 0,
      }))
    ) {
      return "duplicate";
    }
    await crash(context, "after-window-transaction");
    const next = { ...messageFor(window), sequence: window.seq + 1, pageToken: page.nextPageToken };
    if (prefetched) {
      context.continuation = { message: next, prefetched };
    } else {
      await deps.workQueue.send([{ message: next }]);
      await crash(context, "after-send");
    }
    outcome = "advanced";
  } else if (cursor.queryServed < page.totalCount) {
    outcome = await restartCappedQuery(context, cursor, counts, page.totalCount, fresh > 0);
  } else {
    if (!(await deps.windows.completeWindow(window, cursor, counts, context.messageId))) return "duplicate";
    await crash(context, "after-window-transaction");
    outcome = "done";
  }
  recordPageMetrics(context, counts, outcome === "done" ? -1 : 0);
  if (outcome === "done" || outcome === "failed") await settleJob(deps, window.shopId, window.jobId);
  return outcome;
}

/**
 * The query ended before serving its total_count: a result cap cut it. Restart by value from the
 * checkpoint, unless this query brought nothing new (the cap lies inside one second: no progress).
 */
async function restartCappedQuery(
  context: StepContext,
  cursor: WindowCursor,
  counts: Partial<WindowCounts>,
  totalCount: number,
  progressed: boolean,
): Promise<WindowOutcome> {
  const { deps, window } = context;
  if (cursor.queryNew === 0 || cursor.lastCreateTime === undefined) {
    const reason =
      `a query at create_time ${window.lower} ended after ${cursor.queryServed} of ${totalCount} orders ` +
      "with nothing new: more orders share one second than the API's result cap";
    if (!(await deps.windows.failWindow(window, reason, counts))) return "duplicate";
    deps.log.error("window failed: result cap inside one second", {
      jobId: window.jobId,
      window: window.window,
    });
    return "failed";
  }
  deps.log.info("query capped before its total_count; restarting the window by value", {
    jobId: window.jobId,
    window: window.window,
    served: cursor.queryServed,
    totalCount,
  });
  const restart: WindowCursor = {
    ...(cursor.totalCount !== undefined ? { totalCount: cursor.totalCount } : {}),
    lower: cursor.lastCreateTime,
    skipIds: cursor.lastIds,
    lastCreateTime: cursor.lastCreateTime,
    lastIds: cursor.lastIds,
    queryServed: 0,
    queryNew: 0,
  };
  if (
    !(await deps.windows.advanceWindow(window, restart, counts, {
      restart: true,
      messageId: context.messageId,
      progressed,
    }))
  ) {
    return "duplicate";
  }
  await crash(context, "after-window-transaction");
  await deps.workQueue.send([{ message: { ...messageFor(window), sequence: window.seq + 1 } }]);
  await crash(context, "after-send");
  return "restarted";
}

/**
 * Refused or expired page token: restart the window from its last committed checkpoint — unless the
 * restarts before this one already brought no new order (the bound): then the window is marked FAILED.
 */
async function restartFromCheckpoint(context: StepContext, refusal: unknown): Promise<WindowOutcome> {
  const { deps, window } = context;
  const reason = describe(refusal);
  const stuck = window.restartsWithoutProgress ?? 0;
  if (stuck >= deps.settings.maxRestartsWithoutProgress) {
    const failure =
      `page token refused after ${stuck} restarts in a row that committed no new order ` +
      `(at create_time ${window.lower}, ${new Date(window.lower * 1000).toISOString()}: more orders may ` +
      "share that second than a page holds, and " +
      `TikTok refuses every token); last refusal: ${reason}`;
    if (!(await deps.windows.failWindow(window, failure, takeCalls(context)))) return "duplicate";
    deps.log.error("window failed: page tokens refused without progress", {
      shopId: window.shopId,
      jobId: window.jobId,
      window: window.window,
      lower: window.lower,
      restartsWithoutProgress: stuck,
    });
    await settleJob(deps, window.shopId, window.jobId);
    return "failed";
  }
  const restart = checkpointRestart(window);
  const calls = takeCalls(context);
  if (
    !(await deps.windows.advanceWindow(window, restart, calls, {
      restart: true,
      messageId: context.messageId,
    }))
  ) {
    return "duplicate";
  }
  deps.log.warn("restarting window from its checkpoint", {
    jobId: window.jobId,
    window: window.window,
    reason,
    lower: restart.lower,
  });
  await crash(context, "after-window-transaction");
  await deps.workQueue.send([{ message: { ...messageFor(window), sequence: window.seq + 1 } }]);
  await crash(context, "after-send");
  return "restarted";
}

interface KeptPage {
  readonly page: { readonly orders: readonly unknown[]; readonly totalCount: number };
  /** The page's counts (orders, page, outcomes, API calls), as a page commit would add them. */
  readonly counts: Partial<WindowCounts>;
  /** The window's checkpoint after the page; undefined when the page stored no valid order. */
  readonly checkpoint: WindowCursor | undefined;
}

/**
 * Where to cut [from, end) into `parts` windows for `remaining` orders spread evenly over it, the first
 * taking `firstShare` of them: ascending cuts strictly inside (from, end). Fewer when the span is short.
 */
export function splitCuts(from: number, end: number, remaining: number, firstShare: number, parts: number) {
  const cuts: number[] = [];
  const span = end - from;
  const share = remaining / parts;
  for (let index = 1; index < parts; index += 1) {
    const before = firstShare + (index - 1) * share;
    const cut = from + Math.round((span * before) / Math.max(1, remaining));
    const previous = cuts.at(-1) ?? from;
    const bounded = Math.min(end - 1, Math.max(previous + 1, cut));
    if (bounded > previous && bounded < end) cuts.push(bounded);
  }
  return cuts;
}

/**
 * The window's first page showed more orders than a window should hold: split it there, keeping the
 * page. Its orders are already written; in one transaction the window becomes SPLIT and its children
 * are created, the first going on from the page's checkpoint (by value: `create_time_ge` = the page's
 * newest second, skipping the ids written there) with the page's counts, the others covering the rest
 * of the range, cut for `target` orders each by the page's total_count (orders assumed even in time
 * after the page). Nothing is read twice but the skipped ids at that second; nothing is skipped: every
 * cut lies after the page's newest second, so its ties stay with the first child. Crash points as for
 * a page: a redelivery before the transaction re-reads and re-writes the page (unchanged), after it
 * re-sends the children; a duplicate after it finds the window SPLIT and writes nothing.
 *
 * A page that stored no valid order (all quarantined) sets no checkpoint: the split is then made
 * without keeping it (counts dropped, the children read it again). Returns undefined, committing
 * nothing, when no second is left after the checkpoint to cut at.
 */
async function splitKeepingPage(
  context: StepContext,
  kept: KeptPage,
  target: number,
): Promise<WindowOutcome | undefined> {
  const { deps, window } = context;
  const { totalCount } = kept.page;
  // Cuts lie after the page's newest second, so that second's ties all stay with the first child.
  const from = kept.checkpoint?.lastCreateTime ?? window.lower;
  if (from + 1 >= window.end) return undefined;
  const keptOrders = kept.checkpoint ? (kept.counts.orders ?? 0) : 0;
  const parts = Math.min(deps.settings.maxSplitFanout, Math.max(2, Math.ceil(totalCount / target)));
  // The page's orders are the query's first; the rest lie at or after its newest second.
  const remaining = Math.max(1, totalCount - (kept.checkpoint ? kept.page.orders.length : 0));
  const share = totalCount / parts;
  const firstShare = Math.max(0, Math.min(remaining, share - keptOrders));
  const cuts = splitCuts(from, window.end, remaining, firstShare, parts);
  if (cuts.length === 0) return undefined;
  const bounds = [window.start, ...cuts, window.end];
  // What the first child starts with: whatever this window already carried (a page its own parent
  // kept) plus the page just written; the window turns SPLIT and its counts leave the sums.
  const carriedCounts = addCounts(withoutCalls(window), kept.checkpoint ? withoutCalls(kept.counts) : {});
  const firstCursor: WindowCursor = kept.checkpoint
    ? checkpointRestart(kept.checkpoint)
    : {
        lower: window.lower,
        skipIds: window.skipIds,
        lastCreateTime: window.lastCreateTime,
        lastIds: window.lastIds,
        queryServed: 0,
        queryNew: 0,
      };
  const children: SplitChild[] = bounds.slice(1).map((end, index) => {
    const span = { start: bounds[index] as number, end };
    if (index > 0) return { ...span, expected: Math.round(share) };
    return {
      ...span,
      expected: Math.round((carriedCounts.orders ?? 0) + firstShare),
      cursor: firstCursor,
      counts: carriedCounts,
    };
  });
  const root = window.parent === undefined && context.job.expectedOrders === 0;
  // The page's API calls (taken into its counts) stay on this window, with any made since.
  const created = await deps.windows.splitWindow(
    window,
    children,
    addCounts(callsOf(kept.counts), takeCalls(context)),
    context.messageId,
    root ? { expectedOrders: totalCount } : {},
  );
  if (!created) return "duplicate";
  deps.log.info("window split on its first page", {
    jobId: window.jobId,
    window: window.window,
    totalCount,
    children: created.length,
    keptOrders,
  });
  await crash(context, "after-window-transaction", true);
  await deps.workQueue.send(created.map((child) => ({ message: messageFor(child) })));
  await crash(context, "after-send", true);
  recordPageMetrics(context, kept.checkpoint ? kept.counts : {}, created.length - 1);
  return "split";
}

/** Order and page counts without the API calls (those stay on the window that made them). */
function withoutCalls(counts: Partial<WindowCounts>): Partial<WindowCounts> {
  return {
    orders: counts.orders ?? 0,
    pages: counts.pages ?? 0,
    inserted: counts.inserted ?? 0,
    updated: counts.updated ?? 0,
    unchanged: counts.unchanged ?? 0,
    stale: counts.stale ?? 0,
    quarantined: counts.quarantined ?? 0,
  };
}

function callsOf(counts: Partial<WindowCounts>): Partial<WindowCounts> {
  return {
    apiCalls: counts.apiCalls ?? 0,
    successfulSearches: counts.successfulSearches ?? 0,
    throttled: counts.throttled ?? 0,
  };
}

function addCounts(a: Partial<WindowCounts>, b: Partial<WindowCounts>): Partial<WindowCounts> {
  const sum: Partial<Record<keyof WindowCounts, number>> = { ...a };
  for (const [field, value] of Object.entries(b) as [keyof WindowCounts, number][]) {
    sum[field] = (sum[field] ?? 0) + value;
  }
  return sum;
}

/** How long a page of a shop that needs re-authorizing waits before it is tried again. */
const REAUTH_PARK_MS = 900_000;
/** A 429 without Retry-After: try the page again after about this long. */
const THROTTLE_WAIT_MS = 5_000;
/** Out of time with nothing to wait for: the page is due again at once (plus jitter). */
const OUT_OF_TIME_WAIT_MS = 1_000;

/**
 * How long to wait before the page is tried again when `error` says "not now" rather than "failed":
 * a 429 left after the client's retries, or a deadline the page could not fit in because of a
 * Retry-After, a backoff after a 429, or a wait for the shop's request budget. A deadline hit while
 * the attempts themselves kept failing (5xx, timeouts) is a failure: undefined.
 */
export function deferral(error: unknown): number | undefined {
  if (error instanceof TikTokRateLimitedError) return error.retryAfterMs ?? THROTTLE_WAIT_MS;
  if (!isOutOfTime(error)) return undefined;
  return error.retryAfterMs ?? OUT_OF_TIME_WAIT_MS;
}

/**
 * The same page again later, acknowledged now (never the DLQ): after a 429 or a deadline it could not
 * fit in ("throttled"), or parked while the shop needs re-authorizing ("parked").
 */
async function throttled(
  context: StepContext,
  waitMs: number,
  why: "throttled" | "parked",
): Promise<WindowOutcome> {
  const { deps, window } = context;
  const random = deps.random ?? Math.random;
  const delaySeconds = Math.min(900, Math.max(1, Math.ceil(waitMs / 1000) + Math.floor(random() * 3)));
  await deps.workQueue.send([{ message: messageFor(window), delaySeconds }]);
  // Keeps the reconciler away until the delayed copy is due.
  await deps.windows.touchWindow(window, deps.clock.nowMs() + delaySeconds * 1000, takeCalls(context));
  deps.log.info(
    why === "parked" ? "page parked until the shop is re-authorized" : "page throttled; re-sent with a delay",
    {
      jobId: window.jobId,
      window: window.window,
      delaySeconds,
    },
  );
  return "throttled";
}

/**
 * A record the invocation had no time to start: sent again as a fresh message and acknowledged. A
 * batch item failure would do the same work later, but it spends one of the message's receives (the
 * last one marks the window FAILED and dead-letters it) and waits out the visibility timeout, so time
 * running short could fail a healthy window. If the send fails, the caller reports the record as a
 * batch item failure instead.
 */
export async function handBack(deps: FullResyncDeps, record: WorkRecord): Promise<WindowOutcome> {
  const message = parseWorkMessage(record.body);
  await deps.workQueue.send([{ message }]);
  deps.log.info("out of time: work message handed back to the queue unstarted", {
    shopId: message.shopId,
    jobId: message.jobId,
    window: message.window,
  });
  return "handed-back";
}

function recordPageMetrics(context: StepContext, counts: Partial<WindowCounts>, openDelta: number) {
  const { deps, window, job } = context;
  const metrics = deps.metrics;
  const shopId = window.shopId;
  metrics.record(shopId, MetricName.JobOrders, counts.orders ?? 0, "Count");
  metrics.record(shopId, MetricName.OrdersInserted, counts.inserted ?? 0, "Count");
  metrics.record(shopId, MetricName.OrdersUpdated, counts.updated ?? 0, "Count");
  metrics.record(shopId, MetricName.OrdersUnchanged, counts.unchanged ?? 0, "Count");
  metrics.record(shopId, MetricName.OrdersStale, counts.stale ?? 0, "Count");
  metrics.record(shopId, MetricName.OrdersQuarantined, counts.quarantined ?? 0, "Count");
  metrics.record(shopId, MetricName.JobWindowsOpen, Math.max(0, job.openWindows + openDelta), "Count");
}
