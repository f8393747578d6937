/**
 * Reconciler (DESIGN rule 10), run by every tick for each shop: open windows of the running job with
 * no sign of life for 2× the visibility timeout are re-enqueued from their stored state. That is how
 * a lost queue, a restarted SQS emulator, a lost continuation or a planner that died before enqueuing
 * recovers: the state table is the truth, SQS only carries work. A window re-enqueued `maxRequeues`
 * times without progress (e.g. a worker that times out before it can report) is marked FAILED. It
 * also finalizes or fails a job whose last window closed without that step (a crash in between), and
 * abandons a job whose planner died while planning.
 */

import { MetricName } from "../../observability/metric-names";
import { Deadline, TIME_BUDGET } from "../../time-budget";
import type { FullResyncDeps } from "./deps";
import { enqueueWindows, type SettleOutcome, settleJob } from "./lifecycle";
import type { JobStatus, WindowRecord } from "./model";
import { EnqueueError } from "./resync-errors";

export interface ReconcileResult {
  readonly jobId?: string;
  /** The job's status after reconciling. */
  readonly status?: JobStatus;
  readonly requeued: number;
  /** Windows this pass marked FAILED. */
  readonly failedWindows: number;
  readonly outcome: SettleOutcome | "no-job" | "planning" | "planning-abandoned";
}

export interface ReconcileOptions {
  /**
   * When the tick must be done: stalled windows are marked for re-enqueueing only while the
   * enqueue and the job's settlement still fit (TIME_BUDGET.pageCommitReserveMs); the rest wait for
   * the next tick (they stay stalled, so it finds them again).
   */
  readonly deadline?: Deadline;
}

export async function reconcileJobs(
  deps: FullResyncDeps,
  shopId: string,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const deadline = options.deadline ?? Deadline.none();
  const { runningJobId } = await deps.jobs.getJobPointers(shopId);
  const job = runningJobId ? await deps.jobs.getJob(shopId, runningJobId) : undefined;
  if (job?.status !== "RUNNING") return { requeued: 0, failedWindows: 0, outcome: "no-job" };
  const now = deps.clock.nowMs();
  const settings = deps.settings;
  if (job.phase === "planning") {
    if (now - job.createdAtMs < settings.planningTimeoutMs) {
      return { jobId: job.jobId, status: job.status, requeued: 0, failedWindows: 0, outcome: "planning" };
    }
    await deps.jobs.failJob(job, "planning was interrupted");
    deps.log.error("full resync abandoned: its planner never finished", { shopId, jobId: job.jobId });
    return {
      jobId: job.jobId,
      status: "FAILED",
      requeued: 0,
      failedWindows: 0,
      outcome: "planning-abandoned",
    };
  }

  const stallMs = 2 * settings.visibilityTimeoutSeconds * 1000;
  const stalled = (await deps.windows.listWindows(shopId, job.jobId)).filter(
    (window) =>
      window.status === "OPEN" && now - Math.max(window.updatedAtMs, window.activityAtMs) >= stallMs,
  );
  const toSend: WindowRecord[] = [];
  let failedWindows = 0;
  for (const window of stalled) {
    if (!deadline.allows(TIME_BUDGET.pageCommitReserveMs)) break;
    if (window.requeues >= settings.maxRequeues) {
      const reason = `no progress after ${window.requeues} re-enqueues by the reconciler`;
      if (await deps.windows.failWindow(window, reason)) failedWindows += 1;
    } else if (await deps.windows.markRequeued(window)) {
      toSend.push(window);
    }
  }
  if (toSend.length > 0) {
    try {
      await enqueueWindows(deps, toSend);
    } catch (error) {
      // Marked as re-enqueued but not sent: the next pass after another stall period retries.
      if (!(error instanceof EnqueueError)) throw error;
      deps.log.warn("reconciler could not re-enqueue every stalled window", { shopId, failed: error.failed });
    }
    deps.metrics.record(shopId, MetricName.JobStalled, toSend.length, "Count");
    deps.log.warn("stalled windows re-enqueued", { shopId, jobId: job.jobId, windows: toSend.length });
  }
  if (failedWindows > 0) {
    deps.log.error("windows failed: no progress despite re-enqueues", {
      shopId,
      jobId: job.jobId,
      failedWindows,
    });
  }
  const outcome = await settleJob(deps, shopId, job.jobId);
  const status: JobStatus =
    outcome === "finalized" ? "COMPLETED" : outcome === "failed" ? "FAILED" : "RUNNING";
  deps.metrics.record(
    shopId,
    MetricName.JobWindowsOpen,
    outcome === "finalized" ? 0 : job.openWindows,
    "Count",
  );
  return { jobId: job.jobId, status, requeued: toSend.length, failedWindows, outcome };
}
