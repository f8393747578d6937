/**
 * The full resync's domain model (DESIGN rule 8): a job over a create_time range, cut into windows that
 * workers page through, each with its committed cursor and counts. The job repository (a port, in
 * ../ports.ts) stores them; the DynamoDB adapter is shared/store/job-store.ts.
 */

export type JobStatus = "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED";
/** RUNNING jobs are `planning` until their windows are written, then `running`; `finished` after. */
export type JobPhase = "planning" | "running" | "finished";
/** SPLIT: replaced by child windows (counts as closed). FAILED: its message went to the DLQ. */
export type WindowStatus = "OPEN" | "DONE" | "SPLIT" | "FAILED";

export interface JobRecord {
  readonly shopId: string;
  readonly jobId: string;
  readonly status: JobStatus;
  readonly phase: JobPhase;
  /** create_time range of the job, unix seconds: [rangeStart, rangeEnd). */
  readonly rangeStart: number;
  readonly rangeEnd: number;
  /** now − settle when the job was created; rangeEnd ≤ windowEnd. */
  readonly windowEnd: number;
  /** The whole history up to windowEnd (not a date-range backfill). */
  readonly fullHistory: boolean;
  readonly createdAtMs: number;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly updatedAtMs: number;
  /** Windows ever created (split parents included). */
  readonly windowsTotal: number;
  /** Windows not DONE or SPLIT (FAILED ones included: they still need work). */
  readonly openWindows: number;
  readonly failedWindows: number;
  /** Next free window number (children of splits take numbers from here). */
  readonly nextWindow: number;
  readonly probes: number;
  readonly splits: number;
  readonly plannerApiCalls: number;
  readonly plannerSuccessfulSearches: number;
  /** Orders the planner's probes counted in the range. */
  readonly expectedOrders: number;
  readonly recordsSynced?: number;
  readonly reason?: string;
}

export interface WindowCounts {
  /** Orders this window stored or quarantined (each order once, re-reads excluded). */
  readonly orders: number;
  readonly pages: number;
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly stale: number;
  readonly quarantined: number;
  /** HTTP requests to TikTok, retries included. */
  readonly apiCalls: number;
  readonly successfulSearches: number;
  readonly throttled: number;
}

export const ZERO_COUNTS: WindowCounts = {
  orders: 0,
  pages: 0,
  inserted: 0,
  updated: 0,
  unchanged: 0,
  stale: 0,
  quarantined: 0,
  apiCalls: 0,
  successfulSearches: 0,
  throttled: 0,
};

/** The counters a window (and the job, summed) carries. */
export const COUNT_FIELDS = Object.keys(ZERO_COUNTS) as (keyof WindowCounts)[];

/** Where the window's next request starts and what it already holds (its committed checkpoint). */
export interface WindowCursor {
  /** Token of the next page of the current query; absent = start a query at `lower`. */
  readonly pageToken?: string | undefined;
  /** create_time_ge of the current query (the window's start, or a by-value restart point). */
  readonly lower: number;
  /** Ids at second `lower` this window already stored: skipped when a restarted query re-reads them. */
  readonly skipIds: readonly string[];
  /** create_time of the newest order committed, and the ids committed at that second. */
  readonly lastCreateTime?: number | undefined;
  readonly lastIds: readonly string[];
  /** Orders the current query returned so far, and how many of them were new to this window. */
  readonly queryServed: number;
  readonly queryNew: number;
  /** Recorded from the window's first page only. */
  readonly totalCount?: number | undefined;
}

export interface WindowRecord extends WindowCounts, WindowCursor {
  readonly shopId: string;
  readonly jobId: string;
  readonly window: number;
  /** create_time range: [start, end). */
  readonly start: number;
  readonly end: number;
  readonly status: WindowStatus;
  /** Page sequence: bumped by every committed step; messages carry the sequence they work on. */
  readonly seq: number;
  /** total_count of the window's first page. */
  readonly totalCount?: number;
  /** The planner's (or split parent's) estimate of the orders in the window. */
  readonly expected?: number;
  readonly parent?: number;
  readonly children?: readonly number[];
  /** By-value restarts (refused token, result cap). */
  readonly restarts: number;
  /**
   * Restarts since the window last committed a new order (absent on windows written before it existed:
   * 0). Bounded by the worker: a refused token inside a second holding more than a page of orders sends
   * the restart back to that second, where it needs a token again.
   */
  readonly restartsWithoutProgress?: number;
  /** Reconciler re-enqueues since the last progress. */
  readonly requeues: number;
  /**
   * Orders counted before the window's own first query: the page its split parent kept (first child
   * only). Its totalCount covers the rest, so progress expects totalCount + carried.
   */
  readonly carried?: number;
  /**
   * SQS messageId of the delivery that committed the last step: only a redelivery of that same
   * message may have lost the continuation (it crashed between its transaction and its send).
   */
  readonly committedBy?: string;
  readonly createdAtMs: number;
  /** Last committed step. */
  readonly updatedAtMs: number;
  /** Last sign of life: a step, a re-enqueue, or a throttled page's planned redelivery time. */
  readonly activityAtMs: number;
  readonly failedReason?: string;
}

export interface PlannedWindow {
  readonly start: number;
  readonly end: number;
  readonly expected?: number;
}

/** A child of a split. The first child of a split that kept its page starts past that page. */
export interface SplitChild extends PlannedWindow {
  /** Where it starts reading: the kept page's checkpoint (a by-value start at its newest second). */
  readonly cursor?: WindowCursor;
  /** What it starts with: the kept page's counts (orders, page, inserted, …). */
  readonly counts?: Partial<WindowCounts>;
}

export interface CreateJobInput {
  readonly shopId: string;
  readonly jobId: string;
  readonly rangeStart: number;
  readonly rangeEnd: number;
  readonly windowEnd: number;
  readonly fullHistory: boolean;
}

export interface PlanningFigures {
  readonly probes: number;
  readonly apiCalls: number;
  readonly successfulSearches: number;
  readonly expectedOrders: number;
}

/**
 * Where a window restarts by value when it cannot go on from its page token: at the second of the newest
 * order it committed, skipping the ids it committed there (or where its current query started, when it
 * has committed nothing yet). Nothing before that second can be missed, nothing committed is counted twice.
 */
export function checkpointRestart(window: WindowCursor): WindowCursor {
  return window.lastCreateTime === undefined
    ? { lower: window.lower, skipIds: window.skipIds, lastIds: [], queryServed: 0, queryNew: 0 }
    : {
        lower: window.lastCreateTime,
        skipIds: window.lastIds,
        lastCreateTime: window.lastCreateTime,
        lastIds: window.lastIds,
        queryServed: 0,
        queryNew: 0,
      };
}
