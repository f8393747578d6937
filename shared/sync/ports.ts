/**
 * What the sync core needs from the outside world. Adapters implement these: TikTok in shared/tiktok,
 * DynamoDB in shared/store, SQS in shared/queues. The core imports no AWS SDK (test/unit/core-boundary).
 */

import type { NormalizedOrder } from "../orders/normalize";
import type { StoredVersion, UpsertResult, VersionsRead } from "../orders/versions";
import type { SearchOrdersBody, SearchOrdersQuery } from "../tiktok/api-types";
import type { ApiCallEvent } from "../tiktok/client";
import type { Deadline } from "../time-budget";
import type {
  CreateJobInput,
  JobRecord,
  PlannedWindow,
  PlanningFigures,
  SplitChild,
  WindowCounts,
  WindowCursor,
  WindowRecord,
} from "./full-resync/model";
import type { HealingRecord, ReconciliationRecord, RunOutcome, SweepState } from "./reconciliation/model";
import type { Checkpoint, LastRun, QuarantinedOrder, SyncMeta } from "./sync-state";

/** One page of an order search: its orders (raw), the next page's token, and the query's total. */
export interface SearchPage {
  orders: unknown[];
  nextPageToken?: string | undefined;
  totalCount: number;
}

export interface OrderSearchPort {
  searchOrders(request: {
    shopCipher: string;
    query: SearchOrdersQuery;
    body: SearchOrdersBody;
    signal?: AbortSignal;
    /** The call (retries and waits included) ends by then, or throws DeadlineExceededError. */
    deadline?: Deadline;
  }): Promise<SearchPage>;
}

export interface ShopRef {
  readonly shopId: string;
  readonly shopCipher: string;
}

/** Counts the HTTP requests sent to TikTok (retries included), fed by the client's onApiCall. */
export class ApiCallMeter {
  calls = 0;
  successful = 0;
  throttled = 0;
  successfulSearches = 0;

  readonly record = (event: ApiCallEvent): void => {
    this.calls += 1;
    if (event.ok) this.successful += 1;
    if (event.throttled) this.throttled += 1;
    if (event.ok && event.endpoint.endsWith("/orders/search")) this.successfulSearches += 1;
  };

  snapshot(): ApiCallSnapshot {
    return {
      calls: this.calls,
      successful: this.successful,
      throttled: this.throttled,
      successfulSearches: this.successfulSearches,
    };
  }

  since(before: ApiCallSnapshot): ApiCallSnapshot {
    return {
      calls: this.calls - before.calls,
      successful: this.successful - before.successful,
      throttled: this.throttled - before.throttled,
      successfulSearches: this.successfulSearches - before.successfulSearches,
    };
  }
}

export interface ApiCallSnapshot {
  readonly calls: number;
  readonly successful: number;
  readonly throttled: number;
  readonly successfulSearches: number;
}

/** The orders table: conditional upserts (newer wins, DESIGN rule 5) and the stored versions. */
export interface OrderRepository {
  /** The largest item the store takes; a larger order is quarantined instead. */
  readonly maxItemBytes: number;
  /**
   * Upserts a page of orders for one shop; duplicates within the page are collapsed first.
   * `versionsRead`: stored versions the caller already read (reused instead of reading again).
   */
  upsert(
    shopId: string,
    orders: readonly NormalizedOrder[],
    fetchedAt: number,
    options?: { readonly versionsRead?: VersionsRead },
  ): Promise<UpsertResult>;
  /** The size of the item this order would be stored as. */
  storedItemBytes(shopId: string, order: NormalizedOrder, fetchedAt: number): number;
  /** What is stored of these orders (update time, hash, fetch time). */
  readVersions(shopId: string, orderIds: readonly string[]): Promise<Map<string, StoredVersion>>;
}

/** A shop's sync state: META and cursor, the incremental lock and checkpoint, quarantined orders. */
export interface SyncStateRepository {
  getMeta(shopId: string): Promise<SyncMeta | undefined>;
  /** DESIGN rule 6: a new full resync sets the cursor to its windowEnd, only if the shop has none. */
  setCursorIfMissing(shopId: string, cursor: number): Promise<boolean>;
  /** Merges fields into META (no condition): job bookkeeping, full-sync results, cipher. */
  updateMeta(shopId: string, fields: Partial<Omit<SyncMeta, "shopId" | "cursor">>): Promise<void>;
  /** Takes the lock if free, expired, or already ours; false when another live owner holds it. */
  acquireLock(shopId: string, owner: string, leaseMs: number): Promise<boolean>;
  releaseLock(shopId: string, owner: string): Promise<void>;
  /** Renews the lease and records the checkpoint, only while we hold the lock (else LockLostError). */
  checkpoint(
    shopId: string,
    owner: string,
    leaseMs: number,
    checkpoint: Omit<Checkpoint, "updatedAt">,
  ): Promise<void>;
  getCheckpoint(shopId: string): Promise<Checkpoint | undefined>;
  /** Cursor, metadata, checkpoint removal and lock release at once, while we hold the lock (rule 4). */
  completeIncrementalRun(
    shopId: string,
    owner: string,
    result: { cursor: number; lastRun: LastRun; lastRecordTime?: string; recordsSynced: number },
  ): Promise<void>;
  /** Keeps an invalid or oversized order (raw) so it is counted and visible, never silently dropped. */
  quarantine(shopId: string, order: Omit<QuarantinedOrder, "quarantinedAt">): Promise<void>;
  /** The create_time of every quarantined order that has one, and how many have none. */
  quarantinedCreateTimes(shopId: string): Promise<{ createTimes: number[]; unplaced: number }>;
  countQuarantined(shopId: string): Promise<number>;
}

/**
 * Full-resync jobs (DESIGN rule 8). Every transition is conditional: false (or undefined) means another
 * actor moved first, never an error.
 */
export interface JobRepository {
  getJob(shopId: string, jobId: string): Promise<JobRecord | undefined>;
  /** The job holding the shop's slot, and the shop's last job. */
  getJobPointers(shopId: string): Promise<{ runningJobId?: string; lastJobId?: string }>;
  /** Takes the shop's single job slot and creates the job (JobAlreadyRunningError when taken). */
  createJob(input: CreateJobInput): Promise<JobRecord>;
  /** Writes the planned windows and switches the job to `running`; none if it was cancelled meanwhile. */
  activateJob(
    job: JobRecord,
    windows: readonly PlannedWindow[],
    figures: PlanningFigures,
  ): Promise<WindowRecord[]>;
  /** Exactly-once: job COMPLETED and META's full-sync fields, iff RUNNING with no open window. */
  finalizeJob(job: JobRecord, result: { recordsSynced: number; lastRecordTime?: string }): Promise<boolean>;
  failJob(job: JobRecord, reason: string, options?: { onlyIfAllOpenFailed?: boolean }): Promise<boolean>;
  cancelJob(job: JobRecord): Promise<boolean>;
  /** FAILED → RUNNING for a redrive, retaking the shop's slot. */
  reactivateJob(job: JobRecord): Promise<boolean>;
  /** The newest update_time stored for the shop. */
  newestUpdateTime(shopId: string): Promise<number | undefined>;
}

/**
 * Full-resync windows: every step is conditional on the window's page sequence, so duplicate or racing
 * deliveries cannot both commit; false (or undefined) means another delivery moved first.
 */
export interface WindowRepository {
  getWindow(shopId: string, jobId: string, window: number): Promise<WindowRecord | undefined>;
  listWindows(shopId: string, jobId: string): Promise<WindowRecord[]>;
  /** Commits a step of an open window, conditional on the sequence read. */
  advanceWindow(
    window: WindowRecord,
    cursor: WindowCursor,
    counts: Partial<WindowCounts>,
    options?: { restart?: boolean; messageId?: string; progressed?: boolean },
  ): Promise<boolean>;
  /** The window's last page: window DONE and the job's open windows − 1 at once. */
  completeWindow(
    window: WindowRecord,
    cursor: WindowCursor,
    counts: Partial<WindowCounts>,
    messageId?: string,
  ): Promise<boolean>;
  /** Replaces an open window at sequence 0 by children; undefined if it moved on or the job stopped. */
  splitWindow(
    window: WindowRecord,
    parts: readonly SplitChild[],
    counts: Partial<WindowCounts>,
    messageId?: string,
    options?: { readonly expectedOrders?: number },
  ): Promise<WindowRecord[] | undefined>;
  failWindow(window: WindowRecord, reason: string, counts?: Partial<WindowCounts>): Promise<boolean>;
  /** FAILED → OPEN (redrive), restarting by value from its checkpoint. */
  reopenWindow(window: WindowRecord): Promise<boolean>;
  /** A sign of life without a step (keeps the reconciler off the window until `activityAtMs`). */
  touchWindow(window: WindowRecord, activityAtMs: number, counts: Partial<WindowCounts>): Promise<boolean>;
  markRequeued(window: WindowRecord): Promise<boolean>;
  /** Counts of a failed attempt, added without condition: figures only. */
  addWindowCounts(
    window: Pick<WindowRecord, "shopId" | "jobId" | "window">,
    counts: Partial<WindowCounts>,
  ): Promise<void>;
}

/** The reconciliation's record per shop, with a lease so two runs never check one shop at once. */
export interface ReconciliationRepository {
  get(shopId: string): Promise<ReconciliationRecord | undefined>;
  acquire(shopId: string, owner: string, untilMs: number): Promise<boolean>;
  /** Writes the run's result and releases the lease, iff still held. */
  save(
    shopId: string,
    owner: string,
    record: { sweep?: SweepState; healing?: HealingRecord; lastOutcome: RunOutcome },
  ): Promise<boolean>;
  recordSkip(shopId: string, outcome: RunOutcome): Promise<void>;
}

/** Counts of stored orders by create_time (the reconciliation compares them with TikTok's). */
export interface StoredOrderCounts {
  /** Orders stored for the shop with `from ≤ createTime < to` (unix seconds). */
  countCreated(
    shopId: string,
    from: number,
    to: number,
    options?: { readonly deadline?: Deadline },
  ): Promise<{ readonly count: number; readonly pages: number }>;
  /** The oldest stored order's createTime, or undefined for a shop with none. */
  oldestCreateTime(shopId: string): Promise<number | undefined>;
}
