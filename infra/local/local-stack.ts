/**
 * The laptop twin of the deployed stack, started in one process tree: emulators for whatever is not
 * configured, tables and queues from shared/resources.ts, the HTTP API on PORT, the scheduler (tick) and
 * the SQS poller (worker). Returns a handle whose stop() ends every child process.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { SingleBar } from "cli-progress";
import { makeWorkerHandler } from "../../functions/worker/handler-core";
import { wireFullResync } from "../../shared/app/full-resync-wiring";
import { Runtime, type ShopSetup } from "../../shared/app/runtime";
import { createSyncService } from "../../shared/app/service";
import { runTick } from "../../shared/app/tick";
import { createDynamoDbClient, createSqsClient } from "../../shared/aws-clients";
import type { SyncConfig } from "../../shared/config";
import { makeApiHandler } from "../../shared/http/api";
import { type LogPort, MetricsRecorder } from "../../shared/observability/telemetry";
import { WORKER_TIMEOUT_SECONDS } from "../../shared/resources";
import { getJobProgress } from "../../shared/sync/full-resync/progress";
import { type RunningService, startDynamoDbLocal, startSqsEmulator } from "./emulators";
import { startHttpApi } from "./http-server";
import type { LocalOptions } from "./local-config";
import { createQueues, createTables } from "./provision";
import { startSqsPoller } from "./sqs-poller";
import { startTikTokEmulator, type TikTokEmulator } from "./tiktok-emulator";

export const LOCAL_NAMESPACE = "tss";

export interface LocalStack {
  readonly apiUrl: string;
  readonly runtime: Runtime;
  readonly emulator: TikTokEmulator | undefined;
  stop(): Promise<void>;
}

/** Warnings and errors go to the terminal (one line each); routine info is left to the status lines. */
function terminalLog(out: Writable): LogPort {
  const line = (level: string, message: string, fields?: Record<string, unknown>) =>
    out.write(`${level} ${message}${fields ? ` ${JSON.stringify(fields)}` : ""}\n`);
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

export async function startLocalStack(input: {
  config: SyncConfig;
  options: LocalOptions;
  emulateTikTok: boolean;
  out: Writable;
}): Promise<LocalStack> {
  const { options, out } = input;
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.reverse()) await stop().catch(() => {});
  };
  try {
    const started = Date.now();
    const services: string[] = [];
    let dynamodbEndpoint = input.config.DYNAMODB_ENDPOINT;
    let sqsEndpoint = input.config.SQS_ENDPOINT;
    const [dynamo, sqs] = await Promise.all([
      dynamodbEndpoint ? undefined : startDynamoDbLocal({ dataDir: join(options.dataDir, "dynamodb") }),
      sqsEndpoint ? undefined : startSqsEmulator(),
    ]);
    for (const service of [dynamo, sqs] as (RunningService | undefined)[])
      if (service) stoppers.push(service.stop);
    dynamodbEndpoint ??= dynamo?.endpoint;
    sqsEndpoint ??= sqs?.endpoint;
    services.push(
      `DynamoDB   ${dynamodbEndpoint} (${dynamo ? "DynamoDB Local, emulated" : "DYNAMODB_ENDPOINT"})`,
    );
    services.push(`SQS        ${sqsEndpoint} (${sqs ? "fauxqs, emulated" : "SQS_ENDPOINT"})`);

    let emulator: TikTokEmulator | undefined;
    let shops: ShopSetup[] | undefined;
    let config = { ...input.config, DYNAMODB_ENDPOINT: dynamodbEndpoint, SQS_ENDPOINT: sqsEndpoint };
    if (input.emulateTikTok) {
      const shopSpecs = Array.from({ length: options.emulatorShops }, (_, index) => ({
        id: `74940000000000000${String(index + 1).padStart(2, "0")}`,
        orders: options.emulatorOrders,
      }));
      emulator = await startTikTokEmulator({
        appKey: config.TIKTOK_APP_KEY as string,
        appSecret: config.TIKTOK_APP_SECRET as string,
        seed: 2026,
        shops: shopSpecs,
        clock: { start: emulatorAnchor(options.dataDir) },
        presetTokens: shopSpecs.map((shop) => ({
          accessToken: `local-access-${shop.id}`,
          refreshToken: `local-refresh-${shop.id}`,
          shopIds: [shop.id],
        })),
        log: () => {},
      });
      emulator.setClock(Math.floor(Date.now() / 1000));
      emulator.configure({
        continuousMutation: {
          updatesPerSecond: options.emulatorUpdatesPerSecond,
          createsPerSecond: options.emulatorCreatesPerSecond,
          timebase: "real",
        },
      });
      stoppers.push(() => emulator?.stop() ?? Promise.resolve());
      config = {
        ...config,
        TIKTOK_API_BASE_URL: emulator.baseUrl,
        TIKTOK_AUTH_BASE_URL: emulator.authBaseUrl,
      };
      shops = emulator.shops().map((shop) => ({
        shopId: shop.id,
        shopCipher: shop.cipher,
        initialTokens: { accessToken: `local-access-${shop.id}`, refreshToken: `local-refresh-${shop.id}` },
      }));
      services.push(
        `TikTok     ${emulator.baseUrl} (built-in emulator: ${shops.length} shops × ${options.emulatorOrders} orders)`,
      );
    } else {
      services.push(`TikTok     ${config.TIKTOK_API_BASE_URL} (TIKTOK_API_BASE_URL)`);
    }

    const dynamodb = createDynamoDbClient({ dynamodbEndpoint: config.DYNAMODB_ENDPOINT });
    const sqsClient = createSqsClient({ sqsEndpoint: config.SQS_ENDPOINT });
    const tables = await createTables(dynamodb, LOCAL_NAMESPACE);
    const queues = await createQueues(sqsClient, LOCAL_NAMESPACE);
    config = {
      ...config,
      ORDERS_TABLE_NAME: tables.ordersTable,
      STATE_TABLE_NAME: tables.stateTable,
      WORK_QUEUE_URL: queues.workQueueUrl,
      DEAD_LETTER_QUEUE_URL: queues.deadLetterQueueUrl,
    };
    const metrics = new MetricsRecorder();
    const log = terminalLog(out);
    const runtime = new Runtime(config, {
      credentials: {
        appKey: config.TIKTOK_APP_KEY as string,
        appSecret: config.TIKTOK_APP_SECRET as string,
        ...(config.TIKTOK_ACCESS_TOKEN && config.TIKTOK_REFRESH_TOKEN
          ? {
              initialTokens: {
                accessToken: config.TIKTOK_ACCESS_TOKEN,
                refreshToken: config.TIKTOK_REFRESH_TOKEN,
              },
            }
          : {}),
      },
      metrics,
      log,
      dynamodb,
      sqs: sqsClient,
      budgetShare: 1,
      ...(shops ? { shops } : {}),
    });
    stoppers.push(async () => {
      dynamodb.destroy();
      sqsClient.destroy();
    });
    if (emulator && shops) {
      // The emulator forgets rotated tokens when it restarts: install its fixed pair again.
      for (const shop of shops) {
        if (shop.initialTokens) {
          await runtime.tokenRepository.storeAuthorized(shop.shopId, {
            ...shop.initialTokens,
            accessTokenExpiresAt: emulator.now() + 7 * 86_400,
            refreshTokenExpiresAt: emulator.now() + 365 * 86_400,
          });
        }
      }
    }
    const workerDeps = wireFullResync(runtime);
    const poller = startSqsPoller({
      sqs: sqsClient,
      queueUrl: queues.workQueueUrl,
      handler: makeWorkerHandler(workerDeps),
      batchSize: 5,
      concurrency: config.WORKER_CONCURRENCY,
      waitTimeSeconds: 2,
      functionTimeoutMs: WORKER_TIMEOUT_SECONDS * 1000,
      log,
    });
    stoppers.push(() => poller.stop());

    const api = await startHttpApi(makeApiHandler({ service: createSyncService(runtime), log }), {
      port: config.PORT,
    });
    stoppers.push(() => api.close());

    out.write(
      [
        "",
        "tiktok-shop-sync — local stack",
        ...services.map((service) => `  ${service}`),
        `  Tables     ${tables.ordersTable}, ${tables.stateTable}   Queues ${LOCAL_NAMESPACE}-work, ${LOCAL_NAMESPACE}-work-dlq`,
        `  Schedule   tick every ${config.SYNC_INTERVAL_SECONDS} s · ${config.WORKER_CONCURRENCY} workers · ${config.TIKTOK_MAX_RPS} req/s per shop`,
        "",
        `API ready on ${api.url} in ${((Date.now() - started) / 1000).toFixed(1)} s   (GET ${api.url}/api/sync/status · Ctrl-C stops)`,
        "",
      ].join("\n"),
    );

    const scheduler = startScheduler({
      runtime,
      workerDeps,
      metrics,
      out,
      intervalSeconds: config.SYNC_INTERVAL_SECONDS,
    });
    stoppers.push(scheduler.stop);
    return { apiUrl: api.url, runtime, emulator, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Ticks now and every interval; shows a progress bar while a full resync runs, one line per tick after. */
function startScheduler(input: {
  runtime: Runtime;
  workerDeps: ReturnType<typeof wireFullResync>;
  metrics: MetricsRecorder;
  out: Writable;
  intervalSeconds: number;
}) {
  const { runtime, out } = input;
  let stopped = false;
  let ticking: Promise<void> = Promise.resolve();
  let bar: SingleBar | undefined;
  let barJob: string | undefined;

  const tick = async () => {
    const startedAt = Date.now();
    const before = runtime.apiCalls.snapshot();
    try {
      const results = await runTick(runtime);
      for (const result of results) {
        const outcome = result.outcome;
        if (!outcome) continue;
        const time = new Date().toISOString().slice(11, 19);
        if (outcome.status === "completed") {
          const run = outcome.lastRun;
          out.write(
            `${time} tick  shop ${result.shopId}  changed ${run.inserted + run.updated}  unchanged ${run.unchanged}  api calls ${run.api_calls}  ${run.duration_ms} ms  lag ${outcome.lagSeconds} s\n`,
          );
        } else if (outcome.status === "full-sync-started") {
          out.write(
            `${time} tick  shop ${result.shopId}  first sync: full resync job ${outcome.jobId} started\n`,
          );
        } else {
          out.write(`${time} tick  shop ${result.shopId}  ${outcome.status}\n`);
        }
      }
    } catch (error) {
      out.write(
        `✖ tick failed: ${(error as Error).message} (${Date.now() - startedAt} ms, ${runtime.apiCalls.since(before).calls} api calls)\n`,
      );
    }
  };

  const schedule = () => {
    if (stopped) return;
    ticking = tick();
  };
  schedule();
  const timer = setInterval(() => {
    // Never overlap ticks on a laptop (Lambda's lock would make the second one exit anyway).
    ticking = ticking.then(() => (stopped ? undefined : tick()));
  }, input.intervalSeconds * 1000);

  const progressTimer = setInterval(async () => {
    for (const shopId of runtime.shopIds()) {
      const progress = await getJobProgress(input.workerDeps, shopId).catch(() => undefined);
      if (progress?.status !== "RUNNING") {
        if (bar && barJob === progress?.job_id) {
          bar.update(progress?.windows.done ?? 0, { orders: progress?.orders ?? 0, rate: 0, eta: "done" });
          bar.stop();
          bar = undefined;
          out.write(
            `full resync ${barJob} ${progress?.status?.toLowerCase() ?? "ended"}: ${progress?.orders ?? 0} orders, ${progress?.api_calls ?? 0} api calls\n`,
          );
          barJob = undefined;
        }
        continue;
      }
      if (!bar) {
        barJob = progress.job_id;
        bar = new SingleBar({
          format: `full resync ${shopId} |{bar}| {value}/{total} windows · {orders} orders · {rate}/s · ETA {eta}`,
          hideCursor: true,
        });
        bar.start(progress.windows.total, progress.windows.done, { orders: 0, rate: 0, eta: "…" });
      }
      if (barJob === progress.job_id) {
        bar.setTotal(progress.windows.total);
        bar.update(progress.windows.done, {
          orders: progress.orders,
          rate: Math.round(progress.rate),
          eta: progress.eta ? progress.eta.slice(11, 19) : "…",
        });
      }
    }
  }, 500);

  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      clearInterval(progressTimer);
      bar?.stop();
      await ticking.catch(() => {});
    },
  };
}
