/**
 * Full-resync test harness: per-test tables and queues on the run's DynamoDB Local and SQS emulator,
 * a TikTok emulator over real HTTP, the real TikTok client, and the worker handler driven by the
 * local SQS poller exactly as `npm start` runs it.
 */

import type { SQSClient } from "@aws-sdk/client-sqs";
import { paginateQuery } from "@aws-sdk/lib-dynamodb";
import { makeWorkerHandler } from "../../functions/worker/handler-core";
import { type SqsBatchHandler, type SqsPoller, startSqsPoller } from "../../infra/local/sqs-poller";
import {
  startTikTokEmulator,
  type TikTokEmulator,
  type TikTokEmulatorOptions,
} from "../../infra/local/tiktok-emulator";
import { type Clock, systemClock } from "../../shared/clock";
import { MetricsRecorder, silentLog } from "../../shared/observability/telemetry";
import { contentHashOf } from "../../shared/orders/normalize";
import { readStoredOrder } from "../../shared/orders/stored-order";
import { sqsDeadLetters, sqsWorkQueue } from "../../shared/queues/sqs-work-queue";
import { JobStore } from "../../shared/store/job-store";
import { OrderStore } from "../../shared/store/order-store";
import { StateStore } from "../../shared/store/state-store";
import { WindowStore } from "../../shared/store/window-store";
import { ScopedApiCallMeter } from "../../shared/sync/full-resync/api-calls";
import {
  type FullResyncDeps,
  type FullResyncSettings,
  fullResyncSettings,
} from "../../shared/sync/full-resync/deps";
import { startOrJoinFullResync } from "../../shared/sync/full-resync/planner";
import { getJobProgress, type JobProgress } from "../../shared/sync/full-resync/progress";
import type { IncrementalSyncDeps } from "../../shared/sync/incremental-deps";
import type { ShopRef } from "../../shared/sync/ports";
import { type ClientRetryOptions, createTikTokClient, type TikTokClient } from "../../shared/tiktok/client";
import { AdaptiveRateLimiter } from "../../shared/tiktok/rate-limiter";
import { createTestResources, type TestResources } from "../support/local-aws";

export interface HarnessOptions {
  readonly label: string;
  readonly orders: number;
  readonly historyDays?: number;
  /** Emulator clock offset from real time (seconds, negative = in the past). */
  readonly emulatorClockOffsetSeconds?: number;
  readonly emulator?: Partial<TikTokEmulatorOptions>;
  readonly settings?: Partial<FullResyncSettings>;
  readonly visibilityTimeoutSeconds?: number;
  readonly maxReceiveCount?: number;
  readonly maxRps?: number;
  readonly retry?: Partial<ClientRetryOptions>;
  /** The TikTok client's fetch (e.g. to observe the emulator's answers); the global one by default. */
  readonly fetch?: typeof fetch;
  readonly deps?: Partial<FullResyncDeps>;
  /** Wraps the SQS client the workers and planner send with (e.g. to duplicate deliveries). */
  readonly wrapSqs?: (sqs: SQSClient) => SQSClient;
}

export interface StoredVersion {
  readonly updateTime: number;
  readonly createTime: number;
  readonly contentHash: string;
}

export interface Harness {
  readonly resources: TestResources;
  readonly emulator: TikTokEmulator;
  readonly shop: ShopRef;
  readonly client: TikTokClient;
  readonly meter: ScopedApiCallMeter;
  readonly metrics: MetricsRecorder;
  readonly settings: FullResyncSettings;
  deps: FullResyncDeps;
  startWorkers(options?: {
    concurrency?: number;
    batchSize?: number;
    deps?: FullResyncDeps;
    /** The Lambda-like context's time per batch (default the worker's 30 s). */
    functionTimeoutMs?: number;
    /** Wraps the worker handler (e.g. to time each invocation against its context). */
    wrap?: (handler: SqsBatchHandler) => SqsBatchHandler;
  }): SqsPoller;
  incrementalDeps(): IncrementalSyncDeps;
  waitForJob(
    jobId: string,
    done: (progress: JobProgress) => boolean,
    timeoutMs?: number,
  ): Promise<JobProgress>;
  stored(): Promise<Map<string, StoredVersion>>;
  truth(range?: { from?: number; to?: number }): Map<string, StoredVersion>;
  close(): Promise<void>;
}

const clock: Clock = systemClock;

export async function createHarness(options: HarnessOptions): Promise<Harness> {
  const visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? 10;
  const maxReceiveCount = options.maxReceiveCount ?? 4;
  const resources = await createTestResources({
    label: options.label,
    queues: { visibilityTimeoutSeconds, maxReceiveCount },
  });
  const shopId = `shop-${options.label}`;
  const nowSeconds = Math.floor(Date.now() / 1000);
  const emulator = await startTikTokEmulator({
    seed: 4242,
    shops: [{ id: shopId, orders: options.orders, historyDays: options.historyDays ?? 60 }],
    ...(options.emulatorClockOffsetSeconds
      ? { clock: { start: nowSeconds + options.emulatorClockOffsetSeconds } }
      : {}),
    log: () => undefined,
    ...options.emulator,
  });
  const shopInfo = emulator.shops()[0];
  if (!shopInfo) throw new Error("emulator has no shop");
  const shop: ShopRef = { shopId, shopCipher: shopInfo.cipher };
  const accessToken = emulator.issueTokens().access_token;
  const meter = new ScopedApiCallMeter();
  const client = createTikTokClient({
    baseUrl: emulator.baseUrl,
    appKey: emulator.appKey,
    appSecret: emulator.appSecret,
    tokens: { getAccessToken: async () => accessToken, refreshAfterRejection: async () => accessToken },
    rateLimiter: new AdaptiveRateLimiter({ maxRps: options.maxRps ?? 2_000, burst: 50, clock }),
    clock,
    retry: { baseDelayMs: 20, maxDelayMs: 200, ...options.retry },
    ...(options.fetch ? { fetch: options.fetch } : {}),
    onApiCall: meter.record,
  });
  const metrics = new MetricsRecorder();
  const orders = new OrderStore({
    documents: resources.documents,
    tableName: resources.ordersTable,
    // DynamoDB Local gains nothing past a few parallel writes; fewer keep each message short.
    writeConcurrency: 8,
  });
  const state = new StateStore({ documents: resources.documents, tableName: resources.stateTable, clock });
  const jobTable = {
    documents: resources.documents,
    stateTable: resources.stateTable,
    ordersTable: resources.ordersTable,
    clock,
  };
  const jobs = new JobStore(jobTable);
  const windows = new WindowStore(jobTable);
  const settings = fullResyncSettings({
    settleSeconds: 30,
    visibilityTimeoutSeconds,
    maxReceiveCount,
    ...options.settings,
  });
  const sqs = options.wrapSqs ? options.wrapSqs(resources.sqs) : resources.sqs;
  const deps: FullResyncDeps = {
    jobs,
    windows,
    state,
    orders,
    resolveShop: async () => ({ shop, tiktok: client }),
    apiCalls: meter,
    workQueue: sqsWorkQueue(sqs, resources.workQueueUrl),
    deadLetters: sqsDeadLetters(sqs, resources.deadLetterQueueUrl),
    clock,
    metrics,
    log: silentLog,
    settings,
    ...options.deps,
  };
  const pollers: SqsPoller[] = [];
  const harness: Harness = {
    resources,
    emulator,
    shop,
    client,
    meter,
    metrics,
    settings,
    deps,
    startWorkers(workerOptions = {}) {
      const handler: SqsBatchHandler = makeWorkerHandler(workerOptions.deps ?? harness.deps);
      const poller = startSqsPoller({
        sqs: resources.sqs,
        queueUrl: resources.workQueueUrl,
        handler: workerOptions.wrap ? workerOptions.wrap(handler) : handler,
        batchSize: workerOptions.batchSize ?? 1,
        concurrency: workerOptions.concurrency ?? 4,
        waitTimeSeconds: 1,
        ...(workerOptions.functionTimeoutMs ? { functionTimeoutMs: workerOptions.functionTimeoutMs } : {}),
        log: silentLog,
      });
      pollers.push(poller);
      return poller;
    },
    incrementalDeps() {
      return {
        tiktok: client,
        apiCalls: meter,
        orders,
        state,
        clock,
        metrics,
        log: silentLog,
        settings: { overlapSeconds: 300, settleSeconds: 30, lockLeaseMs: 60_000, storeRecipientData: true },
        startFullResync: async (id: string) => ({
          jobId: (await startOrJoinFullResync(harness.deps, id)).jobId,
        }),
      };
    },
    async waitForJob(jobId, done, timeoutMs = 300_000) {
      const deadline = Date.now() + timeoutMs;
      let last: JobProgress | undefined;
      for (;;) {
        last = await getJobProgress(harness.deps, shopId, jobId);
        if (last && done(last)) return last;
        if (Date.now() > deadline) {
          throw new Error(`job ${jobId} did not reach the expected state in time: ${JSON.stringify(last)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async stored() {
      // Parallel key-range segments: DynamoDB Local serves one long Query ~15× slower than 16 short ones.
      // Segments [b_i, b_i+1] overlap on their bounds (the map dedupes) and the ends are open: exact.
      const ids = emulator
        .truthSummary(shopId)
        .map((order) => order.id)
        .sort();
      const bounds = Array.from(
        { length: 15 },
        (_, index) => ids[Math.floor(((index + 1) * ids.length) / 16)],
      )
        .filter((id): id is string => id !== undefined)
        .filter((id, index, all) => all.indexOf(id) === index);
      const conditions: { expression: string; values: Record<string, string> }[] = [];
      if (bounds.length === 0) conditions.push({ expression: "shopId = :shopId", values: {} });
      else {
        conditions.push({
          expression: "shopId = :shopId AND orderId <= :hi",
          values: { ":hi": bounds[0] as string },
        });
        for (let index = 0; index + 1 < bounds.length; index++) {
          conditions.push({
            expression: "shopId = :shopId AND orderId BETWEEN :lo AND :hi",
            values: { ":lo": bounds[index] as string, ":hi": bounds[index + 1] as string },
          });
        }
        conditions.push({
          expression: "shopId = :shopId AND orderId >= :lo",
          values: { ":lo": bounds.at(-1) as string },
        });
      }
      const result = new Map<string, StoredVersion>();
      await Promise.all(
        conditions.map(async (condition) => {
          const pages = paginateQuery(
            { client: resources.documents },
            {
              TableName: resources.ordersTable,
              KeyConditionExpression: condition.expression,
              ExpressionAttributeValues: { ":shopId": shopId, ...condition.values },
            },
          );
          for await (const page of pages) {
            // Read as consumers read it; the content is hashed again, so a stored order that does not
            // match its own contentHash attribute shows up as different.
            for (const item of page.Items ?? []) {
              const read = readStoredOrder(item);
              const hash = contentHashOf(read.order);
              result.set(read.orderId, {
                updateTime: read.updateTime,
                createTime: read.createTime,
                contentHash:
                  hash === read.contentHash ? hash : `attribute ${read.contentHash} ≠ content ${hash}`,
              });
            }
          }
        }),
      );
      return result;
    },
    truth(range = {}) {
      const result = new Map<string, StoredVersion>();
      for (const order of emulator.truth(shopId)) {
        if (range.from !== undefined && order.create_time < range.from) continue;
        if (range.to !== undefined && order.create_time >= range.to) continue;
        result.set(order.id, {
          updateTime: order.update_time,
          createTime: order.create_time,
          contentHash: contentHashOf(order),
        });
      }
      return result;
    },
    async close() {
      await Promise.all(pollers.map((poller) => poller.stop({ abortPolls: false })));
      await emulator.stop();
      resources.destroy();
    },
  };
  return harness;
}

/** Compares stored orders with the truth: the ids missing, extra, or stored with another version. */
export function diffOrders(stored: Map<string, StoredVersion>, truth: Map<string, StoredVersion>) {
  const missing: string[] = [];
  const different: string[] = [];
  for (const [id, version] of truth) {
    const mine = stored.get(id);
    if (!mine) missing.push(id);
    else if (mine.updateTime !== version.updateTime || mine.contentHash !== version.contentHash)
      different.push(id);
  }
  const extra = [...stored.keys()].filter((id) => !truth.has(id));
  return { missing, extra, different };
}

export function isFinished(progress: JobProgress): boolean {
  return progress.status !== "RUNNING";
}
