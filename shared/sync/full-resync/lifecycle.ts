/**
 * Job-level transitions shared by planner, worker, reconciler and the operator routes: finalize
 * exactly once, fail a job whose open windows all failed, cancel, and resume (the redrive).
 */

import { MetricName } from "../../observability/metric-names";
import type { FullResyncDeps } from "./deps";
import type { WorkMessage } from "./messages";
import type { JobRecord, JobStatus, WindowRecord } from "./model";
import { JobNotFoundError, JobStateError } from "./resync-errors";

/** The message that continues a window from its stored state. */
export function messageFor(window: WindowRecord): WorkMessage {
  return {
    shopId: window.shopId,
    jobId: window.jobId,
    window: window.window,
    sequence: window.seq,
    ...(window.pageToken ? { pageToken: window.pageToken } : {}),
  };
}

export async function enqueueWindows(deps: FullResyncDeps, windows: readonly WindowRecord[]) {
  await deps.workQueue.send(windows.map((window) => ({ message: messageFor(window) })));
}

/**
 * The last window is done: job COMPLETED and META records the full sync, exactly once (the
 * transaction is conditional on the job still RUNNING with openWindows = 0); the cursor is not moved.
 *
 * `records_synced` comes from the job's counts: the distinct valid orders its windows stored or
 * confirmed (each order of the range once). For a whole-history job that is every order of the shop
 * created before windowEnd, i.e. the orders stored for the shop as of the job. Counting the orders
 * table instead (Query, Select COUNT) reads every item: 38 s for 20,000 orders on DynamoDB Local,
 * and for 283k orders on AWS ~850 sequential 1 MB pages and ~100k read units — too slow and costly
 * for the worker message that happens to close the last window.
 */
export async function finalizeJob(deps: FullResyncDeps, job: JobRecord): Promise<boolean> {
  const [windows, newest] = await Promise.all([
    deps.windows.listWindows(job.shopId, job.jobId),
    deps.jobs.newestUpdateTime(job.shopId),
  ]);
  const closed = windows.filter((window) => window.status === "DONE");
  const recordsSynced = closed.reduce((total, window) => total + window.orders - window.quarantined, 0);
  const finalized = await deps.jobs.finalizeJob(job, {
    recordsSynced,
    ...(newest !== undefined ? { lastRecordTime: new Date(newest * 1000).toISOString() } : {}),
  });
  if (finalized) {
    deps.metrics.record(job.shopId, MetricName.JobWindowsOpen, 0, "Count");
    deps.log.info("full resync completed", { shopId: job.shopId, jobId: job.jobId, recordsSynced });
  }
  return finalized;
}

export type SettleOutcome = "finalized" | "failed" | "running" | "not-running";

/** After a window closed: finalize at openWindows = 0, or fail the job when only failed ones remain. */
export async function settleJob(deps: FullResyncDeps, shopId: string, jobId: string): Promise<SettleOutcome> {
  const job = await deps.jobs.getJob(shopId, jobId);
  if (job?.status !== "RUNNING" || job.phase !== "running") return "not-running";
  if (job.openWindows <= 0) return (await finalizeJob(deps, job)) ? "finalized" : "not-running";
  if (job.failedWindows > 0 && job.openWindows === job.failedWindows) {
    const failed = await deps.jobs.failJob(job, `${job.failedWindows} window(s) failed`, {
      onlyIfAllOpenFailed: true,
    });
    if (failed) {
      deps.log.error("full resync failed: windows reached the DLQ", {
        shopId,
        jobId,
        failedWindows: job.failedWindows,
      });
    }
    return failed ? "failed" : "running";
  }
  return "running";
}

async function requireJob(deps: FullResyncDeps, shopId: string, jobId: string): Promise<JobRecord> {
  const job = await deps.jobs.getJob(shopId, jobId);
  if (!job) throw new JobNotFoundError(shopId, jobId);
  return job;
}

/** Cancels a RUNNING or FAILED job: workers drop its messages from then on; its slot is released. */
export async function cancelJob(
  deps: FullResyncDeps,
  shopId: string,
  jobId: string,
): Promise<{ jobId: string; status: JobStatus }> {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const job = await requireJob(deps, shopId, jobId);
    if (job.status !== "RUNNING" && job.status !== "FAILED")
      throw new JobStateError(jobId, job.status, "cancel");
    if (await deps.jobs.cancelJob(job)) {
      deps.log.info("full resync cancelled", { shopId, jobId });
      return { jobId, status: "CANCELLED" };
    }
  }
  const job = await requireJob(deps, shopId, jobId);
  throw new JobStateError(jobId, job.status, "cancel");
}

export interface ResumeResult {
  readonly jobId: string;
  readonly status: JobStatus;
  /** FAILED windows reopened. */
  readonly reopened: number;
  /** Work messages sent (one per open window, from its stored state). */
  readonly requeued: number;
  /** This job's messages removed from the DLQ (0 when no DLQ url is configured). */
  readonly deadLettersRemoved: number;
}

/**
 * The redrive: reopens FAILED windows, makes a FAILED job RUNNING again (retaking the shop's slot),
 * and re-enqueues every open window from its stored state. The job's dead letters are then removed
 * (stale copies: the window items are the truth), since the local SQS emulator has no
 * StartMessageMoveTask. Duplicate messages this creates are dropped by the sequence check.
 */
export async function resumeJob(deps: FullResyncDeps, shopId: string, jobId: string): Promise<ResumeResult> {
  const job = await requireJob(deps, shopId, jobId);
  if (job.status !== "RUNNING" && job.status !== "FAILED")
    throw new JobStateError(jobId, job.status, "resume");
  if (job.phase !== "running") throw new JobStateError(jobId, `${job.status} (${job.phase})`, "resume");
  let reopened = 0;
  for (const window of await deps.windows.listWindows(shopId, jobId)) {
    if (window.status === "FAILED" && (await deps.windows.reopenWindow(window))) reopened += 1;
  }
  if (job.status === "FAILED") await deps.jobs.reactivateJob(job);
  const now = deps.clock.nowMs();
  const open = (await deps.windows.listWindows(shopId, jobId)).filter((window) => window.status === "OPEN");
  // Mark them alive so the reconciler does not enqueue them a second time right away.
  for (const window of open) await deps.windows.touchWindow(window, now, {});
  await enqueueWindows(deps, open);
  // Stale copies (the window items are the truth): removed so the DLQ shows only what still needs care.
  const deadLettersRemoved = deps.deadLetters
    ? await deps.deadLetters.remove((message) => message.shopId === shopId && message.jobId === jobId)
    : 0;
  const settled = await settleJob(deps, shopId, jobId);
  deps.log.info("full resync resumed", {
    shopId,
    jobId,
    reopened,
    requeued: open.length,
    deadLettersRemoved,
  });
  const status: JobStatus =
    settled === "finalized" ? "COMPLETED" : settled === "failed" ? "FAILED" : "RUNNING";
  return { jobId, status, reopened, requeued: open.length, deadLettersRemoved };
}
