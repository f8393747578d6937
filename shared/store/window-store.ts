/**
 * Full-resync windows in the state table (DESIGN rule 8). Every change is conditional on the window's
 * page sequence (and status), so duplicate or racing deliveries cannot both commit:
 * - a page commit updates only its window (the job item is no hot spot: page counts live on the
 *   window and progress sums them);
 * - a window's end (done, split, failed, reopened) changes the window and the job's counters in one
 *   transaction.
 */
import { GetCommand, paginateQuery } from "@aws-sdk/lib-dynamodb";
import {
  checkpointRestart,
  type SplitChild,
  type WindowCounts,
  type WindowCursor,
  type WindowRecord,
  type WindowStatus,
} from "../sync/full-resync/model";
import type { WindowRepository } from "../sync/ports";
import { type TransactItem, type UpdateSpec, updateItem } from "./conditional-writes";
import { countsToAdd, JobTableStore, jobKey, newWindow, readJob, windowItem, windowKey } from "./job-items";
import { stateKeys } from "./keys";

/** Attempts of a split whose child numbers another split took first (re-read the job, try again). */
const SPLIT_ATTEMPTS = 8;

export class WindowStore extends JobTableStore implements WindowRepository {
  async getWindow(shopId: string, jobId: string, window: number): Promise<WindowRecord | undefined> {
    const { Item } = await this.options.documents.send(
      new GetCommand({
        TableName: this.table,
        Key: windowKey({ shopId, jobId, window }),
        ConsistentRead: true,
      }),
    );
    return Item as WindowRecord | undefined;
  }

  async listWindows(shopId: string, jobId: string): Promise<WindowRecord[]> {
    const windows: WindowRecord[] = [];
    const pages = paginateQuery(
      { client: this.options.documents },
      {
        TableName: this.table,
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: {
          ":pk": stateKeys.shop(shopId),
          ":prefix": stateKeys.windowPrefix(jobId),
        },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) windows.push(...((page.Items ?? []) as WindowRecord[]));
    return windows;
  }

  /** An update of the window, conditional on its sequence and on it being `status` (default OPEN). */
  private windowUpdate(window: WindowRecord, spec: UpdateSpec, status: WindowStatus = "OPEN"): TransactItem {
    return updateItem(this.table, windowKey(window), (expr) => ({
      update: spec,
      condition: `${expr.eq("seq", window.seq)} AND ${expr.eq("status", status)}`,
    }));
  }

  /** The job's counters, changed with a window's end (conditional on the job still running unless told). */
  private jobCounters(
    window: Pick<WindowRecord, "shopId" | "jobId">,
    spec: UpdateSpec,
    condition: { readonly running: boolean; readonly nextWindow?: number } = { running: true },
  ): TransactItem {
    return updateItem(this.table, jobKey(window), (expr) => ({
      update: { ...spec, set: { updatedAtMs: this.now(), ...spec.set } },
      ...(condition.running
        ? {
            condition:
              expr.eq("status", "RUNNING") +
              (condition.nextWindow !== undefined
                ? ` AND ${expr.eq("nextWindow", condition.nextWindow)}`
                : ""),
          }
        : {}),
    }));
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
    return this.windowUpdate(window, {
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
  }

  /**
   * Commits a page (or a by-value restart) of an open window, conditional on the sequence read. False
   * when another delivery committed this step first.
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
    return this.writer.update(
      this.windowStep(window, cursor, counts, {
        committedBy: options.messageId,
        ...(options.progressed ? { set: { restartsWithoutProgress: 0 } } : {}),
        ...(options.restart
          ? { add: { restarts: 1, ...(options.progressed ? {} : { restartsWithoutProgress: 1 }) } }
          : {}),
      }),
    );
  }

  /** The window's last page: window DONE and the job's openWindows − 1 in one transaction. */
  async completeWindow(
    window: WindowRecord,
    cursor: WindowCursor,
    counts: Partial<WindowCounts>,
    messageId?: string,
  ) {
    const result = await this.writer.write([
      this.windowStep(window, { ...cursor, pageToken: undefined }, counts, {
        status: "DONE",
        committedBy: messageId,
      }),
      this.jobCounters(window, { add: { openWindows: -1 } }),
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
      const job = await readJob(this.options.documents, this.table, window.shopId, window.jobId);
      if (job?.status !== "RUNNING") return undefined;
      const now = this.now();
      const children = parts.map((part, index) =>
        newWindow(job, job.nextWindow + index, part, now, window.window),
      );
      const result = await this.writer.write([
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
        this.jobCounters(
          job,
          {
            set: { expectedOrders: options.expectedOrders },
            add: {
              openWindows: children.length - 1,
              windowsTotal: children.length,
              splits: 1,
              nextWindow: children.length,
            },
          },
          { running: true, nextWindow: job.nextWindow },
        ),
        ...children.map(
          (child): TransactItem => ({
            Put: {
              TableName: this.table,
              Item: windowItem(child),
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
    const result = await this.writer.write([
      this.windowUpdate(window, {
        set: { status: "FAILED", failedReason: reason.slice(0, 1000), updatedAtMs: now, activityAtMs: now },
        add: countsToAdd(counts),
      }),
      this.jobCounters(window, { add: { failedWindows: 1 } }),
    ]);
    return result.ok;
  }

  /**
   * FAILED → OPEN (redrive), with the job's failedWindows − 1, in one transaction. The window restarts by
   * value from its checkpoint: the page token it held may be what failed it (refused, or long expired by
   * the time an operator resumes), so it is dropped, and the restart count without progress starts over.
   */
  async reopenWindow(window: WindowRecord) {
    const restart = checkpointRestart(window);
    const result = await this.writer.write([
      this.windowUpdate(
        window,
        {
          set: {
            status: "OPEN",
            requeues: 0,
            restartsWithoutProgress: 0,
            activityAtMs: this.now(),
            lower: restart.lower,
            skipIds: [...restart.skipIds],
            lastIds: [...restart.lastIds],
            lastCreateTime: restart.lastCreateTime,
            queryServed: 0,
            queryNew: 0,
          },
          remove: ["failedReason", "pageToken"],
        },
        "FAILED",
      ),
      this.jobCounters(window, { add: { failedWindows: -1 } }, { running: false }),
    ]);
    return result.ok;
  }

  /**
   * A sign of life without a step (a throttled page re-sent with a delay): keeps the reconciler off
   * the window until `activityAtMs`, and adds the API calls spent. Conditional on the sequence.
   */
  async touchWindow(window: WindowRecord, activityAtMs: number, counts: Partial<WindowCounts>) {
    return this.writer.update(this.windowUpdate(window, { set: { activityAtMs }, add: countsToAdd(counts) }));
  }

  /** The reconciler re-enqueued this window at its stored sequence. */
  async markRequeued(window: WindowRecord) {
    return this.writer.update(
      this.windowUpdate(window, { set: { activityAtMs: this.now() }, add: { requeues: 1 } }),
    );
  }

  /** Counts of a failed attempt (API calls spent), added without condition: figures only. */
  async addWindowCounts(
    window: Pick<WindowRecord, "shopId" | "jobId" | "window">,
    counts: Partial<WindowCounts>,
  ) {
    const add = countsToAdd(counts);
    if (Object.keys(add).length === 0) return;
    await this.writer.update(
      updateItem(this.table, windowKey(window), () => ({
        update: { add },
        condition: "attribute_exists(pk)",
      })),
    );
  }
}
