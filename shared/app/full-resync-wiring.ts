/**
 * The full resync (planner, worker, reconciler, progress) as the Runtime builds it: its ports from the
 * runtime's stores, queues and shops, and its operations with the sync's typed errors turned into the
 * HTTP API's 4xx answers.
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { Clock } from "../clock";
import type { SyncConfig } from "../config";
import { HttpError } from "../http/http-error";
import type { LogPort, MetricsPort } from "../observability/telemetry";
import { sqsDeadLetters, sqsWorkQueue } from "../queues/sqs-work-queue";
import { WORK_QUEUE } from "../resources";
import { JobStore } from "../store/job-store";
import type { OrderStore } from "../store/order-store";
import type { StateStore } from "../store/state-store";
import { WindowStore } from "../store/window-store";
import type { ScopedApiCallMeter } from "../sync/full-resync/api-calls";
import { type FullResyncDeps, type FullResyncSettings, fullResyncSettings } from "../sync/full-resync/deps";
import type { ResumeResult } from "../sync/full-resync/lifecycle";
import { cancelJob, resumeJob } from "../sync/full-resync/lifecycle";
import type { JobStatus } from "../sync/full-resync/model";
import type { FullResyncRange, FullResyncStarted } from "../sync/full-resync/planner";
import { startFullResync, startOrJoinFullResync } from "../sync/full-resync/planner";
import type { JobProgress } from "../sync/full-resync/progress";
import { getJobProgress } from "../sync/full-resync/progress";
import { reconcileJobs } from "../sync/full-resync/reconciler";
import {
  FullResyncPlanningError,
  InvalidRangeError,
  JobAlreadyRunningError,
  JobNotFoundError,
  JobStateError,
} from "../sync/full-resync/resync-errors";
import type { ReconciliationSettings } from "../sync/reconciliation/reconcile-shop";
import type { TimedOptions } from "../time-budget";
import { DeadlineExceededError } from "../time-budget";
import type { ShopRegistry } from "./shop-registry";

export interface FullResyncWiringOptions {
  /** Overrides for tests and the benchmark (e.g. a short visibility timeout). */
  readonly settings?: Partial<FullResyncSettings>;
  readonly crashAt?: FullResyncDeps["crashAt"];
  readonly newJobId?: () => string;
  /** Overrides of the reconciliation's settings (tests: a smaller bisection minimum). */
  readonly reconciliation?: Partial<ReconciliationSettings>;
}

/** What the full resync is built from: the runtime's parts it uses. */
export interface FullResyncParts {
  readonly config: SyncConfig;
  readonly documents: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly workQueueUrl: string;
  readonly state: StateStore;
  readonly orders: OrderStore;
  readonly shops: ShopRegistry;
  readonly apiCalls: ScopedApiCallMeter;
  readonly clock: Clock;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
}

function fullResyncDeps(parts: FullResyncParts, options: FullResyncWiringOptions): FullResyncDeps {
  const { config } = parts;
  const jobTable = {
    documents: parts.documents,
    stateTable: config.STATE_TABLE_NAME,
    ordersTable: config.ORDERS_TABLE_NAME,
    clock: parts.clock,
  };
  return {
    jobs: new JobStore(jobTable),
    windows: new WindowStore(jobTable),
    state: parts.state,
    orders: parts.orders,
    resolveShop: async (shopId) => {
      const shop = await parts.shops.open(shopId);
      return { shop: shop.ref, tiktok: shop.client };
    },
    apiCalls: parts.apiCalls,
    workQueue: sqsWorkQueue(parts.sqs, parts.workQueueUrl),
    ...(config.DEAD_LETTER_QUEUE_URL
      ? { deadLetters: sqsDeadLetters(parts.sqs, config.DEAD_LETTER_QUEUE_URL) }
      : {}),
    clock: parts.clock,
    metrics: parts.metrics,
    log: parts.log,
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

/** The full resync's ports (the worker handler runs on them) and its operations for the API and the tick. */
export interface FullResync {
  readonly deps: FullResyncDeps;
  start(shopId: string, range: FullResyncRange, options?: TimedOptions): Promise<FullResyncStarted>;
  cancel(shopId: string, jobId: string): Promise<{ jobId: string; status: JobStatus }>;
  resume(shopId: string, jobId: string): Promise<ResumeResult>;
  progress(shopId: string, jobId?: string): Promise<JobProgress | undefined>;
  /** Re-enqueues stalled windows and settles the shop's running job (the tick runs it). */
  reconcile(shopId: string, options?: TimedOptions): Promise<void>;
  /** First sync: start a full resync, or join the one already running. */
  startOrJoin(shopId: string, options?: TimedOptions): Promise<{ jobId: string; started: boolean }>;
  /** Messages in the dead-letter queue, or null when none is configured. */
  deadLetterDepth(): Promise<number | null>;
}

export function buildFullResync(parts: FullResyncParts, options: FullResyncWiringOptions = {}): FullResync {
  const deps = fullResyncDeps(parts, options);
  return {
    deps,
    start: (shopId, range, timed = {}) => startFullResync(deps, shopId, range, timed).catch(toHttpError),
    cancel: (shopId, jobId) => cancelJob(deps, shopId, jobId).catch(toHttpError),
    resume: (shopId, jobId) => resumeJob(deps, shopId, jobId).catch(toHttpError),
    progress: (shopId, jobId) => getJobProgress(deps, shopId, jobId),
    async reconcile(shopId, timed = {}) {
      await reconcileJobs(deps, shopId, timed);
    },
    startOrJoin: (shopId, timed = {}) => startOrJoinFullResync(deps, shopId, {}, timed),
    deadLetterDepth: async () => (deps.deadLetters ? deps.deadLetters.depth() : null),
  };
}
