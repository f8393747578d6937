/**
 * The laptop twin of the deployed stack, started in one process tree: emulators for whatever is not
 * configured, tables and queues from shared/resources.ts, the HTTP API on PORT, the scheduler (tick) and
 * the SQS poller (worker). Returns a handle whose stop() ends every child process.
 *
 * The terminal shows a progress bar per running full resync (plain lines every few seconds when stdout is
 * not a TTY), then one line per shop per tick.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Writable } from "node:stream";
import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { MultiBar, type SingleBar } from "cli-progress";
import { makeWebhookConsumerHandler } from "../../functions/webhook-consumer/handler-core";
import { makeWorkerHandler } from "../../functions/worker/handler-core";
import { credentialsFromEnv } from "../../shared/app/credentials";
import { pushStatsStore } from "../../shared/app/push-status";
import { Runtime } from "../../shared/app/runtime";
import { createSyncService } from "../../shared/app/service";
import { runTick, tickDeadline } from "../../shared/app/tick";
import { webhookConsumerDeps, webhookReceiver } from "../../shared/app/webhook-wiring";
import { createDynamoDbClient, createSqsClient } from "../../shared/aws-clients";
import type { SyncConfig } from "../../shared/config";
import { makeApiHandler } from "../../shared/http/api";
import { type LogPort, MetricsRecorder } from "../../shared/observability/telemetry";
import {
  TICK_TIMEOUT_SECONDS,
  WEBHOOK_BATCH_SIZE,
  WEBHOOK_BATCHING_WINDOW_SECONDS,
  WEBHOOK_CONSUMER_TIMEOUT_SECONDS,
} from "../../shared/resources";
import { stateKeys } from "../../shared/store/keys";
import type { PushStatsStore } from "../../shared/store/push-stats";
import type { FullResyncDeps } from "../../shared/sync/full-resync/deps";
import { getJobProgress, type JobProgress } from "../../shared/sync/full-resync/progress";
import { PUSH_CONCURRENCY } from "../../shared/tiktok/rate-budget";
import { WEBHOOK_PATH } from "../../shared/webhooks/receiver";
import { type RunningService, startDynamoDbLocal, startSqsEmulator } from "./emulators";
import { type ApiEventHandler, startHttpApi } from "./http-server";
import { localLambdaContext } from "./lambda-context";
import type { LocalOptions } from "./local-config";
import { isAlive } from "./processes";
import { createQueues, createTables } from "./provision";
import { startSqsPoller } from "./sqs-poller";
import { startTikTokEmulator, type TikTokEmulator } from "./tiktok-emulator";

export const LOCAL_NAMESPACE = "tss";

/** The token pair the built-in emulator accepts from the start (installed again on every start). */
export const LOCAL_TOKENS = { accessToken: "local-access", refreshToken: "local-refresh" } as const;

/** Written to the data folder on start: how `npm run reauth` finds the local state table. */
export const LOCAL_STACK_FILE = "stack.json";

/**
 * The local work queue's visibility timeout (AWS: 6× the worker's 30 s timeout). The reconciler re-enqueues
 * windows idle for 2× this, so a full resync interrupted by a restart resumes within half a minute; the
 * queue and the full-resync settings always use the same value.
 */
export const LOCAL_VISIBILITY_TIMEOUT_SECONDS = 15;

/** A local full resync still planning after this long was interrupted (AWS: 15 minutes). */
const LOCAL_PLANNING_TIMEOUT_MS = 2 * 60_000;

/** In-flight ticks and worker batches get this long to finish on stop before the services go down. */
const DRAIN_TIMEOUT_MS = 10_000;

export interface LocalStack {
  readonly apiUrl: string;
  readonly runtime: Runtime;
  readonly emulator: TikTokEmulator | undefined;
  /** Settles when a service the stack started dies on its own (the caller stops the rest). */
  readonly failed: Promise<Error>;
  /** Ends the progress bars and mutes the stack's output (the caller is about to announce the stop). */
  quiet(): void;
  stop(): Promise<void>;
}

type Output = Writable & { isTTY?: boolean };

/**
 * Every line the stack prints goes through here: above the progress bars while they are shown (TTY),
 * straight to the stream otherwise, and nowhere once stopping (in-flight work failing is expected then).
 */
class Terminal {
  private bars: MultiBar | undefined;
  private silenced = false;

  constructor(readonly out: Output) {}

  get isTTY(): boolean {
    return this.out.isTTY === true;
  }

  line(text: string): void {
    if (this.silenced) return;
    // Above the bars each line overwrites a bar's old line: clear the rest of it (ESC[K).
    if (this.bars) this.bars.log(`${text.split("\n").join("\u001b[K\n")}\u001b[K\n`);
    else this.out.write(`${text}\n`);
  }

  createBar(total: number, payload: Record<string, unknown>): SingleBar {
    this.bars ??= new MultiBar({
      stream: this.out,
      format: "{label} |{bar}| {percentage}% · {details}",
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      autopadding: true,
      // Lines logged above the bars overwrite them: redraw every frame, not only on change.
      forceRedraw: true,
      fps: 5,
    });
    return this.bars.create(total, 0, payload);
  }

  /** Leaves the bars' final state on screen and returns to plain lines. */
  endBars(): void {
    if (!this.bars) return;
    const bars = this.bars;
    this.bars = undefined;
    bars.update();
    bars.stop();
  }

  silence(): void {
    this.endBars();
    this.silenced = true;
  }
}

function clock(): string {
  return new Date().toISOString().slice(11, 19);
}

function formatFields(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
}

/** Warnings and errors go to the terminal (one line each); routine info is left to the status lines. */
function terminalLog(terminal: Terminal): LogPort {
  const line = (mark: string, message: string, fields?: Record<string, unknown>) =>
    terminal.line(`${clock()} ${mark} ${message}${fields ? `  ${formatFields(fields)}` : ""}`);
  return {
    info: () => {},
    warn: (message, fields) => line("⚠", message, fields),
    error: (message, fields) => line("✖", message, fields),
  };
}

/** The emulated dataset is anchored at the first start, so restarts serve the same order history. */
function emulatorAnchor(dataDir: string): number {
  const file = join(dataDir, "emulator.json");
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { anchor: number }).anchor;
  } catch {
    const anchor = Math.floor(Date.now() / 1000);
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify({ anchor }));
    return anchor;
  }
}

function emulatedShopIds(count: number): string[] {
  return Array.from(
    { length: count },
    (_, index) => `74940000000000000${String(index + 1).padStart(2, "0")}`,
  );
}

async function startEmulator(options: LocalOptions, config: SyncConfig): Promise<TikTokEmulator> {
  const shopIds = emulatedShopIds(options.emulatorShops);
  const emulator = await startTikTokEmulator({
    appKey: config.TIKTOK_APP_KEY as string,
    appSecret: config.TIKTOK_APP_SECRET as string,
    seed: 2026,
    shops: shopIds.map((id) => ({ id, orders: options.emulatorOrders })),
    clock: { start: emulatorAnchor(options.dataDir) },
    // One seller's grant covering every emulated shop: the sync discovers them (and shares one token).
    presetTokens: [{ ...LOCAL_TOKENS }],
    log: () => {},
  });
  emulator.setClock(Math.floor(Date.now() / 1000));
  if (options.emulatorUpdatesPerSecond > 0 || options.emulatorCreatesPerSecond > 0) {
    emulator.configure({
      continuousMutation: {
        updatesPerSecond: options.emulatorUpdatesPerSecond,
        createsPerSecond: options.emulatorCreatesPerSecond,
        timebase: "real",
      },
    });
  }
  return emulator;
}

/** The queue's own visibility timeout: the full-resync settings must agree with it. */
async function visibilityTimeoutOf(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["VisibilityTimeout"] }),
  );
  const seconds = Number(Attributes?.VisibilityTimeout);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : LOCAL_VISIBILITY_TIMEOUT_SECONDS;
}

/** Waits for `work`, but no longer than `ms` (a stuck call must not keep the services up). */
async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => {}),
    new Promise<void>((resolveTimeout) => {
      timer = setTimeout(resolveTimeout, ms);
    }),
  ]);
  clearTimeout(timer);
}

export async function startLocalStack(input: {
  config: SyncConfig;
  options: LocalOptions;
  emulateTikTok: boolean;
  out: Output;
}): Promise<LocalStack> {
  const { options } = input;
  const terminal = new Terminal(input.out);
  const started = Date.now();
  let stopping = false;
  /** The child processes, watched while the stack runs. */
  const services: { name: string; service: RunningService }[] = [];
  /** Run in reverse order on stop: ticks and worker batches first, DynamoDB Local last. */
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.reverse()) await stop().catch(() => {});
    stoppers.length = 0;
  };

  try {
    let dynamodbEndpoint = input.config.DYNAMODB_ENDPOINT;
    let sqsEndpoint = input.config.SQS_ENDPOINT;
    const startups = await Promise.allSettled([
      dynamodbEndpoint ? undefined : startDynamoDbLocal({ dataDir: join(options.dataDir, "dynamodb") }),
      sqsEndpoint ? undefined : startSqsEmulator(),
      input.emulateTikTok ? startEmulator(options, input.config) : undefined,
    ] as const);
    const [dynamoStart, sqsStart, emulatorStart] = startups;
    // Whatever did start is stopped again if anything failed: no orphans.
    if (dynamoStart.status === "fulfilled" && dynamoStart.value) {
      services.push({ name: "DynamoDB Local", service: dynamoStart.value });
      stoppers.push(dynamoStart.value.stop);
    }
    if (sqsStart.status === "fulfilled" && sqsStart.value) {
      services.push({ name: "The SQS emulator (fauxqs)", service: sqsStart.value });
      stoppers.push(sqsStart.value.stop);
    }
    const emulator = emulatorStart.status === "fulfilled" ? emulatorStart.value : undefined;
    if (emulator) stoppers.push(() => emulator.stop());
    const failure = startups.find((result) => result.status === "rejected");
    if (failure) throw (failure as PromiseRejectedResult).reason;
    const dynamo = dynamoStart.status === "fulfilled" ? dynamoStart.value : undefined;
    const sqs = sqsStart.status === "fulfilled" ? sqsStart.value : undefined;
    dynamodbEndpoint ??= dynamo?.endpoint;
    sqsEndpoint ??= sqs?.endpoint;

    const banner: string[] = [
      `  DynamoDB   ${dynamodbEndpoint}  ${
        dynamo
          ? `(emulated: DynamoDB Local, data in ${resolve(options.dataDir, "dynamodb")})`
          : "(configured: DYNAMODB_ENDPOINT)"
      }`,
      `  SQS        ${sqsEndpoint}  ${sqs ? "(emulated: fauxqs, in memory)" : "(configured: SQS_ENDPOINT)"}`,
    ];

    let config: SyncConfig = {
      ...input.config,
      DYNAMODB_ENDPOINT: dynamodbEndpoint,
      SQS_ENDPOINT: sqsEndpoint,
    };
    if (emulator) {
      config = {
        ...config,
        TIKTOK_API_BASE_URL: emulator.baseUrl,
        TIKTOK_AUTH_BASE_URL: emulator.authBaseUrl,
      };
      const changes =
        options.emulatorUpdatesPerSecond > 0 || options.emulatorCreatesPerSecond > 0
          ? `${options.emulatorUpdatesPerSecond} updates + ${options.emulatorCreatesPerSecond} new orders/s`
          : "no changes of its own";
      banner.push(
        `  TikTok     ${emulator.baseUrl}  (emulated: ${emulator.shops().length} shops × ${options.emulatorOrders} orders, ${changes})`,
        `  Admin      ${emulator.adminBaseUrl}  (emulator: truth, mutate, counters, faults)`,
      );
    } else {
      banner.push(
        `  TikTok     ${config.TIKTOK_API_BASE_URL}  (configured: TIKTOK_API_BASE_URL, ${config.TIKTOK_SHOPS || config.TIKTOK_SHOP_ID ? "configured shops" : "shops discovered per authorization"})`,
      );
    }

    const dynamodb = createDynamoDbClient({ dynamodbEndpoint, region: config.AWS_REGION });
    const sqsClient = createSqsClient({ sqsEndpoint, region: config.AWS_REGION });
    stoppers.push(async () => {
      dynamodb.destroy();
      sqsClient.destroy();
    });
    // A data folder from before issue 17 holds an orders table whose indexes project ALL: rebuilt once.
    const tables = await createTables(dynamodb, LOCAL_NAMESPACE, {
      streams: options.ordersStream,
      onIndexMigration: (migration) =>
        terminal.line(
          `  migrating ${migration.tableName} index ${migration.indexName}: ${migration.from} → ${migration.to} ` +
            "(once; DynamoDB rebuilds the index from the stored orders)",
        ),
    });
    const queues = await createQueues(sqsClient, LOCAL_NAMESPACE, {
      visibilityTimeoutSeconds: LOCAL_VISIBILITY_TIMEOUT_SECONDS,
    });
    const visibilityTimeoutSeconds = await visibilityTimeoutOf(sqsClient, queues.workQueueUrl);
    config = {
      ...config,
      ORDERS_TABLE_NAME: tables.ordersTable,
      STATE_TABLE_NAME: tables.stateTable,
      WORK_QUEUE_URL: queues.workQueueUrl,
      DEAD_LETTER_QUEUE_URL: queues.deadLetterQueueUrl,
      WEBHOOK_QUEUE_URL: queues.webhookQueueUrl,
    };
    const log = terminalLog(terminal);
    const runtime = new Runtime(config, {
      credentials: credentialsFromEnv(config),
      metrics: new MetricsRecorder(),
      log,
      dynamodb,
      sqs: sqsClient,
      rateShare: 1,
      fullResync: { settings: { visibilityTimeoutSeconds, planningTimeoutMs: LOCAL_PLANNING_TIMEOUT_MS } },
    });
    const notes: string[] = tables.migrated.map(
      (migration) =>
        `index ${migration.indexName} of ${migration.tableName} rebuilt as ${migration.to} ` +
        `(was ${migration.from}) in ${Math.round(migration.ms / 100) / 10} s`,
    );
    if (emulator) {
      // The emulator forgets rotated tokens when it restarts: install its fixed pair again.
      const [authId = "default"] = runtime.shops.authorizationIds();
      await runtime.tokenRepository.storeAuthorized(authId, {
        ...LOCAL_TOKENS,
        accessTokenExpiresAt: emulator.now() + 7 * 86_400,
        refreshTokenExpiresAt: emulator.now() + 365 * 86_400,
      });
    }
    // Shops as TikTok (or the emulator) lists them now, not as remembered from the last run.
    const discovered = await runtime.shops.list({ rediscover: true });
    if (discovered.length === 0) {
      notes.push("no shop found: configure TIKTOK_SHOPS or install a token with npm run reauth");
    }
    writeStackFile(options.dataDir, {
      dynamodbEndpoint: dynamodbEndpoint as string,
      stateTable: tables.stateTable,
      authBaseUrl: config.TIKTOK_AUTH_BASE_URL,
      ...(emulator ? { emulatorAdminUrl: emulator.adminBaseUrl } : {}),
    });
    if (dynamo) notes.push(...(await releaseInterruptedLocks(runtime)));

    const workerDeps = runtime.requireFullResync().deps;
    const poller = startSqsPoller({
      sqs: sqsClient,
      queueUrl: queues.workQueueUrl,
      handler: makeWorkerHandler(workerDeps),
      // One page per message: a batch never outlives the (short) visibility timeout.
      batchSize: 1,
      concurrency: config.WORKER_CONCURRENCY,
      waitTimeSeconds: 2,
      log,
    });
    // Stopped after the scheduler: drains the worker batches in flight while the services are still up.
    stoppers.push(() => bounded(poller.stop(), DRAIN_TIMEOUT_MS));
    // The webhook consumer, as its event source drives it on AWS: a batching window, bounded concurrency.
    const pushPoller = startSqsPoller({
      sqs: sqsClient,
      queueUrl: queues.webhookQueueUrl,
      handler: makeWebhookConsumerHandler(webhookConsumerDeps(runtime)),
      batchSize: WEBHOOK_BATCH_SIZE,
      batchingWindowMs: WEBHOOK_BATCHING_WINDOW_SECONDS * 1000,
      concurrency: PUSH_CONCURRENCY,
      waitTimeSeconds: 2,
      functionTimeoutMs: WEBHOOK_CONSUMER_TIMEOUT_SECONDS * 1000,
      log,
    });
    stoppers.push(() => bounded(pushPoller.stop(), DRAIN_TIMEOUT_MS));

    const api = await startHttpApi(
      localApiRoutes({
        api: makeApiHandler({ service: createSyncService(runtime), log }),
        // Served without auth, as API Gateway serves it: TikTok's signature is the authentication.
        webhook: webhookReceiver({
          loadCredentials: async () => credentialsFromEnv(config),
          sqs: sqsClient,
          queueUrl: queues.webhookQueueUrl,
          metrics: runtime.metrics,
          log,
        }),
      }),
      { port: config.PORT },
    ).catch((error: NodeJS.ErrnoException) => {
      throw error.code === "EADDRINUSE"
        ? new Error(
            `Port ${config.PORT} is already in use: stop what runs there or start with PORT=<another port>.`,
          )
        : error;
    });
    stoppers.push(() => api.close());
    const webhookUrl = `${api.url}${WEBHOOK_PATH}`;
    if (emulator && options.emulatorWebhooks) {
      // The emulator announces its own changes there, signed with the local app's secret.
      emulator.configure({ webhooks: { url: webhookUrl } });
      banner.push(
        `  Webhooks   ${webhookUrl}  (the emulator's changes arrive by push in about a second; ticks still run)`,
      );
    } else {
      banner.push(`  Webhooks   ${webhookUrl}  (TikTok's signature required)`);
    }

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    terminal.line(
      [
        "",
        "tiktok-shop-sync — local stack (set variables are used, unset services are emulated)",
        ...banner,
        `  Tables     ${tables.ordersTable}, ${tables.stateTable}   Queues ${LOCAL_NAMESPACE}-work (visibility ${visibilityTimeoutSeconds} s), ${LOCAL_NAMESPACE}-work-dlq, ${LOCAL_NAMESPACE}-webhook, ${LOCAL_NAMESPACE}-webhook-dlq`,
        `  Schedule   tick every ${config.SYNC_INTERVAL_SECONDS} s · settle ${config.SYNC_SETTLE_SECONDS} s · overlap ${config.SYNC_OVERLAP_SECONDS} s · ${config.WORKER_CONCURRENCY} workers · ${config.TIKTOK_MAX_RPS} req/s per shop`,
        ...notes.map((note) => `  Note       ${note}`),
        "",
        `API ready on ${api.url} in ${seconds} s   (npm run status · npm run sync · Ctrl-C stops)`,
        "",
      ].join("\n"),
    );

    const scheduler = startScheduler({
      runtime,
      workerDeps,
      pushStats: pushStatsStore(runtime),
      terminal,
      intervalSeconds: config.SYNC_INTERVAL_SECONDS,
      stallSeconds: 2 * visibilityTimeoutSeconds,
    });
    stoppers.push(() => bounded(scheduler.stop(), DRAIN_TIMEOUT_MS));

    // A service that dies on its own takes the stack down with a clear reason (never a silent zombie).
    let reportFailure: (error: Error) => void = () => {};
    const failed = new Promise<Error>((resolveFailure) => {
      reportFailure = resolveFailure;
    });
    const watchdog = setInterval(() => {
      for (const { name, service } of services) {
        if (stopping || service.pid === undefined || isAlive(service.pid)) continue;
        // A Ctrl-C reaches the whole process group: give our own signal handler the first word.
        setTimeout(() => {
          if (!stopping) reportFailure(new Error(`${name} (pid ${service.pid}) exited unexpectedly.`));
        }, 500);
      }
    }, 2_000);
    watchdog.unref();

    return {
      apiUrl: api.url,
      runtime,
      emulator,
      failed,
      quiet: () => terminal.silence(),
      stop: async () => {
        stopping = true;
        clearInterval(watchdog);
        terminal.silence();
        await stopAll();
      },
    };
  } catch (error) {
    stopping = true;
    terminal.silence();
    await stopAll();
    throw error;
  }
}

/** What `npm run reauth` needs to reach the local stack's state table (no secrets). */
export interface LocalStackFile {
  readonly dynamodbEndpoint: string;
  readonly stateTable: string;
  readonly authBaseUrl: string;
  readonly emulatorAdminUrl?: string;
}

function writeStackFile(dataDir: string, content: LocalStackFile): void {
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, LOCAL_STACK_FILE), `${JSON.stringify(content, null, 2)}\n`);
}

/**
 * An incremental run's lock outlives a process killed mid-run (Ctrl-C reaches DynamoDB Local too) and would
 * hold off every tick until its lease ends. The caller owns this DynamoDB Local exclusively (start.ts keeps a
 * pid file in the data folder), so a lock found at start-up can only be such a leftover: release it.
 */
async function releaseInterruptedLocks(runtime: Runtime): Promise<string[]> {
  const notes: string[] = [];
  for (const shopId of await runtime.shops.ids()) {
    const { Item } = await runtime.documents.send(
      new GetCommand({
        TableName: runtime.config.STATE_TABLE_NAME,
        Key: { pk: stateKeys.shop(shopId), sk: stateKeys.lock },
      }),
    );
    if (typeof Item?.owner !== "string") continue;
    await runtime.state.releaseLock(shopId, Item.owner);
    notes.push(`shop ${shopId}: released the sync lock of a run the last stop interrupted`);
  }
  return notes;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "…";
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

function progressDetails(progress: JobProgress): string {
  const eta = progress.eta ? formatDuration((Date.parse(progress.eta) - Date.now()) / 1000) : "…";
  const windows = `windows ${progress.windows.done}/${progress.windows.total}`;
  const failed = progress.windows.failed > 0 ? ` (${progress.windows.failed} failed)` : "";
  return `${windows}${failed} · orders ${progress.orders}/${progress.expected_orders} · ${Math.round(progress.rate)}/s · ETA ${eta}`;
}

interface ShownJob {
  readonly jobId: string;
  readonly bar: SingleBar | undefined;
  lastLineAt: number;
  lastLine: string;
}

/**
 * The full-resync display: a bar per running job on a TTY, a plain line every few seconds otherwise, and a
 * closing line per job. Reads the same progress document as the status route.
 */
function startProgressDisplay(input: {
  runtime: Runtime;
  workerDeps: FullResyncDeps;
  terminal: Terminal;
  stallSeconds: number;
}) {
  const { runtime, terminal } = input;
  const shown = new Map<string, ShownJob>();
  const plainEveryMs = 5_000;
  let firstPass = true;
  let refreshing = false;

  const show = (shopId: string, progress: JobProgress) => {
    let job = shown.get(shopId);
    if (job && job.jobId !== progress.job_id) shown.delete(shopId);
    job = shown.get(shopId);
    const label = `full resync ${shopId}`;
    const details = progressDetails(progress);
    const total = Math.max(1, progress.expected_orders, progress.orders);
    if (!job) {
      if (firstPass) {
        terminal.line(
          `${clock()} shop ${shopId}  full resync ${progress.job_id} was interrupted by the last stop: windows idle for ${input.stallSeconds} s are re-enqueued by the next tick`,
        );
      }
      job = {
        jobId: progress.job_id,
        bar: terminal.isTTY ? terminal.createBar(total, { label, details }) : undefined,
        // Plain output: the first line after a few seconds (the tick announces the job first).
        lastLineAt: firstPass ? 0 : Date.now(),
        lastLine: "",
      };
      shown.set(shopId, job);
    }
    if (job.bar) {
      job.bar.setTotal(total);
      job.bar.update(progress.orders, { label, details });
    } else if (Date.now() - job.lastLineAt >= plainEveryMs && details !== job.lastLine) {
      terminal.line(`${clock()} ${label}  ${details}`);
      job.lastLineAt = Date.now();
      job.lastLine = details;
    }
  };

  const finish = (shopId: string, job: ShownJob, progress: JobProgress) => {
    shown.delete(shopId);
    const label = `full resync ${shopId}`;
    const seconds =
      ((Date.parse(progress.finished ?? "") || Date.now()) - Date.parse(progress.started)) / 1000;
    job.bar?.update(progress.orders, { label, details: `${progress.status.toLowerCase()}` });
    const outcome =
      progress.status === "COMPLETED"
        ? "✔ completed"
        : `✖ ${progress.status.toLowerCase()}${progress.reason ? ` (${progress.reason})` : ""}`;
    const floor = Math.ceil(progress.orders / 100);
    terminal.line(
      `${clock()} shop ${shopId}  full resync ${progress.job_id} ${outcome}: ${progress.orders} orders in ${formatDuration(seconds)} · ${progress.api_calls} api calls (floor ${floor}) · ${progress.windows.total} window${progress.windows.total === 1 ? "" : "s"}`,
    );
    if (progress.status === "FAILED") {
      terminal.line(`${clock()} shop ${shopId}  start another with: npm run sync -- --full --shop ${shopId}`);
    }
  };

  const refresh = async () => {
    if (refreshing) return;
    refreshing = true;
    try {
      for (const shopId of await runtime.shops.ids()) {
        const progress = await getJobProgress(input.workerDeps, shopId).catch(() => undefined);
        if (!progress) continue;
        const job = shown.get(shopId);
        if (progress.status === "RUNNING") show(shopId, progress);
        else if (job && job.jobId === progress.job_id) finish(shopId, job, progress);
      }
      if (shown.size === 0) terminal.endBars();
      firstPass = false;
    } finally {
      refreshing = false;
    }
  };

  const timer = setInterval(() => void refresh(), 1_000);
  return {
    first: refresh(),
    stop() {
      clearInterval(timer);
      terminal.endBars();
    },
  };
}

/**
 * The local HTTP API's routing, as API Gateway's: `POST /api/webhooks/tiktok` (any method on that path,
 * so a wrong one gets the receiver's 405) to the webhook receiver, everything else to the API.
 */
export function localApiRoutes(handlers: {
  readonly api: ApiEventHandler;
  readonly webhook: (event: Parameters<ApiEventHandler>[0]) => ReturnType<ApiEventHandler>;
}): ApiEventHandler {
  return (event, context) => {
    const path = (event.rawPath ?? "/").replace(/\/+$/, "");
    return path === WEBHOOK_PATH ? handlers.webhook(event) : handlers.api(event, context);
  };
}

/** Orders webhooks refreshed since the last call, per shop (the first call sets the baseline). */
function pushCounter(stats: PushStatsStore) {
  const seen = new Map<string, number>();
  return async (shopId: string): Promise<number | undefined> => {
    const now = (await stats.get(shopId).catch(() => undefined))?.orders_refreshed ?? 0;
    const before = seen.get(shopId);
    seen.set(shopId, now);
    return before === undefined ? undefined : now - before;
  };
}

/** Ticks now and every interval (never overlapping); one line per shop per tick. */
function startScheduler(input: {
  runtime: Runtime;
  workerDeps: FullResyncDeps;
  pushStats: PushStatsStore;
  terminal: Terminal;
  intervalSeconds: number;
  stallSeconds: number;
}) {
  const { runtime, terminal } = input;
  let stopped = false;
  const pushedSince = pushCounter(input.pushStats);
  const baseline = runtime.shops
    .ids()
    .then((shopIds) => Promise.all(shopIds.map((shopId) => pushedSince(shopId))))
    .catch(() => undefined);

  const tick = async () => {
    await baseline;
    const startedAt = Date.now();
    try {
      // The same time as the deployed tick: a slow TikTok ends the tick at its deadline, as on AWS.
      const deadline = tickDeadline(localLambdaContext("local-tick", TICK_TIMEOUT_SECONDS * 1000));
      for (const { shopId, authId, outcome, needsReauth, notReached, error } of await runTick(runtime, {
        deadline,
      })) {
        const prefix = `${clock()} shop ${shopId}  tick:`;
        if (needsReauth) {
          terminal.line(
            `${prefix} ✖ authorization ${authId} needs re-authorizing — no TikTok calls until: npm run reauth -- --auth ${authId} --auth-code <code>`,
          );
          continue;
        }
        if (error) {
          terminal.line(`${prefix} ✖ ${error.message} (${Date.now() - startedAt} ms)`);
          continue;
        }
        if (notReached) {
          terminal.line(`${prefix} out of time before this shop's turn: it runs next tick`);
          continue;
        }
        if (!outcome) continue;
        switch (outcome.status) {
          case "completed": {
            const run = outcome.lastRun;
            const changed = run.inserted + run.updated;
            const pushed = await pushedSince(shopId);
            terminal.line(
              `${prefix} ${changed} changed · ${run.api_calls} api call${run.api_calls === 1 ? "" : "s"} · ${run.duration_ms} ms · lag ${outcome.lagSeconds} s${pushed === undefined ? "" : ` · ${pushed} came by push since the last tick`}`,
            );
            break;
          }
          case "full-sync-started":
            terminal.line(`${prefix} first sync → full resync ${outcome.jobId} started`);
            break;
          case "locked":
            terminal.line(`${prefix} skipped, another run holds the shop's lock`);
            break;
          default:
            terminal.line(`${prefix} ${outcome.status}: continues from its checkpoint next tick`);
        }
      }
    } catch (error) {
      // Listing the shops failed (each shop's own failure is reported above).
      terminal.line(`${clock()} ✖ ${(error as Error).message} (${Date.now() - startedAt} ms)`);
    }
  };

  // Progress first, so a job interrupted by the last stop is announced before the first tick's line.
  const display = startProgressDisplay(input);
  let running = true;
  let ticking: Promise<void> = display.first
    .catch(() => {})
    .then(() => (stopped ? undefined : tick()))
    .finally(() => {
      running = false;
    });
  const timer = setInterval(() => {
    // A tick still running when the next is due makes it skip: ticks never overlap nor pile up.
    if (running || stopped) return;
    running = true;
    ticking = tick().finally(() => {
      running = false;
    });
  }, input.intervalSeconds * 1000);

  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      display.stop();
      await ticking.catch(() => {});
    },
  };
}
