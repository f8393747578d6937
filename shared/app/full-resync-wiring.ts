/**
 * Plugs the full resync (planner, worker, reconciler, progress) into a Runtime: builds its ports from the
 * runtime's stores and clients and exposes it as the runtime's FullResyncPort, with the sync's typed errors
 * turned into the HTTP API's 4xx answers.
 */

import { HttpError } from "../http/errors";
import { sqsDeadLetters, sqsWorkQueue } from "../queues/sqs-work-queue";
import { WORK_QUEUE } from "../resources";
import { JobStore } from "../store/job-store";
import { type FullResyncDeps, type FullResyncSettings, fullResyncSettings } from "../sync/full-resync/deps";
import {
  FullResyncPlanningError,
  InvalidRangeError,
  JobAlreadyRunningError,
  JobNotFoundError,
  JobStateError,
} from "../sync/full-resync/errors";
import { cancelJob, resumeJob } from "../sync/full-resync/lifecycle";
import { startFullResync, startOrJoinFullResync } from "../sync/full-resync/planner";
import { getJobProgress } from "../sync/full-resync/progress";
import { reconcileJobs } from "../sync/full-resync/reconciler";
import type { ReconciliationSettings } from "../sync/reconciliation/reconcile-shop";
import { DeadlineExceededError } from "../time-budget";
import { wireReconciliation } from "./reconciliation-wiring";
import type { FullResyncPort, Runtime } from "./runtime";

export interface FullResyncWiringOptions {
  /** Overrides for tests and the benchmark (e.g. a short visibility timeout). */
  readonly settings?: Partial<FullResyncSettings>;
  readonly crashAt?: FullResyncDeps["crashAt"];
  readonly newJobId?: () => string;
  /** Overrides of the reconciliation's settings (tests: a smaller bisection minimum). */
  readonly reconciliation?: Partial<ReconciliationSettings>;
}

export function fullResyncDeps(runtime: Runtime, options: FullResyncWiringOptions = {}): FullResyncDeps {
  const { config } = runtime;
  if (!config.WORK_QUEUE_URL) throw new Error("WORK_QUEUE_URL is required for full resyncs");
  return {
    jobs: new JobStore({
      documents: runtime.documents,
      stateTable: config.STATE_TABLE_NAME,
      ordersTable: config.ORDERS_TABLE_NAME,
      clock: runtime.clock,
    }),
    state: runtime.state,
    orders: runtime.orders,
    resolveShop: async (shopId) => {
      const shop = await runtime.shop(shopId);
      return { shop: shop.ref, tiktok: shop.client };
    },
    apiCalls: runtime.apiCalls,
    workQueue: sqsWorkQueue(runtime.sqs, config.WORK_QUEUE_URL),
    ...(config.DEAD_LETTER_QUEUE_URL
      ? { deadLetters: sqsDeadLetters(runtime.sqs, config.DEAD_LETTER_QUEUE_URL) }
      : {}),
    clock: runtime.clock,
    metrics: runtime.metrics,
    log: runtime.log,
    settings: fullResyncSettings({
      settleSeconds: config.SYNC_SETTLE_SECONDS,
      visibilityTimeoutSeconds: WORK_QUEUE.visibilityTimeoutSeconds,
      maxReceiveCount: WORK_QUEUE.maxReceiveCount ?? 5,
      resultCap: config.TIKTOK_RESULT_CAP,
      maxProbes: config.FULL_RESYNC_PLANNER_PROBES,
      minWindows: config.WORKER_CONCURRENCY,
      storeRecipientData: config.STORE_RECIPIENT_DATA,
      ...options.settings,
    }),
    ...(options.crashAt ? { crashAt: options.crashAt } : {}),
    ...(options.newJobId ? { newJobId: options.newJobId } : {}),
  };
}

function toHttpError(error: unknown): never {
  if (error instanceof JobAlreadyRunningError) {
    throw new HttpError(409, "job_already_running", error.message, { job_id: error.runningJobId });
  }
  if (error instanceof JobNotFoundError) throw new HttpError(404, "job_not_found", error.message);
  if (error instanceof JobStateError) throw new HttpError(409, "job_state_conflict", error.message);
  if (error instanceof InvalidRangeError) throw new HttpError(400, "invalid_range", error.message);
  if (error instanceof FullResyncPlanningError && error.cause instanceof DeadlineExceededError) {
    // The job's total could not be probed in the request's time (TikTok slow or throttling).
    throw new HttpError(
      503,
      "planning_timed_out",
      `${error.message}: TikTok did not answer the planning probe in time; try again`,
      { job_id: error.jobId },
      { cause: error },
    );
  }
  throw error;
}

/** Wires the full resync into `runtime` and returns its deps (the worker handler needs them too). */
export function wireFullResync(runtime: Runtime, options: FullResyncWiringOptions = {}): FullResyncDeps {
  const deps = fullResyncDeps(runtime, options);
  const port: FullResyncPort = {
    async start(shopId, range, options = {}) {
      const started = await startFullResync(deps, shopId, range, options).catch(toHttpError);
      return { ...started };
    },
    async cancel(shopId, jobId) {
      return { ...(await cancelJob(deps, shopId, jobId).catch(toHttpError)) };
    },
    async resume(shopId, jobId) {
      return { ...(await resumeJob(deps, shopId, jobId).catch(toHttpError)) };
    },
    async progress(shopId, jobId) {
      const progress = await getJobProgress(deps, shopId, jobId);
      return progress ? { ...progress } : undefined;
    },
    async reconcile(shopId, options = {}) {
      await reconcileJobs(deps, shopId, options);
    },
    async startOrJoin(shopId, options = {}) {
      return startOrJoinFullResync(deps, shopId, {}, options);
    },
  };
  runtime.fullResync = port;
  wireReconciliation(runtime, deps, options.reconciliation);
  return deps;
}
