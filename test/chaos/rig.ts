/**
 * The chaos rig (issue 19): what a chaos run stands on, built free of faults — the TikTok emulator and its
 * shop, an SQS emulator of the run's own (so it can be restarted), tables in DynamoDB Local, and the
 * product wired as `npm start` wires it: two tick "containers", a worker "container" behind the local SQS
 * poller, push through the HTTP API's webhook route and its consumer. The injectors (injectors.ts) plug
 * into its seams; the driver (drive.ts) runs it; the checks (checks.ts) read it.
 */
import { randomUUID } from "node:crypto";
import { DeleteTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { makeWebhookConsumerHandler } from "../../functions/webhook-consumer/handler-core";
import { makeWorkerHandler } from "../../functions/worker/handler-core";
import { startSqsEmulator } from "../../infra/local/emulators";
import { startHttpApi } from "../../infra/local/http-server";
import { localApiRoutes } from "../../infra/local/local-stack";
import {
  createQueues,
  createTables,
  emulatorEnv,
  type LocalQueueUrls,
  type LocalTableNames,
  localResourceEnv,
} from "../../infra/local/provision";
import { type SqsPoller, startSqsPoller } from "../../infra/local/sqs-poller";
import {
  type InvalidOrderField,
  type OrderSummary,
  type PageTokenMode,
  startTikTokEmulator,
  type TikTokEmulator,
} from "../../infra/local/tiktok-emulator";
import { SeededRandom } from "../../infra/local/tiktok-emulator/prng";
import type { FullResyncWiringOptions } from "../../shared/app/full-resync-wiring";
import { Runtime } from "../../shared/app/runtime";
import { createSyncService } from "../../shared/app/service";
import { webhookConsumerDeps, webhookReceiver } from "../../shared/app/webhook-wiring";
import { createDynamoDbClient, createSqsClient } from "../../shared/aws-clients";
import { parseConfig, type SyncConfig } from "../../shared/config";
import { makeApiHandler } from "../../shared/http/api";
import { type LogPort, LogRecorder, MetricsRecorder } from "../../shared/observability/telemetry";
import { WEBHOOK_BATCH_SIZE, WEBHOOK_BATCHING_WINDOW_SECONDS } from "../../shared/resources";
import type { CrashContext, CrashPoint } from "../../shared/sync/full-resync/deps";
import type { IncrementalOutcome } from "../../shared/sync/incremental";
import type { TikTokOrder } from "../../shared/tiktok/api-types";
import { PUSH_CONCURRENCY } from "../../shared/tiktok/rate-budget";
import { WEBHOOK_PATH } from "../../shared/webhooks/receiver";
import type { ChaosPlan } from "./plan";

export interface ChaosOptions {
  readonly seed: number;
  /** Orders the shop starts with (more are created while the run goes on). */
  readonly orders: number;
  /** DynamoDB Local (tables are created per run and deleted afterwards). */
  readonly dynamodbEndpoint: string;
  /** Share of TikTok calls failing while chaos is on (default 0.10). */
  readonly faultRate?: number;
  /** Where the product's logs go (default: an in-memory recorder, scanned for secrets). */
  readonly log?: LogPort;
  /** Progress lines (the seed, the plan, events); nothing by default. */
  readonly print?: (line: string) => void;
  /** The whole run, settle included (default 240 s). */
  readonly deadlineMs?: number;
  /**
   * Run after the checks, before clean-up (e.g. damage what is stored, or call the HTTP API); then the
   * checks run again and their findings land in `recheckProblems` (the chaos test proves they can fail).
   */
  readonly afterChecks?: (target: {
    runtime: Runtime;
    ordersTable: string;
    shopId: string;
    truth: readonly TikTokOrder[];
  }) => Promise<void>;
}

/**
 * What exists before the product is built: the emulator and its shop, the run's seeded stream, and where
 * the run's findings go. Injectors shaping the shop's data get only this.
 */
export interface ChaosWorld {
  readonly options: ChaosOptions;
  readonly plan: ChaosPlan;
  readonly started: number;
  readonly deadline: number;
  /**
   * The run's seeded stream. Only the data injectors draw from it, before the product is built; after
   * that it is only forked, and a fork depends on its state alone, so the forks' order does not matter.
   */
  readonly random: SeededRandom;
  readonly emulator: TikTokEmulator;
  readonly shopId: string;
  /** The shop's orders as generated, before any injector touched them. */
  readonly initialOrders: readonly OrderSummary[];
  /** Orders the API serves without a field (quarantined, never stored): order id → the missing field. */
  readonly invalid: Map<string, InvalidOrderField>;
  /** What was really injected (counts), by name. */
  readonly injected: Record<string, number>;
  readonly count: (what: string, by?: number) => void;
  /** Differences found while the run goes on (the checks add theirs at the end). */
  readonly problems: string[];
  /** A progress line, stamped with the seconds since the start. */
  readonly print: (line: string) => void;
}

/** Where injectors plug into the product; pass-through until one does. */
export interface ChaosSeams {
  /** Every SQS command the product sends (the rig's own calls, pollers included, bypass it). */
  sqsSend: (command: unknown, options?: unknown) => Promise<unknown>;
  /** The worker's test hook at each crash point of the window protocol (throw to crash there). */
  crashAt: (point: CrashPoint, context: CrashContext) => void | Promise<void>;
}

export interface ChaosRuntimes {
  /** Two tick "containers": the main one (the checks read through it) and one for concurrent ticks. */
  readonly tick: Runtime;
  readonly otherTick: Runtime;
  /** The worker "container" behind the work queue's poller. */
  readonly worker: Runtime;
  /** The HTTP API and the webhook consumer. */
  readonly webhook: Runtime;
}

export interface ChaosRig extends ChaosWorld {
  readonly dynamodb: DynamoDBClient;
  /** The rig's own SQS client (queues, pollers, the webhook route); the product's goes through `seams`. */
  readonly sqs: SQSClient;
  readonly tables: LocalTableNames;
  readonly queues: LocalQueueUrls;
  readonly config: SyncConfig;
  readonly runtimes: ChaosRuntimes;
  /** The work queue's and the webhook queue's. */
  readonly pollers: readonly SqsPoller[];
  /** The webhook route the emulator can announce its changes to. */
  readonly webhookUrl: string;
  readonly seams: ChaosSeams;
  /** The shop's life while the run goes on: mutations, creations, the last change. */
  readonly activity: ShopActivity;
  /** Every incremental run's outcome, in order. */
  readonly outcomes: IncrementalOutcome[];
  /** Credentials and signatures the run handled: none may appear in its logs. */
  readonly secrets: Set<string>;
  /** The in-memory log recorder, unless the caller gave a log. */
  readonly recorder: LogRecorder | undefined;
  /** Faults are injected while on; the settle turns it off. */
  chaosOn: boolean;
  /** The emulator's page-token mode now (it flips mid-run). */
  tokenMode: PageTokenMode;
  /** Stops the SQS emulator and starts a new one on its port: every message is lost. */
  restartSqs(): Promise<void>;
  /** Stops and deletes everything the rig started, in reverse order; never throws. */
  tearDown(): Promise<void>;
}

/**
 * Above a page's processing time even on a starved DynamoDB Local (~25 writes/s: 4 s for 100 orders), as
 * on AWS where it is 6× the function timeout: a message is never redelivered while it is still being
 * worked on, only after a crash (or a lost queue).
 */
const VISIBILITY_TIMEOUT_SECONDS = 8;

/**
 * Builds the rig for a plan; `shapeData` runs once the emulator is up and before anything else starts
 * (the data injectors, drawing from the run's stream). On failure it tears down what it started.
 */
export async function buildRig(
  options: ChaosOptions,
  plan: ChaosPlan,
  started: number,
  shapeData: (world: ChaosWorld) => void,
): Promise<ChaosRig> {
  const report = options.print ?? (() => {});
  // Each line after the plan says when (seconds since the start): where a slow seed spends its time.
  const print = (line: string) =>
    report(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s ${line}`);
  const random = new SeededRandom(options.seed).fork(0xc4a05);
  const recorder = options.log ? undefined : new LogRecorder();
  const log: LogPort = options.log ?? (recorder as LogRecorder);
  const injected: Record<string, number> = {};
  const count = (what: string, by = 1) => {
    injected[what] = (injected[what] ?? 0) + by;
  };
  const secrets = new Set<string>();
  const cleanups: (() => Promise<void> | void)[] = [];
  const tearDown = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => {});
  };

  try {
    // --- The emulator and the shop's data ----------------------------------------------------------
    const shopId = `74940000${String(options.seed % 100_000_000).padStart(8, "0")}`.slice(0, 19);
    const emulator: TikTokEmulator = await startTikTokEmulator({
      seed: options.seed,
      shops: [{ id: shopId, orders: plan.orders, historyDays: 30, burstFraction: 0.15 }],
      bursts: plan.datasetBursts,
      log: () => {},
    });
    cleanups.push(() => emulator.stop());
    const shop = emulator.shops()[0];
    if (!shop) throw new Error("the emulator has no shop");
    emulator.configure({
      tokenMode: plan.tokenModes[0],
      resultCap: plan.resultCap,
      maxPageSize: plan.maxPageSize,
      pageTokenRefusal: plan.pageTokenRefusal,
      hangMs: 2_500,
    });
    secrets.add(emulator.appSecret);
    const issued = emulator.issueTokens();
    secrets.add(issued.access_token).add(issued.refresh_token);
    const world: ChaosWorld = {
      options,
      plan,
      started,
      deadline: started + (options.deadlineMs ?? 240_000),
      random,
      emulator,
      shopId,
      initialOrders: emulator.truthSummary(shopId),
      invalid: new Map(),
      injected,
      count,
      problems: [],
      print,
    };
    shapeData(world);

    // --- The AWS side: DynamoDB Local tables, an SQS emulator of the run's own ----------------------
    let sqsService = await startSqsEmulator();
    cleanups.push(() => sqsService.stop());
    const dynamodb: DynamoDBClient = createDynamoDbClient({ dynamodbEndpoint: options.dynamodbEndpoint });
    const sqs = createSqsClient({ sqsEndpoint: sqsService.endpoint });
    cleanups.push(() => {
      dynamodb.destroy();
      sqs.destroy();
    });
    const namespace = `chaos-${options.seed}-${randomUUID().slice(0, 6)}`;
    const tables = await createTables(dynamodb, namespace);
    cleanups.push(async () => {
      for (const table of [tables.ordersTable, tables.stateTable]) {
        await dynamodb.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
      }
    });
    const queueOverrides = { visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS, maxReceiveCount: 5 };
    const queues = await createQueues(sqs, namespace, queueOverrides);

    // --- The product: two tick "containers" and a worker "container" ------------------------------
    const config = parseConfig({
      ...emulatorEnv(emulator),
      TIKTOK_SHOP_ID: shopId,
      TIKTOK_SHOP_CIPHER: shop.cipher,
      TIKTOK_MAX_RPS: "1000",
      ...localResourceEnv({ ...tables, ...queues }),
      SYNC_SETTLE_SECONDS: "1",
      SYNC_MAX_CLOCK_SKEW_SECONDS: "0",
      SYNC_OVERLAP_SECONDS: "300",
      SYNC_LOCK_LEASE_SECONDS: "10",
      WORKER_CONCURRENCY: "3",
    });
    const seams: ChaosSeams = {
      sqsSend: (command, sendOptions) => sqs.send(command as never, sendOptions as never),
      crashAt: () => {},
    };
    // The product's SQS client: the rig's, its sends through the seam (read at each call, so an injector
    // installed after the runtimes were built still sees every send).
    const productSqs = new Proxy(sqs, {
      get(target, property, receiver) {
        if (property !== "send") return Reflect.get(target, property, receiver);
        return (command: unknown, sendOptions?: unknown) => seams.sqsSend(command, sendOptions);
      },
    });
    const metrics = new MetricsRecorder();
    const newRuntime = (fullResync: FullResyncWiringOptions) => {
      const runtime = new Runtime(config, {
        fullResync,
        metrics,
        log,
        dynamodb,
        sqs: productSqs,
        fetch: recordingFetch(secrets, (how) => count(`incrementalSplit:${how}`)),
        credentials: {
          appKey: emulator.appKey,
          appSecret: emulator.appSecret,
          initialTokens: { accessToken: issued.access_token, refreshToken: issued.refresh_token },
        },
        tiktokClient: { timeoutMs: 1_500, retry: { baseDelayMs: 100, maxDelayMs: 1_000 } },
      });
      cleanups.push(() => runtime.destroy());
      return runtime;
    };
    const settings = {
      visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
      maxReceiveCount: 5,
      pageBudget: plan.pageBudget,
      maxRequeues: 20,
    };
    const tickRuntime = newRuntime({ settings });
    const otherTickRuntime = newRuntime({ settings });
    const workerRuntime = newRuntime({
      settings,
      crashAt: (point, context) => seams.crashAt(point, context),
    });
    const pollers: SqsPoller[] = [];
    pollers.push(
      startSqsPoller({
        sqs,
        queueUrl: queues.workQueueUrl,
        handler: makeWorkerHandler(workerRuntime.requireFullResync().deps),
        // One page per message, as `npm start` does: a batch never outlives the visibility timeout.
        batchSize: 1,
        concurrency: 3,
        waitTimeSeconds: 1,
        log,
      }),
    );
    cleanups.push(() => Promise.all(pollers.map((poller) => poller.stop())).then(() => {}));

    // Push, wired as `npm start` does: the HTTP API's webhook route -> webhook queue -> the consumer under
    // the SQS poller with the deployed batching.
    const webhookRuntime = newRuntime({ settings });
    const api = await startHttpApi(
      localApiRoutes({
        api: makeApiHandler({ service: createSyncService(webhookRuntime), log }),
        webhook: webhookReceiver({
          loadCredentials: async () => ({ appKey: emulator.appKey, appSecret: emulator.appSecret }),
          sqs,
          queueUrl: queues.webhookQueueUrl,
          metrics,
          log,
        }),
      }),
      { port: 0 },
    );
    cleanups.push(() => api.close());
    pollers.push(
      startSqsPoller({
        sqs,
        queueUrl: queues.webhookQueueUrl,
        handler: makeWebhookConsumerHandler(webhookConsumerDeps(webhookRuntime)),
        batchSize: WEBHOOK_BATCH_SIZE,
        batchingWindowMs: WEBHOOK_BATCHING_WINDOW_SECONDS * 1000,
        concurrency: PUSH_CONCURRENCY,
        waitTimeSeconds: 1,
        log,
      }),
    );

    return {
      ...world,
      dynamodb,
      sqs,
      tables,
      queues,
      config,
      runtimes: {
        tick: tickRuntime,
        otherTick: otherTickRuntime,
        worker: workerRuntime,
        webhook: webhookRuntime,
      },
      pollers,
      webhookUrl: `${api.url}${WEBHOOK_PATH}`,
      seams,
      // Forked here, after the data injectors drew from the run's stream.
      activity: new ShopActivity(emulator, shopId, world.invalid, random.fork(0x3e7)),
      outcomes: [],
      secrets,
      recorder,
      chaosOn: true,
      tokenMode: plan.tokenModes[0],
      async restartSqs() {
        const port = sqsService.port;
        await sqsService.stop();
        sqsService = await startSqsEmulator({ port });
        await createQueues(sqs, namespace, queueOverrides);
      },
      tearDown,
    };
  } catch (error) {
    await tearDown();
    throw error;
  }
}

/**
 * The shop's life during the run, on its own seeded stream: orders mutated and created, and the last
 * second anything changed (the settle waits for a quiet tick past it).
 */
export class ShopActivity {
  /**
   * Orders later mutations leave alone: the floods' orders stay in their second, so that second still
   * holds more than the cap when a run reads it (else a burst drawn right after could thin it out
   * before any run came by), and every run whose overlap covers it reads it in parts again.
   */
  readonly flooded = new Set<string>();
  lastChangeSecond: number;

  constructor(
    private readonly emulator: TikTokEmulator,
    private readonly shopId: string,
    private readonly invalid: ReadonlyMap<string, InvalidOrderField>,
    /** The mutations' stream (also the queued faults' order). */
    readonly random: SeededRandom,
  ) {
    this.lastChangeSecond = emulator.now();
  }

  /** Mutates `howMany` distinct orders drawn from the valid, unflooded ones. */
  mutateSome(howMany: number): OrderSummary[] {
    const candidates = this.emulator
      .truthSummary(this.shopId)
      .filter((order) => !this.invalid.has(order.id) && !this.flooded.has(order.id));
    const ids = new Set<string>();
    while (ids.size < Math.min(howMany, candidates.length)) ids.add(this.random.pick(candidates).id);
    const changed = this.emulator.mutate({ orderIds: [...ids] });
    this.changedAt(...changed.map((order) => order.update_time));
    return changed;
  }

  /** Notes changes made at these seconds. */
  changedAt(...seconds: number[]): void {
    this.lastChangeSecond = Math.max(this.lastChangeSecond, ...seconds);
  }

  /** Waits for the emulator's next second: what follows at once shares one second, whole. */
  async atSecondStart(): Promise<void> {
    const second = this.emulator.now();
    while (this.emulator.now() === second) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  ordersInSecond(second: number): OrderSummary[] {
    return this.emulator.truthSummary(this.shopId).filter((order) => order.update_time === second);
  }
}

/** Polls `probe` until it gives a value (neither undefined nor false), or throws past the deadline. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  deadline: number,
  intervalMs = 200,
): Promise<T> {
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`chaos: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Every message the queue still holds: visible, in flight and delayed (unlike the DLQ depth status reports). */
export async function messagesInQueue(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
      ],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

/**
 * Which way an order search reads (the body's filters): `byCreateTime` reads one update_time second by
 * create_time, `byStatus` one (update_time, create_time) second status by status; undefined otherwise.
 */
function searchSplit(url: URL, body: RequestInit["body"]): "byCreateTime" | "byStatus" | undefined {
  if (!url.pathname.endsWith("/orders/search") || typeof body !== "string") return undefined;
  let filters: Record<string, unknown>;
  try {
    filters = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (filters.order_status !== undefined) return "byStatus";
  const oneSecond =
    typeof filters.update_time_ge === "number" && filters.update_time_lt === filters.update_time_ge + 1;
  return oneSecond && url.searchParams.get("sort_field") === "create_time" ? "byCreateTime" : undefined;
}

/**
 * A fetch that remembers every credential it carries or receives (the log scan looks for them), and
 * reports searches that read one second in parts (the floods beyond the result cap forced them).
 */
function recordingFetch(
  secrets: Set<string>,
  onSplit: (how: "byCreateTime" | "byStatus") => void,
): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const split = searchSplit(url, init?.body);
    if (split) onSplit(split);
    for (const name of ["sign", "app_secret", "refresh_token", "access_token"]) {
      const value = url.searchParams.get(name);
      if (value) secrets.add(value);
    }
    const token = new Headers(init?.headers).get("x-tts-access-token");
    if (token) secrets.add(token);
    const response = await fetch(input, init);
    if (url.pathname.includes("/token/")) {
      const body = (await response
        .clone()
        .json()
        .catch(() => undefined)) as { data?: { access_token?: string; refresh_token?: string } } | undefined;
      if (body?.data?.access_token) secrets.add(body.data.access_token);
      if (body?.data?.refresh_token) secrets.add(body.data.refresh_token);
    }
    return response;
  };
}
