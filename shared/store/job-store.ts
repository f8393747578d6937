/**
 * Full-resync jobs in the state table (DESIGN rule 8, "Stored data"; items in job-items.ts, windows in
 * window-store.ts). The shop's single running job is the `running_job_id` attribute of its META item,
 * set conditionally. Every state change is one conditional write or transaction; finalize moves the job
 * to COMPLETED and records the full sync on META at once, conditional on `openWindows = 0` and the job
 * still RUNNING, so it happens exactly once.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { BatchWriteCommand, GetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { chunk } from "../concurrency";
import type {
  CreateJobInput,
  JobRecord,
  PlannedWindow,
  PlanningFigures,
  WindowRecord,
} from "../sync/full-resync/model";
import { JobAlreadyRunningError } from "../sync/full-resync/resync-errors";
import type { JobRepository } from "../sync/ports";
import { type TransactItem, updateItem } from "./conditional-writes";
import { JobTableStore, jobKey, metaKey, newWindow, readJob, windowItem } from "./job-items";

export class JobStore extends JobTableStore implements JobRepository {
  getJob(shopId: string, jobId: string): Promise<JobRecord | undefined> {
    return readJob(this.options.documents, this.table, shopId, jobId);
  }

  /** The job holding the shop's slot, and the shop's last job (from META). */
  async getJobPointers(shopId: string): Promise<{ runningJobId?: string; lastJobId?: string }> {
    const { Item } = await this.options.documents.send(
      new GetCommand({
        TableName: this.table,
        Key: metaKey(shopId),
        ConsistentRead: true,
        ProjectionExpression: "running_job_id, last_job_id",
      }),
    );
    return {
      ...(typeof Item?.running_job_id === "string" ? { runningJobId: Item.running_job_id } : {}),
      ...(typeof Item?.last_job_id === "string" ? { lastJobId: Item.last_job_id } : {}),
    };
  }

  /** META takes the job's slot iff the shop has no running job. */
  private takeSlotItem(shopId: string, jobId: string): TransactItem {
    return updateItem(this.table, metaKey(shopId), (expr) => ({
      update: { set: { shopId, running_job_id: jobId, last_job_id: jobId } },
      condition: `attribute_not_exists(${expr.name("running_job_id")})`,
    }));
  }

  /** The job's slot on META is released iff it is still this job's. */
  private releaseSlotItem(job: JobRecord): TransactItem {
    return updateItem(this.table, metaKey(job.shopId), (expr) => ({
      update: { remove: ["running_job_id"] },
      condition: expr.eq("running_job_id", job.jobId),
    }));
  }

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
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const result = await this.writer.write([
        this.takeSlotItem(input.shopId, input.jobId),
        {
          Put: {
            TableName: this.table,
            Item: { ...jobKey(job), kind: "job", ...job },
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
    const records = windows.map((planned, index) => newWindow(job, index, planned, now));
    for (const group of chunk(records, 25)) {
      let requests: Record<string, unknown>[] | undefined = group.map((record) => ({
        PutRequest: { Item: windowItem(record) },
      }));
      for (let attempt = 0; requests && requests.length > 0; attempt += 1) {
        if (attempt > 0) await sleep(Math.min(2_000, 50 * 2 ** attempt));
        const response = await this.options.documents.send(
          new BatchWriteCommand({ RequestItems: { [this.table]: requests as never } }),
        );
        requests = response.UnprocessedItems?.[this.table] as Record<string, unknown>[] | undefined;
      }
    }
    const activation = updateItem(this.table, jobKey(job), (expr) => ({
      update: {
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
      },
      condition: `${expr.eq("status", "RUNNING")} AND ${expr.eq("phase", "planning")}`,
    }));
    const result = await this.writer.write(
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
    return updateItem(this.table, metaKey(job.shopId), (expr) => ({
      update:
        `SET ${expr.name("cursor")} = if_not_exists(${expr.name("cursor")}, ${expr.value(job.windowEnd)}), ` +
        expr.eq("shopId", job.shopId),
    }));
  }

  /**
   * Exactly-once finalize: job COMPLETED and META's full-sync fields (never the cursor) in one
   * transaction, conditional on the job RUNNING with no open window; the slot is released.
   * False if someone else finalized (or the job is not finished).
   */
  async finalizeJob(job: JobRecord, result: { recordsSynced: number; lastRecordTime?: string }) {
    const now = this.now();
    const finishedAt = new Date(now).toISOString();
    const jobItem = updateItem(this.table, jobKey(job), (expr) => ({
      update: {
        set: {
          status: "COMPLETED",
          phase: "finished",
          finishedAt,
          updatedAtMs: now,
          recordsSynced: result.recordsSynced,
        },
      },
      condition:
        `${expr.eq("status", "RUNNING")} AND ${expr.eq("phase", "running")}` +
        ` AND ${expr.eq("openWindows", 0)}`,
    }));
    const metaItem = (releaseSlot: boolean) =>
      updateItem(this.table, metaKey(job.shopId), (expr) => ({
        update: {
          set: {
            shopId: job.shopId,
            sync_type: "full",
            is_full_sync: true,
            records_synced: result.recordsSynced,
            last_sync_time: finishedAt,
            last_record_time: result.lastRecordTime,
          },
          remove: releaseSlot ? ["running_job_id"] : [],
        },
        ...(releaseSlot ? { condition: expr.eq("running_job_id", job.jobId) } : {}),
      }));
    const first = await this.writer.write([jobItem, metaItem(true)]);
    if (first.ok) return true;
    if (first.failed.includes(0)) return false;
    // The slot names another job (only by hand-editing): finalize ours without touching the slot.
    return (await this.writer.write([jobItem, metaItem(false)])).ok;
  }

  /**
   * RUNNING → FAILED (planning broke, or every open window failed), releasing the shop's slot.
   * With `onlyIfAllOpenFailed` the condition also requires openWindows = failedWindows > 0.
   */
  async failJob(job: JobRecord, reason: string, options: { onlyIfAllOpenFailed?: boolean } = {}) {
    const now = this.now();
    const jobItem = updateItem(this.table, jobKey(job), (expr) => ({
      update: {
        set: { status: "FAILED", finishedAt: new Date(now).toISOString(), updatedAtMs: now, reason },
      },
      condition:
        expr.eq("status", "RUNNING") +
        (options.onlyIfAllOpenFailed
          ? ` AND ${expr.name("openWindows")} = ${expr.name("failedWindows")}` +
            ` AND ${expr.name("failedWindows")} > ${expr.value(0)}`
          : ""),
    }));
    const first = await this.writer.write([jobItem, this.releaseSlotItem(job)]);
    if (first.ok) return true;
    if (first.failed.includes(0)) return false;
    return this.writer.update(jobItem);
  }

  /** RUNNING or FAILED → CANCELLED (workers then drop its messages); the slot is released. */
  async cancelJob(job: JobRecord) {
    const now = this.now();
    const jobItem = updateItem(this.table, jobKey(job), (expr) => ({
      update: {
        set: {
          status: "CANCELLED",
          phase: "finished",
          finishedAt: new Date(now).toISOString(),
          updatedAtMs: now,
        },
      },
      condition: expr.eq("status", job.status),
    }));
    if (job.status === "RUNNING") {
      const first = await this.writer.write([jobItem, this.releaseSlotItem(job)]);
      if (first.ok) return true;
      if (first.failed.includes(0)) return false;
    }
    return this.writer.update(jobItem);
  }

  /** FAILED → RUNNING for a redrive: takes the shop's slot again (JobAlreadyRunningError if taken). */
  async reactivateJob(job: JobRecord) {
    const result = await this.writer.write([
      updateItem(this.table, jobKey(job), (expr) => ({
        update: { set: { status: "RUNNING", updatedAtMs: this.now() }, remove: ["finishedAt", "reason"] },
        condition: expr.eq("status", "FAILED"),
      })),
      this.takeSlotItem(job.shopId, job.jobId),
    ]);
    if (result.ok) return true;
    if (result.failed.includes(1)) {
      const { runningJobId } = await this.getJobPointers(job.shopId);
      if (runningJobId && runningJobId !== job.jobId)
        throw new JobAlreadyRunningError(job.shopId, runningJobId);
    }
    return false;
  }

  /** The newest update_time stored for the shop (byUpdateTime index, one item): finalize records it. */
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
