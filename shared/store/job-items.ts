/**
 * Full-resync items in the state table (DESIGN rule 8, "Stored data"), shared by the job store and the
 * window store: `JOB#<jobId>` holds the job (status, open/failed window counters, planning figures),
 * `JOB#<jobId>#WIN#<n>` one `create_time` window each (page sequence, next token, checkpoint, counts).
 */
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { Clock } from "../clock";
import {
  COUNT_FIELDS,
  type JobRecord,
  type SplitChild,
  type WindowCounts,
  type WindowRecord,
  ZERO_COUNTS,
} from "../sync/full-resync/model";
import { ConditionalWriter } from "./conditional-writes";
import type { ConflictRetryOptions } from "./conflict-retry";
import { stateKeys } from "./keys";

export interface JobTableOptions {
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

/** What the job store and the window store share: the state table, the clock, one conditional writer. */
export abstract class JobTableStore {
  protected readonly writer: ConditionalWriter;

  constructor(protected readonly options: JobTableOptions) {
    this.writer = new ConditionalWriter(options.documents, "a full-resync job", {
      ...JOB_CONFLICT_RETRY,
      ...options.conflictRetry,
    });
  }

  protected get table() {
    return this.options.stateTable;
  }

  protected now() {
    return this.options.clock.nowMs();
  }
}

export function jobKey(job: Pick<JobRecord, "shopId" | "jobId">) {
  return { pk: stateKeys.shop(job.shopId), sk: stateKeys.job(job.jobId) };
}

export function windowKey(window: Pick<WindowRecord, "shopId" | "jobId" | "window">) {
  return { pk: stateKeys.shop(window.shopId), sk: stateKeys.window(window.jobId, window.window) };
}

export function metaKey(shopId: string) {
  return { pk: stateKeys.shop(shopId), sk: stateKeys.meta };
}

/** Reads a job, consistently. */
export async function readJob(
  documents: DynamoDBDocumentClient,
  stateTable: string,
  shopId: string,
  jobId: string,
): Promise<JobRecord | undefined> {
  const { Item } = await documents.send(
    new GetCommand({ TableName: stateTable, Key: jobKey({ shopId, jobId }), ConsistentRead: true }),
  );
  return Item as JobRecord | undefined;
}

/** The non-zero counts, as an ADD clause's increments. */
export function countsToAdd(counts: Partial<WindowCounts>): Record<string, number> {
  const add: Record<string, number> = {};
  for (const field of COUNT_FIELDS) {
    const value = counts[field];
    if (value) add[field] = value;
  }
  return add;
}

/**
 * A new OPEN window of `job`: planned, or a split's child (which may start past the page its parent
 * kept, with that page's cursor and counts).
 */
export function newWindow(
  job: JobRecord,
  window: number,
  planned: SplitChild,
  now: number,
  parent?: number,
): WindowRecord {
  const cursor = planned.cursor;
  return {
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
}

/** A window as stored: its keys, its kind, its record. */
export function windowItem(record: WindowRecord): Record<string, unknown> {
  return { ...windowKey(record), kind: "window", ...record };
}
