/**
 * The benchmark's rig: AWS's DynamoDB Local and the SQS emulator (child processes), the TikTok
 * emulator (in this process) with the bench's shop, the clients on them, and what to stop at the end.
 * Also the product under test (the sync process on the "bench" tables and queues), started on demand,
 * the store floor of this DynamoDB Local, and the machine's description.
 */

import os from "node:os";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../infra/local/emulators";
import {
  createQueues,
  createTables,
  type LocalQueueUrls,
  type LocalTableNames,
  localResourceEnv,
} from "../infra/local/provision";
import { startTikTokEmulator, type TikTokEmulator } from "../infra/local/tiktok-emulator";
import { createDocumentClient, createDynamoDbClient, createSqsClient } from "../shared/aws-clients";
import { isInvalidOrder, type NormalizedOrder, normalizeOrder } from "../shared/orders/normalize";
import { say } from "./cli";
import {
  ACCESS_TOKEN,
  APP_KEY,
  APP_SECRET,
  DATASET_AGE_SECONDS,
  REFRESH_TOKEN,
  SETTLE_SECONDS,
  SHOP_ID,
} from "./fixtures";
import type { SyncProcessInit } from "./protocol";
import { type BenchSettings, fmtInt, fmtMs } from "./report";
import { measureStoreFloor, type StoreFloor } from "./store-floor";
import { SyncChild } from "./sync-child";

/** The machine the run is on, as printed at the start and kept in the JSON. */
export function machineInfo() {
  return {
    cores: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    memoryGb: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
  };
}

export type MachineInfo = ReturnType<typeof machineInfo>;

/**
 * What to stop at the end, newest first; also on Ctrl-C or a kill, which must not orphan DynamoDB
 * Local, the SQS emulator or a sync process.
 */
export class Teardown {
  private readonly stops: (() => Promise<void>)[] = [];

  add(stop: () => Promise<void>): void {
    this.stops.push(stop);
  }

  async stopAll(): Promise<void> {
    for (const stop of [...this.stops].reverse()) await stop().catch(() => {});
  }

  stopOnSignals(): void {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => {
        say(`\n${signal}: stopping the emulators …`);
        void this.stopAll().then(() => process.exit(130));
      });
    }
  }
}

/** The context every scenario runs in: the settings and the rig, nothing else shared. */
export interface BenchContext {
  readonly settings: BenchSettings;
  readonly aws: LocalAws;
  readonly emulator: TikTokEmulator;
  /** The bench shop's cipher (SHOP_ID's), as the emulator issued it. */
  readonly shopCipher: string;
  readonly dynamodb: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly teardown: Teardown;
}

/** The tables and queues one sync process works on. */
export interface SyncTarget {
  readonly tables: LocalTableNames;
  readonly queues: LocalQueueUrls;
}

/** The product under test: the sync process at --workers lanes on the "bench" tables and queues. */
export interface Product {
  readonly sync: SyncChild;
  readonly target: SyncTarget;
  readonly idleRssBytes: number;
}

/** The context of the scenarios that run the product (2–5). */
export interface ProductContext extends BenchContext {
  readonly product: Product;
}

/** Starts the emulators and the clients (each registered with teardown as soon as it runs). */
export async function setUpRig(settings: BenchSettings, teardown: Teardown): Promise<BenchContext> {
  const aws = await startLocalAws();
  teardown.add(() => aws.stop());
  const nowSeconds = Math.floor(Date.now() / 1000);
  const generating = performance.now();
  const emulator = await startTikTokEmulator({
    seed: 2026,
    appKey: APP_KEY,
    appSecret: APP_SECRET,
    shops: [{ id: SHOP_ID, orders: settings.orders }],
    clock: { start: nowSeconds - DATASET_AGE_SECONDS },
    presetTokens: [{ accessToken: ACCESS_TOKEN, refreshToken: REFRESH_TOKEN, shopIds: [SHOP_ID] }],
    log: () => {},
  });
  teardown.add(() => emulator.stop());
  // The history ends DATASET_AGE_SECONDS ago; from now on the emulator's clock is the wall clock.
  emulator.setClock(Math.floor(Date.now() / 1000));
  emulator.configure({ qps: settings.qps, latencyMs: settings.latencyMs });
  const shop = emulator.shops()[0];
  if (!shop) throw new Error("the emulator has no shop");
  say(
    `TikTok emulator ${emulator.baseUrl}: ${fmtInt(emulator.orderCount(SHOP_ID))} orders generated in ` +
      `${fmtMs(performance.now() - generating)}; ${settings.latencyMs} ms per request, ` +
      `${settings.qps} req/s per shop`,
  );
  say(`DynamoDB Local ${aws.dynamodb.endpoint} (in memory) · SQS emulator ${aws.sqs.endpoint}`);

  const dynamodb = createDynamoDbClient({ dynamodbEndpoint: aws.dynamodb.endpoint });
  const documents = createDocumentClient(dynamodb);
  const sqs = createSqsClient({ sqsEndpoint: aws.sqs.endpoint });
  teardown.add(async () => {
    dynamodb.destroy();
    sqs.destroy();
  });
  return { settings, aws, emulator, shopCipher: shop.cipher, dynamodb, documents, sqs, teardown };
}

/** What this DynamoDB Local can do at best with the bench's orders: the floors the scenarios are held to. */
export async function measureFloor(context: BenchContext): Promise<StoreFloor> {
  const { settings, emulator, dynamodb, documents } = context;
  const floorOrders = emulator
    .truth(SHOP_ID, { offset: 0, limit: Math.min(settings.floorItems, settings.orders) })
    .map((raw) => normalizeOrder(raw, { storeRecipientData: true }))
    .filter((order): order is NormalizedOrder => !isInvalidOrder(order));
  const storeFloor = await measureStoreFloor({
    dynamodb,
    documents,
    namespace: "bench-floor",
    shopId: SHOP_ID,
    orders: floorOrders,
    concurrency: settings.workers,
  });
  say(
    `Store floor (${fmtInt(storeFloor.items)} realistic orders, ` +
      `~${fmtInt(storeFloor.meanItemBytes)} bytes each = ${storeFloor.writeUnitsPerItem} WRU, ` +
      `${storeFloor.concurrency} requests in flight): unconditional BatchWriteItem ` +
      `${fmtInt(storeFloor.writeRate)} orders/s, BatchGetItem ${fmtInt(storeFloor.readRate)} orders/s; ` +
      "for comparison our upsert path (BatchGetItem + conditional PutItem) " +
      `${fmtInt(storeFloor.upsertRate)} orders/s`,
  );
  return storeFloor;
}

/** The product's configuration for a sync process at `lanes` poller lanes on these tables and queues. */
export function syncInit(context: BenchContext, target: SyncTarget, lanes: number): SyncProcessInit {
  const { settings, aws, emulator } = context;
  return {
    env: {
      TIKTOK_API_BASE_URL: emulator.baseUrl,
      TIKTOK_AUTH_BASE_URL: emulator.authBaseUrl,
      TIKTOK_APP_KEY: APP_KEY,
      TIKTOK_APP_SECRET: APP_SECRET,
      TIKTOK_SHOP_ID: SHOP_ID,
      TIKTOK_SHOP_CIPHER: context.shopCipher,
      TIKTOK_MAX_RPS: String(settings.qps),
      // As deployed: the planner spreads a job over the workers' concurrency, whatever one process runs.
      WORKER_CONCURRENCY: String(settings.workers),
      SYNC_SETTLE_SECONDS: String(SETTLE_SECONDS),
      ...localResourceEnv(
        { ...target.tables, ...target.queues, webhookQueueUrl: undefined },
        { dynamodbEndpoint: aws.dynamodb.endpoint, sqsEndpoint: aws.sqs.endpoint },
      ),
    },
    shopId: SHOP_ID,
    accessToken: ACCESS_TOKEN,
    refreshToken: REFRESH_TOKEN,
    workers: lanes,
    batchSize: settings.batchSize,
  };
}

/** Provisions the "bench" tables and queues and starts the sync process on them, idle until asked. */
export async function startProduct(context: BenchContext): Promise<Product> {
  const tables = await createTables(context.dynamodb, "bench");
  const queues = await createQueues(context.sqs, "bench");
  const sync = await SyncChild.start();
  context.teardown.add(() => sync.stop());
  const target = { tables, queues };
  const { idleRssBytes } = await sync.call<{ idleRssBytes: number }>({
    type: "init",
    init: syncInit(context, target, context.settings.workers),
  });
  say(`Sync process ${sync.pid}: ${fmtInt(idleRssBytes / 1024 / 1024)} MB RSS when idle (poller running)`);
  return { sync, target, idleRssBytes };
}
