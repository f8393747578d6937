/**
 * The benchmark's sync process: the product as `npm start` wires it (infra/local/local-stack.ts) —
 * one Runtime, the full resync wired into it, the real worker handler driven by the local SQS poller
 * at WORKER_CONCURRENCY lanes, the real tick — in a child process of its own, so its memory and CPU
 * are the workers' alone (the TikTok emulator and the correctness checks live in the parent).
 *
 * The benchmark drives it over IPC (bench/sync-child.ts): `init`, then `full-resync` or `tick` per
 * scenario (each answered with what it spent: TikTok calls, DynamoDB and SQS requests, worker
 * invocations, peak memory).
 * DynamoDB and SQS clients are metered; job progress is polled on a separate, unmetered client, as
 * the dashboard's status reads are no part of a sync's cost.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

import { makeWorkerHandler } from "../functions/worker/handler-core";
import { type SqsBatchHandler, type SqsPoller, startSqsPoller } from "../infra/local/sqs-poller";
import { Runtime } from "../shared/app/runtime";
import { runTick } from "../shared/app/tick";
import { createDocumentClient, createDynamoDbClient, createSqsClient } from "../shared/aws-clients";
import { systemClock } from "../shared/clock";
import { parseConfig } from "../shared/config";
import { MetricName } from "../shared/observability/metric-names";
import type { LogPort, MetricsPort } from "../shared/observability/telemetry";
import { WORKER_TIMEOUT_SECONDS } from "../shared/resources";
import { JobStore } from "../shared/store/job-store";
import { WindowStore } from "../shared/store/window-store";
import type { FullResyncDeps } from "../shared/sync/full-resync/deps";
import { getJobProgress, type JobProgress } from "../shared/sync/full-resync/progress";
import {
  type DynamoCounts,
  diffDynamoCounts,
  diffRecord,
  MemorySampler,
  meterDynamoDb,
  meterSqs,
  timedFetch,
} from "./instrument";
import type {
  FullResyncResult,
  ProcessMeters,
  SyncProcessInit,
  SyncRequest,
  SyncResponse,
  TickResult,
} from "./protocol";

/** A job whose order count has not moved for this long is reported as stalled (the run fails). */
const STALL_MS = 10 * 60_000;
const POLL_MS = 500;
/** A progress line on stderr this often while a job runs (for long runs watched through a log file). */
const REPORT_MS = 30_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Problems {
  warnings: number;
  errors: number;
  last: string[];
}

/** Warnings and errors go to stderr (and are counted); routine info is dropped. */
function benchLog(problems: Problems): LogPort {
  const line = (level: "warn" | "error", message: string, fields?: Record<string, unknown>) => {
    if (level === "warn") problems.warnings += 1;
    else problems.errors += 1;
    const text = `${message}${fields ? ` ${JSON.stringify(fields)}` : ""}`;
    problems.last = [...problems.last.slice(-4), text];
    process.stderr.write(`[sync-process] ${level} ${text}\n`);
  };
  return {
    info: () => {},
    warn: (message, fields) => line("warn", message, fields),
    error: (message, fields) => line("error", message, fields),
  };
}

/**
 * Metrics go to CloudWatch on AWS and are no part of what is measured; the two the benchmark checks a
 * full resync by (its orders summed, its open windows last reported) are tallied, nothing else is kept.
 */
class JobMetricsTally implements MetricsPort {
  jobOrders = 0;
  lastWindowsOpen: number | undefined;

  record(_shopId: string, name: MetricName, value: number): void {
    if (name === MetricName.JobOrders) this.jobOrders += value;
    else if (name === MetricName.JobWindowsOpen) this.lastWindowsOpen = value;
  }

  reset(): void {
    this.jobOrders = 0;
    this.lastWindowsOpen = undefined;
  }
}

interface Snapshot {
  readonly dynamodb: DynamoCounts;
  readonly sqs: Record<string, number>;
  readonly apiCalls: ProcessMeters["apiCalls"];
  readonly tiktokHttp: ProcessMeters["tiktokHttp"];
  readonly workerInvocations: number;
  readonly workerBusyMs: number;
  readonly workerRecords: number;
  readonly warnings: number;
  readonly errors: number;
}

class SyncProcess {
  private readonly problems: Problems = { warnings: 0, errors: 0, last: [] };
  private readonly memory = new MemorySampler();
  private readonly metrics = new JobMetricsTally();
  private readonly runtime: Runtime;
  /** Progress read on a client of its own, so its reads are not metered as the sync's. */
  private readonly progressReads: Pick<FullResyncDeps, "jobs" | "windows" | "clock">;
  private readonly progressClient;
  private readonly dynamoCounts: DynamoCounts;
  private readonly sqsCounts: Record<string, number>;
  private readonly worker = { invocations: 0, busyMs: 0, records: 0 };
  private readonly http = { calls: 0, sumMs: 0, busyMs: 0 };
  private poller: SqsPoller | undefined;

  constructor(private readonly init: SyncProcessInit) {
    const config = parseConfig(init.env);
    const dynamodb = createDynamoDbClient({ dynamodbEndpoint: config.DYNAMODB_ENDPOINT });
    const sqs = createSqsClient({ sqsEndpoint: config.SQS_ENDPOINT });
    this.dynamoCounts = meterDynamoDb(dynamodb, () => config.ORDERS_TABLE_NAME);
    this.sqsCounts = meterSqs(sqs);
    this.runtime = new Runtime(config, {
      credentials: {
        appKey: config.TIKTOK_APP_KEY as string,
        appSecret: config.TIKTOK_APP_SECRET as string,
        initialTokens: { accessToken: init.accessToken, refreshToken: init.refreshToken },
      },
      metrics: this.metrics,
      log: benchLog(this.problems),
      dynamodb,
      sqs,
      fetch: timedFetch(this.http),
      // One process, one runtime: every lane shares the shop's single rate limiter, so it gets the
      // whole budget (as `npm start` does). On Lambda each function instance has its own limiter and
      // takes its share instead (shared/tiktok/rate-budget.ts).
      rateShare: 1,
    });
    this.progressClient = createDynamoDbClient({ dynamodbEndpoint: config.DYNAMODB_ENDPOINT });
    const jobTable = {
      documents: createDocumentClient(this.progressClient),
      stateTable: config.STATE_TABLE_NAME,
      ordersTable: config.ORDERS_TABLE_NAME,
      clock: systemClock,
    };
    this.progressReads = {
      jobs: new JobStore(jobTable),
      windows: new WindowStore(jobTable),
      clock: systemClock,
    };
  }

  async start(): Promise<void> {
    const { runtime, init } = this;
    const config = runtime.config;
    // As the local stack does: the emulator's fixed pair, installed before any call.
    const now = Math.floor(Date.now() / 1000);
    await runtime.tokenRepository.storeAuthorized(init.shopId, {
      accessToken: init.accessToken,
      refreshToken: init.refreshToken,
      accessTokenExpiresAt: now + 7 * 86_400,
      refreshTokenExpiresAt: now + 365 * 86_400,
    });
    const handler = makeWorkerHandler(runtime.requireFullResync().deps);
    const timed: SqsBatchHandler = async (event, context) => {
      const started = performance.now();
      try {
        return await handler(event, context);
      } finally {
        this.worker.invocations += 1;
        this.worker.records += event.Records.length;
        this.worker.busyMs += performance.now() - started;
      }
    };
    this.poller = startSqsPoller({
      sqs: runtime.sqs,
      queueUrl: config.WORK_QUEUE_URL as string,
      handler: timed,
      batchSize: init.batchSize,
      concurrency: init.workers,
      // Lambda's event source mapping long-polls for 20 s; an idle lane costs one receive per 20 s.
      waitTimeSeconds: 20,
      functionTimeoutMs: WORKER_TIMEOUT_SECONDS * 1000,
      log: runtime.log,
    });
  }

  private snapshot(): Snapshot {
    return {
      dynamodb: structuredClone(this.dynamoCounts),
      sqs: { ...this.sqsCounts },
      apiCalls: this.runtime.apiCalls.snapshot(),
      tiktokHttp: { ...this.http },
      workerInvocations: this.worker.invocations,
      workerBusyMs: this.worker.busyMs,
      workerRecords: this.worker.records,
      warnings: this.problems.warnings,
      errors: this.problems.errors,
    };
  }

  private since(before: Snapshot): ProcessMeters {
    const after = this.snapshot();
    const peaks = this.memory.peaks();
    // Started with --expose-gc by the benchmark: what survives a full collection is what is retained.
    (globalThis as { gc?: () => void }).gc?.();
    return {
      dynamodb: diffDynamoCounts(after.dynamodb, before.dynamodb),
      sqs: diffRecord(after.sqs, before.sqs),
      apiCalls: this.runtime.apiCalls.since(before.apiCalls),
      tiktokHttp: {
        calls: after.tiktokHttp.calls - before.tiktokHttp.calls,
        sumMs: Math.round(after.tiktokHttp.sumMs - before.tiktokHttp.sumMs),
        busyMs: Math.round(after.tiktokHttp.busyMs - before.tiktokHttp.busyMs),
      },
      workerInvocations: after.workerInvocations - before.workerInvocations,
      workerBusyMs: Math.round(after.workerBusyMs - before.workerBusyMs),
      workerRecords: after.workerRecords - before.workerRecords,
      peakRssBytes: peaks.rssBytes,
      peakHeapBytes: peaks.heapBytes,
      retainedHeapBytes: process.memoryUsage().heapUsed,
      warnings: after.warnings - before.warnings,
      errors: after.errors - before.errors,
      lastProblems: after.warnings + after.errors > before.warnings + before.errors ? this.problems.last : [],
    };
  }

  async fullResync(range?: { from: number; to: number }): Promise<FullResyncResult> {
    const fullResync = this.runtime.fullResync;
    if (!fullResync) throw new Error("full resync is not wired");
    const shopId = this.init.shopId;
    const before = this.snapshot();
    (globalThis as { gc?: () => void }).gc?.();
    this.memory.reset();
    this.metrics.reset();
    const startedAtMs = Date.now();
    const started = (await fullResync.start(shopId, range ?? {})) as {
      jobId: string;
      windows: number;
      probes: number;
      windowEnd: number;
    };
    const planningMs = Date.now() - startedAtMs;
    let progress: JobProgress | undefined;
    let lastOrders = -1;
    let lastMoveMs = Date.now();
    let lastReportMs = Date.now();
    for (;;) {
      progress = await getJobProgress(this.progressReads, shopId, started.jobId);
      if (progress?.status !== "RUNNING") break;
      if (progress.orders !== lastOrders) {
        lastOrders = progress.orders;
        lastMoveMs = Date.now();
      } else if (Date.now() - lastMoveMs > STALL_MS) {
        throw new Error(`job ${started.jobId} stalled: ${JSON.stringify(progress)}`);
      }
      if (Date.now() - lastReportMs >= REPORT_MS) {
        lastReportMs = Date.now();
        process.stderr.write(
          `[sync-process] ${new Date().toISOString().slice(11, 19)} job ${started.jobId}: ` +
            `${progress.orders}/${progress.expected_orders} orders, windows ${progress.windows.done}/` +
            `${progress.windows.total}, ${progress.api_calls} API calls, ` +
            `${Math.round(progress.rate)} orders/s, ` +
            `rss ${Math.round(process.memoryUsage().rss / 1024 / 1024)} MB\n`,
        );
      }
      await sleep(POLL_MS);
    }
    if (progress?.status !== "COMPLETED" || !progress.finished) {
      throw new Error(
        `job ${started.jobId} ended ${progress?.status ?? "unknown"}: ${JSON.stringify(progress)}`,
      );
    }
    const wallMs = Date.parse(progress.finished) - startedAtMs;
    // Let the last batches be acknowledged (their deletes belong to this job).
    await sleep(1_000);
    return {
      meters: this.since(before),
      wallMs,
      planningMs,
      jobId: started.jobId,
      windowEnd: started.windowEnd,
      windows: started.windows,
      probes: started.probes,
      progress: { ...progress },
      metrics: { jobOrders: this.metrics.jobOrders, lastWindowsOpen: this.metrics.lastWindowsOpen },
    };
  }

  async tick(): Promise<TickResult> {
    const before = this.snapshot();
    (globalThis as { gc?: () => void }).gc?.();
    this.memory.reset();
    const started = performance.now();
    const results = await runTick(this.runtime);
    const wallMs = performance.now() - started;
    const outcome = results[0]?.outcome;
    return {
      meters: this.since(before),
      wallMs,
      status: outcome?.status ?? "none",
      ...(outcome?.status === "completed" ? { lastRun: { ...outcome.lastRun } } : {}),
    };
  }

  async stop(): Promise<void> {
    await this.poller?.stop();
    this.memory.stop();
    this.runtime.dynamodb.destroy();
    this.runtime.sqs.destroy();
    this.progressClient.destroy();
  }
}

let syncProcess: SyncProcess | undefined;

async function dispatch(request: SyncRequest): Promise<unknown> {
  if (request.type === "init") {
    syncProcess = new SyncProcess(request.init);
    await syncProcess.start();
    await sleep(1_000);
    return { pid: process.pid, idleRssBytes: process.memoryUsage().rss };
  }
  if (!syncProcess) throw new Error("not initialised");
  if (request.type === "full-resync") return syncProcess.fullResync(request.range);
  if (request.type === "tick") return syncProcess.tick();
  await syncProcess.stop();
  return { stopped: true };
}

function reply(response: SyncResponse, then?: () => void) {
  process.send?.(response, undefined, undefined, () => then?.());
}

process.on("message", (request: SyncRequest) => {
  dispatch(request).then(
    (result) =>
      reply(
        { id: request.id, ok: true, result },
        request.type === "stop" ? () => process.exit(0) : undefined,
      ),
    (error: unknown) =>
      reply({
        id: request.id,
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
  );
});
// The benchmark went away: stop rather than linger.
process.on("disconnect", () => process.exit(1));
