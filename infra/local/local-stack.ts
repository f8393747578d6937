/**
 * The laptop twin of the deployed stack, started in one process tree: emulators for whatever is not
 * configured, tables and queues from shared/resources.ts, the HTTP API on PORT, the scheduler (tick) and
 * the SQS poller (worker). Returns a handle whose stop() ends every child process.
 *
 * This file wires the steps together; what the terminal shows lives in terminal.ts (lines, log) and
 * progress-display.ts (full-resync bars), the ticks in scheduler.ts.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { makeWebhookConsumerHandler } from "../../functions/webhook-consumer/handler-core";
import { makeWorkerHandler } from "../../functions/worker/handler-core";
import { credentialsFromEnv } from "../../shared/app/credentials";
import { pushStatsStore } from "../../shared/app/push-status";
import { Runtime } from "../../shared/app/runtime";
import { createSyncService } from "../../shared/app/service";
import { webhookConsumerDeps, webhookReceiver } from "../../shared/app/webhook-wiring";
import { createDynamoDbClient, createSqsClient } from "../../shared/aws-clients";
import type { SyncConfig } from "../../shared/config";
import { makeApiHandler } from "../../shared/http/api";
import { type LogPort, MetricsRecorder } from "../../shared/observability/telemetry";
import {
  WEBHOOK_BATCH_SIZE,
  WEBHOOK_BATCHING_WINDOW_SECONDS,
  WEBHOOK_CONSUMER_TIMEOUT_SECONDS,
} from "../../shared/resources";
import { stateKeys } from "../../shared/store/keys";
import type { FullResyncDeps } from "../../shared/sync/full-resync/deps";
import { PUSH_CONCURRENCY } from "../../shared/tiktok/rate-budget";
import { WEBHOOK_PATH } from "../../shared/webhooks/receiver";
import { type RunningService, startDynamoDbLocal, startSqsEmulator } from "./emulators";
import { type ApiEventHandler, startHttpApi } from "./http-server";
import type { LocalOptions } from "./local-config";
import { isAlive } from "./processes";
import {
  createQueues,
  createTables,
  type IndexMigration,
  type LocalQueueUrls,
  type LocalTableNames,
  localResourceEnv,
} from "./provision";
import { startScheduler } from "./scheduler";
import { startSqsPoller } from "./sqs-poller";
import { type Output, Terminal, terminalLog } from "./terminal";
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

/** What `npm run reauth` needs to reach the local stack's state table (no secrets). */
export interface LocalStackFile {
  readonly dynamodbEndpoint: string;
  readonly stateTable: string;
  readonly authBaseUrl: string;
  readonly emulatorAdminUrl?: string;
}

type Stopper = () => Promise<void>;
/** Each step registers what it started; stop runs them in reverse order of registration. */
type OnStop = (stopper: Stopper) => void;

export async function startLocalStack(input: {
  config: SyncConfig;
  options: LocalOptions;
  emulateTikTok: boolean;
  out: Output;
}): Promise<LocalStack> {
  const terminal = new Terminal(input.out);
  const started = Date.now();
  /** Reversed on stop: ticks and worker batches first, DynamoDB Local last. */
  const stoppers: Stopper[] = [];
  const onStop: OnStop = (stopper) => void stoppers.push(stopper);
  const stopAll = async () => {
    for (const stop of stoppers.reverse()) await stop().catch(() => {});
    stoppers.length = 0;
  };

  try {
    const services = await startServices(input, onStop);
    const aws = await provision(input.config, services, input.options, terminal, onStop);
    const app = await assembleApp(services, aws, input.options, terminal, onStop);
    printBanner(terminal, { started, services, aws, app });
    const scheduler = startScheduler({
      runtime: app.runtime,
      workerDeps: app.workerDeps,
      pushStats: pushStatsStore(app.runtime),
      terminal,
      intervalSeconds: aws.config.SYNC_INTERVAL_SECONDS,
      stallSeconds: 2 * aws.visibilityTimeoutSeconds,
    });
    onStop(() => bounded(scheduler.stop(), DRAIN_TIMEOUT_MS));
    const watchdog = startWatchdog(services.watched);
    return {
      apiUrl: app.apiUrl,
      runtime: app.runtime,
      emulator: services.emulator,
      failed: watchdog.failed,
      quiet: () => terminal.silence(),
      stop: async () => {
        watchdog.stop();
        terminal.silence();
        await stopAll();
      },
    };
  } catch (error) {
    terminal.silence();
    await stopAll();
    throw error;
  }
}

// ─── Step 1: the emulated services ──────────────────────────────────────────────────────────────────────

/** A child process the watchdog keeps an eye on while the stack runs. */
interface WatchedService {
  readonly name: string;
  readonly service: RunningService;
}

/** Where DynamoDB, SQS and TikTok are, which of them the stack runs itself, and their banner lines. */
interface Services {
  readonly dynamodbEndpoint: string | undefined;
  readonly sqsEndpoint: string | undefined;
  /** Ours alone (start.ts holds the data folder), so a lock found in it at start-up is a leftover. */
  readonly ownsDynamoDb: boolean;
  readonly emulator: TikTokEmulator | undefined;
  readonly watched: readonly WatchedService[];
  readonly banner: readonly string[];
}

/** Starts, side by side, whatever is not configured: DynamoDB Local, fauxqs, the TikTok emulator. */
async function startServices(
  input: { config: SyncConfig; options: LocalOptions; emulateTikTok: boolean },
  onStop: OnStop,
): Promise<Services> {
  const { config, options } = input;
  const startups = await Promise.allSettled([
    config.DYNAMODB_ENDPOINT ? undefined : startDynamoDbLocal({ dataDir: join(options.dataDir, "dynamodb") }),
    config.SQS_ENDPOINT ? undefined : startSqsEmulator(),
    input.emulateTikTok ? startEmulator(options, config) : undefined,
  ] as const);
  const [dynamoStart, sqsStart, emulatorStart] = startups;
  const dynamo = dynamoStart.status === "fulfilled" ? dynamoStart.value : undefined;
  const sqs = sqsStart.status === "fulfilled" ? sqsStart.value : undefined;
  const emulator = emulatorStart.status === "fulfilled" ? emulatorStart.value : undefined;
  // Registered before a failure is thrown: whatever did start is stopped again if anything failed (no orphans).
  const watched: WatchedService[] = [];
  if (dynamo) {
    watched.push({ name: "DynamoDB Local", service: dynamo });
    onStop(dynamo.stop);
  }
  if (sqs) {
    watched.push({ name: "The SQS emulator (fauxqs)", service: sqs });
    onStop(sqs.stop);
  }
  if (emulator) onStop(() => emulator.stop());
  const failure = startups.find((result) => result.status === "rejected");
  if (failure) throw (failure as PromiseRejectedResult).reason;

  const dynamodbEndpoint = config.DYNAMODB_ENDPOINT ?? dynamo?.endpoint;
  const sqsEndpoint = config.SQS_ENDPOINT ?? sqs?.endpoint;
  const banner = [
    `  DynamoDB   ${dynamodbEndpoint}  ${
      dynamo
        ? `(emulated: DynamoDB Local, data in ${resolve(options.dataDir, "dynamodb")})`
        : "(configured: DYNAMODB_ENDPOINT)"
    }`,
    `  SQS        ${sqsEndpoint}  ${sqs ? "(emulated: fauxqs, in memory)" : "(configured: SQS_ENDPOINT)"}`,
  ];
  if (emulator) {
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
  return { dynamodbEndpoint, sqsEndpoint, ownsDynamoDb: dynamo !== undefined, emulator, watched, banner };
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

// ─── Step 2: tables, queues and the configuration ───────────────────────────────────────────────────────

/** The AWS clients, what was provisioned, and the configuration the runtime runs with. */
interface Provisioned {
  readonly config: SyncConfig;
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly tables: LocalTableNames & { readonly migrated: readonly IndexMigration[] };
  readonly queues: LocalQueueUrls;
  readonly visibilityTimeoutSeconds: number;
}

/**
 * Creates the missing tables and queues on the endpoints step 1 settled, and derives the configuration
 * from them: endpoints, the emulator's TikTok URLs, table names, queue URLs.
 */
async function provision(
  config: SyncConfig,
  services: Services,
  options: LocalOptions,
  terminal: Terminal,
  onStop: OnStop,
): Promise<Provisioned> {
  const { dynamodbEndpoint, sqsEndpoint, emulator } = services;
  const dynamodb = createDynamoDbClient({ dynamodbEndpoint, region: config.AWS_REGION });
  const sqs = createSqsClient({ sqsEndpoint, region: config.AWS_REGION });
  onStop(async () => {
    dynamodb.destroy();
    sqs.destroy();
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
  const queues = await createQueues(sqs, LOCAL_NAMESPACE, {
    visibilityTimeoutSeconds: LOCAL_VISIBILITY_TIMEOUT_SECONDS,
  });
  const visibilityTimeoutSeconds = await visibilityTimeoutOf(sqs, queues.workQueueUrl);
  return {
    config: {
      ...config,
      ...(emulator
        ? { TIKTOK_API_BASE_URL: emulator.baseUrl, TIKTOK_AUTH_BASE_URL: emulator.authBaseUrl }
        : {}),
      ...localResourceEnv({ ...tables, ...queues }, { dynamodbEndpoint, sqsEndpoint }),
    },
    dynamodb,
    sqs,
    tables,
    queues,
    visibilityTimeoutSeconds,
  };
}

/** The queue's own visibility timeout: the full-resync settings must agree with it. */
async function visibilityTimeoutOf(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["VisibilityTimeout"] }),
  );
  const seconds = Number(Attributes?.VisibilityTimeout);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : LOCAL_VISIBILITY_TIMEOUT_SECONDS;
}

// ─── Step 3: the runtime, the pollers and the HTTP API ──────────────────────────────────────────────────

/** The running app: its one Runtime, the worker's deps (for the scheduler), and what the banner adds. */
interface App {
  readonly runtime: Runtime;
  readonly workerDeps: FullResyncDeps;
  readonly apiUrl: string;
  readonly webhookLine: string;
  readonly notes: readonly string[];
}

async function assembleApp(
  services: Services,
  aws: Provisioned,
  options: LocalOptions,
  terminal: Terminal,
  onStop: OnStop,
): Promise<App> {
  const log = terminalLog(terminal);
  const runtime = new Runtime(aws.config, {
    credentials: credentialsFromEnv(aws.config),
    metrics: new MetricsRecorder(),
    log,
    dynamodb: aws.dynamodb,
    sqs: aws.sqs,
    rateShare: 1,
    fullResync: {
      settings: {
        visibilityTimeoutSeconds: aws.visibilityTimeoutSeconds,
        planningTimeoutMs: LOCAL_PLANNING_TIMEOUT_MS,
      },
    },
  });
  const notes = aws.tables.migrated.map(
    (migration) =>
      `index ${migration.indexName} of ${migration.tableName} rebuilt as ${migration.to} ` +
      `(was ${migration.from}) in ${Math.round(migration.ms / 100) / 10} s`,
  );
  notes.push(...(await prepareState(runtime, services, aws, options)));
  const workerDeps = startPollers(runtime, aws, log, onStop);
  const api = await startApi(runtime, aws, log, onStop);
  const webhookUrl = `${api.url}${WEBHOOK_PATH}`;
  let webhookLine = `  Webhooks   ${webhookUrl}  (TikTok's signature required)`;
  if (services.emulator && options.emulatorWebhooks) {
    // The emulator announces its own changes there, signed with the local app's secret.
    services.emulator.configure({ webhooks: { url: webhookUrl } });
    webhookLine = `  Webhooks   ${webhookUrl}  (the emulator's changes arrive by push in about a second; ticks still run)`;
  }
  return { runtime, workerDeps, apiUrl: api.url, webhookLine, notes };
}

/**
 * Brings the stored state in line with this start: the emulator's token pair, the shops as TikTok (or the
 * emulator) lists them now, the stack file for `npm run reauth`, no lock left by the last stop. Returns the
 * banner's notes.
 */
async function prepareState(
  runtime: Runtime,
  services: Services,
  aws: Provisioned,
  options: LocalOptions,
): Promise<string[]> {
  const { emulator } = services;
  const notes: string[] = [];
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
    dynamodbEndpoint: services.dynamodbEndpoint as string,
    stateTable: aws.tables.stateTable,
    authBaseUrl: aws.config.TIKTOK_AUTH_BASE_URL,
    ...(emulator ? { emulatorAdminUrl: emulator.adminBaseUrl } : {}),
  });
  if (services.ownsDynamoDb) notes.push(...(await releaseInterruptedLocks(runtime)));
  return notes;
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

/** The worker and the webhook consumer, fed from their queues as Lambda's event sources feed them. */
function startPollers(runtime: Runtime, aws: Provisioned, log: LogPort, onStop: OnStop): FullResyncDeps {
  const workerDeps = runtime.requireFullResync().deps;
  const poller = startSqsPoller({
    sqs: aws.sqs,
    queueUrl: aws.queues.workQueueUrl,
    handler: makeWorkerHandler(workerDeps),
    // One page per message: a batch never outlives the (short) visibility timeout.
    batchSize: 1,
    concurrency: aws.config.WORKER_CONCURRENCY,
    waitTimeSeconds: 2,
    log,
  });
  // Stopped after the scheduler: drains the worker batches in flight while the services are still up.
  onStop(() => bounded(poller.stop(), DRAIN_TIMEOUT_MS));
  // The webhook consumer, as its event source drives it on AWS: a batching window, bounded concurrency.
  const pushPoller = startSqsPoller({
    sqs: aws.sqs,
    queueUrl: aws.queues.webhookQueueUrl,
    handler: makeWebhookConsumerHandler(webhookConsumerDeps(runtime)),
    batchSize: WEBHOOK_BATCH_SIZE,
    batchingWindowMs: WEBHOOK_BATCHING_WINDOW_SECONDS * 1000,
    concurrency: PUSH_CONCURRENCY,
    waitTimeSeconds: 2,
    functionTimeoutMs: WEBHOOK_CONSUMER_TIMEOUT_SECONDS * 1000,
    log,
  });
  onStop(() => bounded(pushPoller.stop(), DRAIN_TIMEOUT_MS));
  return workerDeps;
}

/** The HTTP API on PORT: the API handler and the webhook receiver, routed as API Gateway routes them. */
async function startApi(
  runtime: Runtime,
  aws: Provisioned,
  log: LogPort,
  onStop: OnStop,
): Promise<{ readonly url: string }> {
  const { config } = aws;
  const api = await startHttpApi(
    localApiRoutes({
      api: makeApiHandler({ service: createSyncService(runtime), log }),
      // Served without auth, as API Gateway serves it: TikTok's signature is the authentication.
      webhook: webhookReceiver({
        loadCredentials: async () => credentialsFromEnv(config),
        sqs: aws.sqs,
        queueUrl: aws.queues.webhookQueueUrl,
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
  onStop(() => api.close());
  return api;
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

// ─── Step 4: the banner ─────────────────────────────────────────────────────────────────────────────────

/** What runs where, the schedule, the notes, and how long the start took. */
function printBanner(
  terminal: Terminal,
  stack: { started: number; services: Services; aws: Provisioned; app: App },
): void {
  const { config, tables, visibilityTimeoutSeconds } = stack.aws;
  const seconds = ((Date.now() - stack.started) / 1000).toFixed(1);
  terminal.line(
    [
      "",
      "tiktok-shop-sync — local stack (set variables are used, unset services are emulated)",
      ...stack.services.banner,
      stack.app.webhookLine,
      `  Tables     ${tables.ordersTable}, ${tables.stateTable}   Queues ${LOCAL_NAMESPACE}-work (visibility ${visibilityTimeoutSeconds} s), ${LOCAL_NAMESPACE}-work-dlq, ${LOCAL_NAMESPACE}-webhook, ${LOCAL_NAMESPACE}-webhook-dlq`,
      `  Schedule   tick every ${config.SYNC_INTERVAL_SECONDS} s · settle ${config.SYNC_SETTLE_SECONDS} s · overlap ${config.SYNC_OVERLAP_SECONDS} s · ${config.WORKER_CONCURRENCY} workers · ${config.TIKTOK_MAX_RPS} req/s per shop`,
      ...stack.app.notes.map((note) => `  Note       ${note}`),
      "",
      `API ready on ${stack.app.apiUrl} in ${seconds} s   (npm run status · npm run sync · Ctrl-C stops)`,
      "",
    ].join("\n"),
  );
}

// ─── Step 5: the watchdog ───────────────────────────────────────────────────────────────────────────────

/**
 * A service that dies on its own takes the stack down with a clear reason (never a silent zombie): `failed`
 * settles with it. stop() ends the watch before the services are stopped on purpose.
 */
function startWatchdog(watched: readonly WatchedService[]): { failed: Promise<Error>; stop(): void } {
  let stopping = false;
  let reportFailure: (error: Error) => void = () => {};
  const failed = new Promise<Error>((resolveFailure) => {
    reportFailure = resolveFailure;
  });
  const timer = setInterval(() => {
    for (const { name, service } of watched) {
      if (stopping || service.pid === undefined || isAlive(service.pid)) continue;
      // A Ctrl-C reaches the whole process group: give our own signal handler the first word.
      setTimeout(() => {
        if (!stopping) reportFailure(new Error(`${name} (pid ${service.pid}) exited unexpectedly.`));
      }, 500);
    }
  }, 2_000);
  timer.unref();
  return {
    failed,
    stop() {
      stopping = true;
      clearInterval(timer);
    },
  };
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
