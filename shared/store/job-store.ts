/**
 * Full-resync jobs and their windows in the state table (DESIGN rule 8, "Stored data"):
 * `JOB#<jobId>` holds the job (status, open/failed window counters, planning figures) and
 * `JOB#<jobId>#WIN#<n>` one `create_time` window each (page sequence, next token, checkpoint, counts).
 * The shop's single running job is the `running_job_id` attribute of its META item, set conditionally.
 *
 * Every state change is one conditional write or TransactWriteItems:
 * - a page commit updates only its window, conditional on the page sequence read (so duplicate or
 *   racing deliveries cannot both commit, and the job item is no hot spot: page counts live on the
 *   window and progress sums them);
 * - a window's end (done, split, failed) changes the window and the job's counters in one transaction;
 * - finalize moves the job to COMPLETED and records the full sync on META in one transaction,
 *   conditional on `openWindows = 0` and the job still RUNNING, so it happens exactly once.
 */
import { setTimeout } from "node:timers/promises";
import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { Clock } from "../clock";
import { chunk } from "../concurrency";
import { JobAlreadyRunningError } from "../sync/full-resync/errors";
import {
  type ConflictRetryOptions,
  cancellationCodes,
  isTransactionConflict,
  retryOnConflict,
  StateConflictError,
} from "./conflict-retry";
import { stateKeys } from "./keys";

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

const COUNT_FIELDS = Object.keys(ZERO_COUNTS) as (keyof WindowCounts)[];

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

export interface JobStoreOptions {
  readonly documents: DynamoDBDocumentClient;
  readonly stateTable: string;
  /** Orders table: finalize reads the newest stored update_time from its byUpdateTime index. */
  readonly ordersTable: string;
  readonly clock: Clock;
  /** Transaction conflicts are retried this way (default JOB_CONFLICT_RETRY). */
  readonly conflictRetry?: Partial<ConflictRetryOptions>;
}

/**
 * Conflicts on a job item are likelier than on a shop's lock: every window's end updates it, and many
 * workers end windows together. So more retries than the state store's default (7 retries, ~2.5 s at most).
 */
export const JOB_CONFLICT_RETRY: ConflictRetryOptions = { retries: 7, baseDelayMs: 20 };

type TransactItems = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]["TransactItems"]>;
type TransactItem = TransactItems[number];

/** Placeholders for one expression: every attribute goes through a name (many are reserved words). */
class Expr {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private counter = 0;

  name(attribute: string): string {
    const placeholder = `#${attribute}`;
    this.names[placeholder] = attribute;
    return placeholder;
  }

  value(value: unknown): string {
    const placeholder = `:v${this.counter++}`;
    this.values[placeholder] = value;
    return placeholder;
  }

  /** `attribute = value`. */
  eq(attribute: string, value: unknown): string {
    return `${this.name(attribute)} = ${this.value(value)}`;
  }

  /** SET / ADD / REMOVE clauses; undefined SET values are skipped. */
  update(spec: { set?: Record<string, unknown>; add?: Record<string, number>; remove?: readonly string[] }) {
    const set = Object.entries(spec.set ?? {})
      .filter(([, value]) => value !== undefined)
      .map(([attribute, value]) => `${this.name(attribute)} = ${this.value(value)}`);
    const add = Object.entries(spec.add ?? {})
      .filter(([, value]) => value !== 0)
      .map(([attribute, value]) => `${this.name(attribute)} ${this.value(value)}`);
    const remove = (spec.remove ?? []).map((attribute) => this.name(attribute));
    return [
      set.length ? `SET ${set.join(", ")}` : "",
      add.length ? `ADD ${add.join(", ")}` : "",
      remove.length ? `REMOVE ${remove.join(", ")}` : "",
    ]
      .filter(Boolean)
      .join(" ");
  }

  /** Names/values for a command (DynamoDB rejects empty maps). */
  attributes() {
    return {
      ...(Object.keys(this.names).length ? { ExpressionAttributeNames: this.names } : {}),
      ...(Object.keys(this.values).length ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

type TransactResult = { readonly ok: true } | { readonly ok: false; readonly failed: readonly number[] };

/** Attempts of a split whose child numbers another split took first (re-read the job, try again). */
const SPLIT_ATTEMPTS = 8;

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

function countsToAdd(counts: Partial<WindowCounts>): Record<string, number> {
  const add: Record<string, number> = {};
  for (const field of COUNT_FIELDS) {
    const value = counts[field];
    if (value) add[field] = value;
  }
  return add;
}

export class JobStore {
  private readonly conflictRetry: ConflictRetryOptions;

  constructor(private readonly options: JobStoreOptions) {
    this.conflictRetry = { ...JOB_CONFLICT_RETRY, ...options.conflictRetry };
  }

  private get table() {
    return this.options.stateTable;
  }

  private now() {
    return this.options.clock.nowMs();
  }

  private key(shopId: string, sk: string) {
    return { pk: stateKeys.shop(shopId), sk };
  }

  /**
   * One TransactWriteItems. Transaction conflicts (another request on one of the items in flight) are
   * retried with jittered backoff and, when they persist, thrown as StateConflictError: never taken for a
   * failed condition. Failed conditions are returned by item index, never thrown.
   */
  private async transact(items: TransactItems): Promise<TransactResult> {
    // One update needs no transaction: a conditional UpdateItem is just as atomic and costs half the
    // write units (a transaction writes each item twice). Most page commits touch the window alone.
    const only = items.length === 1 ? items[0]?.Update : undefined;
    if (only) {
      try {
        await retryOnConflict(() => this.options.documents.send(new UpdateCommand(only)), this.conflictRetry);
        return { ok: true };
      } catch (error) {
        if (error instanceof Error && error.name === "ConditionalCheckFailedException") {
          return { ok: false, failed: [0] };
        }
        if (isTransactionConflict(error)) {
          throw new StateConflictError("a full-resync job", this.conflictRetry.retries + 1, { cause: error });
        }
        throw error;
      }
    }
    try {
      await retryOnConflict(
        () => this.options.documents.send(new TransactWriteCommand({ TransactItems: items })),
        this.conflictRetry,
      );
      return { ok: true };
    } catch (error) {
      if (isTransactionConflict(error)) {
        throw new StateConflictError("a full-resync job", this.conflictRetry.retries + 1, { cause: error });
      }
      if (error instanceof TransactionCanceledException) {
        const failed = cancellationCodes(error)
          .map((code, index) => (code === "ConditionalCheckFailed" ? index : -1))
          .filter((index) => index >= 0);
        if (failed.length > 0) return { ok: false, failed };
      }
      throw error;
    }
  }

  /** A conditional UpdateItem; false when the condition failed. Conflicts are retried like transact's. */
  private async conditionalUpdate(
    key: Record<string, string>,
    expr: Expr,
    update: string,
    condition: string,
  ) {
    try {
      await retryOnConflict(
        () =>
          this.options.documents.send(
            new UpdateCommand({
              TableName: this.table,
              Key: key,
              UpdateExpression: update,
              ConditionExpression: condition,
              ...expr.attributes(),
            }),
          ),
        this.conflictRetry,
      );
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === "ConditionalCheckFailedException") return false;
      if (isTransactionConflict(error)) {
        throw new StateConflictError("a full-resync job", this.conflictRetry.retries + 1, { cause: error });
      }
      throw error;
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Reads

  async getJob(shopId: string, jobId: string): Promise<JobRecord | undefined> {
    const { Item } = await this.options.documents.send(
      new GetCommand({
        TableName: this.table,
        Key: this.key(shopId, stateKeys.job(jobId)),
        ConsistentRead: true,
      }),
    );
    return Item as JobRecord | undefined;
  }

  async getWindow(shopId: string, jobId: string, window: number): Promise<WindowRecord | undefined> {
    const { Item } = await this.options.documents.send(
      new GetCommand({
        TableName: this.table,
        Key: this.key(shopId, stateKeys.window(jobId, window)),
        ConsistentRead: true,
      }),
    );
    return Item as WindowRecord | undefined;
  }

  async listWindows(shopId: string, jobId: string): Promise<WindowRecord[]> {
    const windows: WindowRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.options.documents.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          ExpressionAttributeValues: {
            ":pk": stateKeys.shop(shopId),
            ":prefix": stateKeys.windowPrefix(jobId),
          },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      windows.push(...((page.Items ?? []) as WindowRecord[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return windows;
  }

  /** The job holding the shop's slot, and the shop's last job (from META). */
  async getJobPointers(shopId: string): Promise<{ runningJobId?: string; lastJobId?: string }> {
    const { Item } = await this.options.documents.send(
      new GetCommand({
        TableName: this.table,
        Key: this.key(shopId, stateKeys.meta),
        ConsistentRead: true,
        ProjectionExpression: "running_job_id, last_job_id",
      }),
    );
    return {
      ...(typeof Item?.running_job_id === "string" ? { runningJobId: Item.running_job_id } : {}),
      ...(typeof Item?.last_job_id === "string" ? { lastJobId: Item.last_job_id } : {}),
    };
  }

  // ----------------------------------------------------------------------------------------------
  // Job lifecycle

  /**
   * Takes the shop's single job slot (META `running_job_id`, conditional) and creates the job in
   * phase `planning`, in one transaction. Throws JobAlreadyRunningError with the holder's id.
   */
  async createJob(input: CreateJobInput): Promise<JobRecord> {
    const now = this.now();
    const job: JobRecord = {
      shopId: input.shopId,
      jobId: input.jobId,
      status: "RUNNING",
      phase: "planning",
      rangeStart: input.rangeStart,
      rangeEnd: input.rangeEnd,
      windowEnd: input.windowEnd,
      fullHistory: input.fullHistory,
      createdAtMs: now,
      startedAt: new Date(now).toISOString(),
      updatedAtMs: now,
      windowsTotal: 0,
      openWindows: 0,
      failedWindows: 0,
      nextWindow: 0,
      probes: 0,
      splits: 0,
      plannerApiCalls: 0,
      plannerSuccessfulSearches: 0,
      expectedOrders: 0,
    };
    const meta = new Expr();
    const metaUpdate = meta.update({
      set: { shopId: input.shopId, running_job_id: input.jobId, last_job_id: input.jobId },
    });
    const metaCondition = `attribute_not_exists(${meta.name("running_job_id")})`;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const result = await this.transact([
        {
          Update: {
            TableName: this.table,
            Key: this.key(input.shopId, stateKeys.meta),
            UpdateExpression: metaUpdate,
            ConditionExpression: metaCondition,
            ...meta.attributes(),
          },
        },
        {
          Put: {
            TableName: this.table,
            Item: { ...this.key(input.shopId, stateKeys.job(input.jobId)), kind: "job", ...job },
            ConditionExpression: "attribute_not_exists(pk)",
          },
        },
      ]);
      if (result.ok) return job;
      const { runningJobId } = await this.getJobPointers(input.shopId);
      if (runningJobId) throw new JobAlreadyRunningError(input.shopId, runningJobId);
      if (result.failed.includes(1)) throw new Error(`job ${input.jobId} already exists`);
      // The holder released the slot between our write and our read: try again.
    }
    throw new Error(`could not create job ${input.jobId}: the shop's job slot keeps changing`);
  }

  /**
   * Writes the planned windows (fresh keys: plain batch writes) and switches the job to `running`
   * with its counters, conditional on it still planning, in one transaction with a whole-history
   * job's first cursor (firstCursorItem). None returned if it was cancelled meanwhile.
   */
  async activateJob(
    job: JobRecord,
    windows: readonly PlannedWindow[],
    figures: PlanningFigures,
  ): Promise<WindowRecord[]> {
    const now = this.now();
    const records: WindowRecord[] = windows.map((planned, index) => this.newWindow(job, index, planned, now));
    for (const group of chunk(records, 25)) {
      let requests: Record<string, unknown>[] | undefined = group.map((record) => ({
        PutRequest: {
          Item: {
            ...this.key(job.shopId, stateKeys.window(job.jobId, record.window)),
            kind: "window",
            ...record,
          },
        },
      }));
      for (let attempt = 0; requests && requests.length > 0; attempt += 1) {
        if (attempt > 0) await setTimeout(Math.min(2_000, 50 * 2 ** attempt));
        const response = await this.options.documents.send(
          new BatchWriteCommand({ RequestItems: { [this.table]: requests as never } }),
        );
        requests = response.UnprocessedItems?.[this.table] as Record<string, unknown>[] | undefined;
      }
    }
    const expr = new Expr();
    const update = expr.update({
      set: {
        phase: "running",
        windowsTotal: records.length,
        openWindows: records.length,
        nextWindow: records.length,
        probes: figures.probes,
        plannerApiCalls: figures.apiCalls,
        plannerSuccessfulSearches: figures.successfulSearches,
        expectedOrders: figures.expectedOrders,
        updatedAtMs: now,
      },
    });
    const activation: TransactItem = {
      Update: {
        TableName: this.table,
        Key: this.jobKey(job),
        UpdateExpression: update,
        ConditionExpression: `${expr.eq("status", "RUNNING")} AND ${expr.eq("phase", "planning")}`,
        ...expr.attributes(),
      },
    };
    const result = await this.transact(
      job.fullHistory ? [activation, this.firstCursorItem(job)] : [activation],
    );
    return result.ok ? records : [];
  }

  /**
   * DESIGN rule 6, in the job's activation: a whole-history job sets the shop's cursor to its windowEnd
   * if the shop has none, so incremental ticks pick up what changes meanwhile. Set in the same
   * transaction, a planner that dies after activating cannot leave a running job and no cursor (the
   * shop's next tick would join the job, and once it finished start a second first sync).
   */
  private firstCursorItem(job: JobRecord): TransactItem {
    const expr = new Expr();
    return {
      Update: {
        TableName: this.table,
        Key: this.key(job.shopId, stateKeys.meta),
        UpdateExpression:
          `SET ${expr.name("cursor")} = if_not_exists(${expr.name("cursor")}, ${expr.value(job.windowEnd)}), ` +
          expr.eq("shopId", job.shopId),
        ...expr.attributes(),
      },
    };
  }

  private newWindow(job: JobRecord, window: number, planned: SplitChild, now: number, parent?: number) {
    const cursor = planned.cursor;
    const record: WindowRecord = {
      ...ZERO_COUNTS,
      ...planned.counts,
      shopId: job.shopId,
      jobId: job.jobId,
      window,
      start: planned.start,
      end: planned.end,
      status: "OPEN",
      seq: 0,
      lower: planned.start,
      skipIds: [],
      lastIds: [],
      queryServed: 0,
      queryNew: 0,
      restarts: 0,
      requeues: 0,
      createdAtMs: now,
      updatedAtMs: now,
      activityAtMs: now,
      ...(planned.expected !== undefined ? { expected: planned.expected } : {}),
      ...(parent !== undefined ? { parent } : {}),
      ...(cursor
        ? {
            lower: cursor.lower,
            skipIds: [...cursor.skipIds],
            lastIds: [...cursor.lastIds],
            ...(cursor.lastCreateTime !== undefined ? { lastCreateTime: cursor.lastCreateTime } : {}),
            carried: planned.counts?.orders ?? 0,
          }
        : {}),
    };
    return record;
  }

  private windowKey(window: Pick<WindowRecord, "shopId" | "jobId" | "window">) {
    return this.key(window.shopId, stateKeys.window(window.jobId, window.window));
  }

  private jobKey(job: Pick<JobRecord, "shopId" | "jobId">) {
    return this.key(job.shopId, stateKeys.job(job.jobId));
  }

  /** The window update of one committed step: sequence + 1, new cursor, counts added. */
  private windowStep(
    window: WindowRecord,
    cursor: WindowCursor,
    counts: Partial<WindowCounts>,
    extra: {
      status?: WindowStatus;
      committedBy?: string | undefined;
      set?: Record<string, unknown>;
      add?: Record<string, number>;
    } = {},
  ): TransactItem {
    const now = this.now();
    const expr = new Expr();
    const update = expr.update({
      set: {
        seq: window.seq + 1,
        lower: cursor.lower,
        skipIds: [...cursor.skipIds],
        lastIds: [...cursor.lastIds],
        lastCreateTime: cursor.lastCreateTime,
        queryServed: cursor.queryServed,
        queryNew: cursor.queryNew,
        pageToken: cursor.pageToken,
        totalCount: cursor.totalCount,
        status: extra.status,
        updatedAtMs: now,
        activityAtMs: now,
        requeues: 0,
        committedBy: extra.committedBy,
        ...extra.set,
      },
      add: { ...countsToAdd(counts), ...extra.add },
      remove: [
        ...(cursor.pageToken === undefined ? ["pageToken"] : []),
        ...(extra.committedBy === undefined ? ["committedBy"] : []),
      ],
    });
    return {
      Update: {
        TableName: this.table,
        Key: this.windowKey(window),
        UpdateExpression: update,
        ConditionExpression: `${expr.eq("seq", window.seq)} AND ${expr.eq("status", "OPEN")}`,
        ...expr.attributes(),
      },
    };
  }

  /**
   * Commits a page (or a by-value restart) of an open window: one transaction on the window,
   * conditional on the sequence read. False when another delivery committed this step first.
   */
  async advanceWindow(
    window: WindowRecord,
    cursor: WindowCursor,
    counts: Partial<WindowCounts>,
    options: {
      restart?: boolean;
      messageId?: string;
      /** The step committed at least one order new to the window: restarts without progress back to 0. */
      progressed?: boolean;
    } = {},
  ) {
    const result = await this.transact([
      this.windowStep(window, cursor, counts, {
        committedBy: options.messageId,
        ...(options.progressed ? { set: { restartsWithoutProgress: 0 } } : {}),
        ...(options.restart
          ? { add: { restarts: 1, ...(options.progressed ? {} : { restartsWithoutProgress: 1 }) } }
          : {}),
      }),
    ]);
    return result.ok;
  }

  /** The window's last page: window DONE and the job's openWindows − 1 in one transaction. */
  async completeWindow(
    window: WindowRecord,
    cursor: WindowCursor,
    counts: Partial<WindowCounts>,
    messageId?: string,
  ) {
    const job = new Expr();
    const result = await this.transact([
      this.windowStep(window, { ...cursor, pageToken: undefined }, counts, {
        status: "DONE",
        committedBy: messageId,
      }),
      {
        Update: {
          TableName: this.table,
          Key: this.jobKey(window),
          UpdateExpression: job.update({ set: { updatedAtMs: this.now() }, add: { openWindows: -1 } }),
          ConditionExpression: job.eq("status", "RUNNING"),
          ...job.attributes(),
        },
      },
    ]);
    return result.ok;
  }

  /**
   * Replaces an open window at sequence 0 by children covering its range: parent SPLIT, children
   * created, job counters (openWindows + k − 1, windowsTotal + k, splits + 1, nextWindow + k; and the
   * job's expectedOrders when given) in one transaction. A child may start with a cursor and counts:
   * the page the parent's split kept. Child numbers come from the job's `nextWindow`, read and checked;
   * a concurrent split elsewhere makes us re-read and retry. Returns the children, or undefined if the
   * parent moved on (duplicate delivery) or the job stopped running.
   */
  async splitWindow(
    window: WindowRecord,
    parts: readonly SplitChild[],
    counts: Partial<WindowCounts>,
    messageId?: string,
    options: { readonly expectedOrders?: number } = {},
  ): Promise<WindowRecord[] | undefined> {
    for (let attempt = 0; attempt < SPLIT_ATTEMPTS; attempt += 1) {
      const job = await this.getJob(window.shopId, window.jobId);
      if (job?.status !== "RUNNING") return undefined;
      const now = this.now();
      const children = parts.map((part, index) =>
        this.newWindow(job, job.nextWindow + index, part, now, window.window),
      );
      const jobExpr = new Expr();
      const result = await this.transact([
        this.windowStep(
          window,
          { lower: window.lower, skipIds: [], lastIds: [], queryServed: 0, queryNew: 0 },
          counts,
          {
            status: "SPLIT",
            committedBy: messageId,
            set: { children: children.map((child) => child.window) },
          },
        ),
        {
          Update: {
            TableName: this.table,
            Key: this.jobKey(job),
            UpdateExpression: jobExpr.update({
              set: { updatedAtMs: now, expectedOrders: options.expectedOrders },
              add: {
                openWindows: children.length - 1,
                windowsTotal: children.length,
                splits: 1,
                nextWindow: children.length,
              },
            }),
            ConditionExpression:
              `${jobExpr.eq("status", "RUNNING")} AND ` + `${jobExpr.eq("nextWindow", job.nextWindow)}`,
            ...jobExpr.attributes(),
          },
        },
        ...children.map(
          (child): TransactItem => ({
            Put: {
              TableName: this.table,
              Item: { ...this.windowKey(child), kind: "window", ...child },
              ConditionExpression: "attribute_not_exists(pk)",
            },
          }),
        ),
      ]);
      if (result.ok) return children;
      if (result.failed.includes(0)) return undefined;
      // Another split took these numbers first: read the job again.
    }
    throw new Error(`window ${window.window} of job ${window.jobId}: split kept conflicting`);
  }

  /** Marks an open window FAILED (its message is going to the DLQ) and counts it on the job. */
  async failWindow(window: WindowRecord, reason: string, counts: Partial<WindowCounts> = {}) {
    const now = this.now();
    const expr = new Expr();
    const job = new Expr();
    const result = await this.transact([
      {
        Update: {
          TableName: this.table,
          Key: this.windowKey(window),
          UpdateExpression: expr.update({
            set: {
              status: "FAILED",
              failedReason: reason.slice(0, 1000),
              updatedAtMs: now,
              activityAtMs: now,
            },
            add: countsToAdd(counts),
          }),
          ConditionExpression: `${expr.eq("seq", window.seq)} AND ${expr.eq("status", "OPEN")}`,
          ...expr.attributes(),
        },
      },
      {
        Update: {
          TableName: this.table,
          Key: this.jobKey(window),
          UpdateExpression: job.update({ set: { updatedAtMs: now }, add: { failedWindows: 1 } }),
          ConditionExpression: job.eq("status", "RUNNING"),
          ...job.attributes(),
        },
      },
    ]);
    return result.ok;
  }

  /**
   * FAILED → OPEN (redrive), with the job's failedWindows − 1, in one transaction. The window restarts by
   * value from its checkpoint: the page token it held may be what failed it (refused, or long expired by
   * the time an operator resumes), so it is dropped, and the restart count without progress starts over.
   */
  async reopenWindow(window: WindowRecord) {
    const now = this.now();
    const expr = new Expr();
    const job = new Expr();
    const restart = checkpointRestart(window);
    const result = await this.transact([
      {
        Update: {
          TableName: this.table,
          Key: this.windowKey(window),
          UpdateExpression: expr.update({
            set: {
              status: "OPEN",
              requeues: 0,
              restartsWithoutProgress: 0,
              activityAtMs: now,
              lower: restart.lower,
              skipIds: [...restart.skipIds],
              lastIds: [...restart.lastIds],
              lastCreateTime: restart.lastCreateTime,
              queryServed: 0,
              queryNew: 0,
            },
            remove: ["failedReason", "pageToken"],
          }),
          ConditionExpression: `${expr.eq("status", "FAILED")} AND ${expr.eq("seq", window.seq)}`,
          ...expr.attributes(),
        },
      },
      {
        Update: {
          TableName: this.table,
          Key: this.jobKey(window),
          UpdateExpression: job.update({ set: { updatedAtMs: now }, add: { failedWindows: -1 } }),
          ...job.attributes(),
        },
      },
    ]);
    return result.ok;
  }

  /**
   * A sign of life without a step (a throttled page re-sent with a delay): keeps the reconciler off
   * the window until `activityAtMs`, and adds the API calls spent. Conditional on the sequence.
   */
  async touchWindow(window: WindowRecord, activityAtMs: number, counts: Partial<WindowCounts>) {
    const expr = new Expr();
    const update = expr.update({ set: { activityAtMs }, add: countsToAdd(counts) });
    return this.conditionalUpdate(
      this.windowKey(window),
      expr,
      update,
      `${expr.eq("seq", window.seq)} AND ${expr.eq("status", "OPEN")}`,
    );
  }

  /** The reconciler re-enqueued this window at its stored sequence. */
  async markRequeued(window: WindowRecord) {
    const expr = new Expr();
    const update = expr.update({ set: { activityAtMs: this.now() }, add: { requeues: 1 } });
    return this.conditionalUpdate(
      this.windowKey(window),
      expr,
      update,
      `${expr.eq("seq", window.seq)} AND ${expr.eq("status", "OPEN")}`,
    );
  }

  /** Counts of a failed attempt (API calls spent), added without condition: figures only. */
  async addWindowCounts(
    window: Pick<WindowRecord, "shopId" | "jobId" | "window">,
    counts: Partial<WindowCounts>,
  ) {
    const add = countsToAdd(counts);
    if (Object.keys(add).length === 0) return;
    const expr = new Expr();
    const update = expr.update({ add });
    await this.conditionalUpdate(this.windowKey(window), expr, update, "attribute_exists(pk)");
  }

  /**
   * Exactly-once finalize: job COMPLETED and META's full-sync fields (never the cursor) in one
   * transaction, conditional on the job RUNNING with no open window; the slot is released.
   * False if someone else finalized (or the job is not finished).
   */
  async finalizeJob(job: JobRecord, result: { recordsSynced: number; lastRecordTime?: string }) {
    const now = this.now();
    const finishedAt = new Date(now).toISOString();
    const jobItem = (): TransactItem => {
      const expr = new Expr();
      return {
        Update: {
          TableName: this.table,
          Key: this.jobKey(job),
          UpdateExpression: expr.update({
            set: {
              status: "COMPLETED",
              phase: "finished",
              finishedAt,
              updatedAtMs: now,
              recordsSynced: result.recordsSynced,
            },
          }),
          ConditionExpression:
            `${expr.eq("status", "RUNNING")} AND ${expr.eq("phase", "running")}` +
            ` AND ${expr.eq("openWindows", 0)}`,
          ...expr.attributes(),
        },
      };
    };
    const metaItem = (releaseSlot: boolean): TransactItem => {
      const expr = new Expr();
      return {
        Update: {
          TableName: this.table,
          Key: this.key(job.shopId, stateKeys.meta),
          UpdateExpression: expr.update({
            set: {
              shopId: job.shopId,
              sync_type: "full",
              is_full_sync: true,
              records_synced: result.recordsSynced,
              last_sync_time: finishedAt,
              last_record_time: result.lastRecordTime,
            },
            remove: releaseSlot ? ["running_job_id"] : [],
          }),
          ...(releaseSlot ? { ConditionExpression: expr.eq("running_job_id", job.jobId) } : {}),
          ...expr.attributes(),
        },
      };
    };
    const first = await this.transact([jobItem(), metaItem(true)]);
    if (first.ok) return true;
    if (first.failed.includes(0)) return false;
    // The slot names another job (only by hand-editing): finalize ours without touching the slot.
    return (await this.transact([jobItem(), metaItem(false)])).ok;
  }

  /** The job's slot on META is released iff it is still this job's. */
  private releaseSlotItem(job: JobRecord): TransactItem {
    const expr = new Expr();
    return {
      Update: {
        TableName: this.table,
        Key: this.key(job.shopId, stateKeys.meta),
        UpdateExpression: expr.update({ remove: ["running_job_id"] }),
        ConditionExpression: expr.eq("running_job_id", job.jobId),
        ...expr.attributes(),
      },
    };
  }

  /**
   * RUNNING → FAILED (planning broke, or every open window failed), releasing the shop's slot.
   * With `onlyIfAllOpenFailed` the condition also requires openWindows = failedWindows > 0.
   */
  async failJob(job: JobRecord, reason: string, options: { onlyIfAllOpenFailed?: boolean } = {}) {
    const now = this.now();
    const jobItem = (): TransactItem => {
      const expr = new Expr();
      const all = options.onlyIfAllOpenFailed
        ? ` AND ${expr.name("openWindows")} = ${expr.name("failedWindows")}` +
          ` AND ${expr.name("failedWindows")} > ${expr.value(0)}`
        : "";
      return {
        Update: {
          TableName: this.table,
          Key: this.jobKey(job),
          UpdateExpression: expr.update({
            set: { status: "FAILED", finishedAt: new Date(now).toISOString(), updatedAtMs: now, reason },
          }),
          ConditionExpression: `${expr.eq("status", "RUNNING")}${all}`,
          ...expr.attributes(),
        },
      };
    };
    const first = await this.transact([jobItem(), this.releaseSlotItem(job)]);
    if (first.ok) return true;
    if (first.failed.includes(0)) return false;
    return (await this.transact([jobItem()])).ok;
  }

  /** RUNNING or FAILED → CANCELLED (workers then drop its messages); the slot is released. */
  async cancelJob(job: JobRecord) {
    const now = this.now();
    const jobItem = (): TransactItem => {
      const expr = new Expr();
      return {
        Update: {
          TableName: this.table,
          Key: this.jobKey(job),
          UpdateExpression: expr.update({
            set: {
              status: "CANCELLED",
              phase: "finished",
              finishedAt: new Date(now).toISOString(),
              updatedAtMs: now,
            },
          }),
          ConditionExpression: expr.eq("status", job.status),
          ...expr.attributes(),
        },
      };
    };
    if (job.status === "RUNNING") {
      const first = await this.transact([jobItem(), this.releaseSlotItem(job)]);
      if (first.ok) return true;
      if (first.failed.includes(0)) return false;
    }
    return (await this.transact([jobItem()])).ok;
  }

  /** FAILED → RUNNING for a redrive: takes the shop's slot again (JobAlreadyRunningError if taken). */
  async reactivateJob(job: JobRecord) {
    const now = this.now();
    const expr = new Expr();
    const meta = new Expr();
    const result = await this.transact([
      {
        Update: {
          TableName: this.table,
          Key: this.jobKey(job),
          UpdateExpression: expr.update({
            set: { status: "RUNNING", updatedAtMs: now },
            remove: ["finishedAt", "reason"],
          }),
          ConditionExpression: expr.eq("status", "FAILED"),
          ...expr.attributes(),
        },
      },
      {
        Update: {
          TableName: this.table,
          Key: this.key(job.shopId, stateKeys.meta),
          UpdateExpression: meta.update({ set: { running_job_id: job.jobId, last_job_id: job.jobId } }),
          ConditionExpression: `attribute_not_exists(${meta.name("running_job_id")})`,
          ...meta.attributes(),
        },
      },
    ]);
    if (result.ok) return true;
    if (result.failed.includes(1)) {
      const { runningJobId } = await this.getJobPointers(job.shopId);
      if (runningJobId && runningJobId !== job.jobId)
        throw new JobAlreadyRunningError(job.shopId, runningJobId);
    }
    return false;
  }

  // ----------------------------------------------------------------------------------------------
  // Orders table figure for finalize

  /** The newest update_time stored for the shop (byUpdateTime index, one item). */
  async newestUpdateTime(shopId: string): Promise<number | undefined> {
    const page = await this.options.documents.send(
      new QueryCommand({
        TableName: this.options.ordersTable,
        IndexName: "byUpdateTime",
        KeyConditionExpression: "shopId = :shopId",
        ExpressionAttributeValues: { ":shopId": shopId },
        ProjectionExpression: "updateTime",
        ScanIndexForward: false,
        Limit: 1,
      }),
    );
    const value = page.Items?.[0]?.updateTime;
    return typeof value === "number" ? value : undefined;
  }
}
