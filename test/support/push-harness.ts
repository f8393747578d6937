/**
 * Push end to end for integration tests: the sync harness (TikTok emulator over HTTP, DynamoDB Local,
 * the SQS emulator, the production Runtime) plus the local HTTP API serving the webhook route without
 * auth (as API Gateway does) and the webhook consumer under the local SQS poller with the deployed
 * batching window. The emulator announces its changes to that route, signed. No tick runs unless a
 * test runs one: ticks are "far apart".
 */
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { BatchGetCommand, type BatchGetCommandOutput, GetCommand } from "@aws-sdk/lib-dynamodb";
import { makeWebhookConsumerHandler } from "../../functions/webhook-consumer/handler-core";
import { startHttpApi } from "../../infra/local/http-server";
import { localApiRoutes } from "../../infra/local/local-stack";
import { type SqsPoller, startSqsPoller } from "../../infra/local/sqs-poller";
import type { WebhookOptions } from "../../infra/local/tiktok-emulator";
import { pushStatsStore } from "../../shared/app/push-status";
import { createSyncService } from "../../shared/app/service";
import { webhookConsumerDeps, webhookReceiver } from "../../shared/app/webhook-wiring";
import { makeApiHandler } from "../../shared/http/api";
import { isInvalidOrder, type NormalizedOrder, normalizeOrder } from "../../shared/orders/normalize";
import { WEBHOOK_BATCH_SIZE, WEBHOOK_BATCHING_WINDOW_SECONDS } from "../../shared/resources";
import type { PushStatsStore } from "../../shared/store/push-stats";
import { PUSH_CONCURRENCY } from "../../shared/tiktok/rate-budget";
import { WEBHOOK_PATH } from "../../shared/webhooks/receiver";
import { type HarnessOptions, type SyncHarness, startSyncHarness } from "./sync-harness";

export interface PushHarness extends SyncHarness {
  readonly apiUrl: string;
  readonly webhookUrl: string;
  readonly pushStats: PushStatsStore;
  /** Turns the emulator's webhooks on (to the local route) with these fault options. */
  webhooks(options?: Omit<WebhookOptions, "url">): void;
  /** Stores the emulator's current truth directly (test setup: "already synced"). */
  seedStoredOrders(): Promise<void>;
  /** The stored item of an order (orders table), or undefined. */
  storedOrder(
    orderId: string,
  ): Promise<{ updateTime: number; status: string; fetchedAt: number } | undefined>;
  /** The stored update_time of each of these orders that is stored (one BatchGetItem, ≤ 100 ids). */
  storedUpdateTimes(orderIds: readonly string[]): Promise<Map<string, number>>;
  /** Messages visible or in flight on the webhook queue. */
  webhookQueueDepth(): Promise<number>;
  /** Detail calls the emulator answered so far. */
  detailCalls(): number;
  postWebhook(body: string | Buffer, headers?: Record<string, string>, method?: string): Promise<Answer>;
}

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export async function startPushHarness(options: HarnessOptions = {}): Promise<PushHarness> {
  const base = await startSyncHarness({ label: "push", ...options });
  const { runtime, resources, emulator } = base;
  const config = { ...runtime.config, WEBHOOK_QUEUE_URL: resources.webhookQueueUrl };
  const pushRuntime = base.newRuntime({ WEBHOOK_QUEUE_URL: resources.webhookQueueUrl });
  const api = await startHttpApi(
    localApiRoutes({
      api: makeApiHandler({ service: createSyncService(pushRuntime), log: base.log }),
      webhook: webhookReceiver({
        loadCredentials: async () => ({ appKey: emulator.appKey, appSecret: emulator.appSecret }),
        sqs: resources.sqs,
        queueUrl: config.WEBHOOK_QUEUE_URL,
        metrics: base.metrics,
        log: base.log,
      }),
    }),
    { port: 0 },
  );
  const poller: SqsPoller = startSqsPoller({
    sqs: resources.sqs,
    queueUrl: resources.webhookQueueUrl,
    handler: makeWebhookConsumerHandler(webhookConsumerDeps(pushRuntime)),
    batchSize: WEBHOOK_BATCH_SIZE,
    batchingWindowMs: WEBHOOK_BATCHING_WINDOW_SECONDS * 1000,
    concurrency: PUSH_CONCURRENCY,
    waitTimeSeconds: 1,
    log: base.log,
  });
  const webhookUrl = `${api.url}${WEBHOOK_PATH}`;
  const detailCalls = () => emulator.counters().byEndpoint.orderDetail?.total ?? 0;
  return {
    ...base,
    runtime: pushRuntime,
    apiUrl: api.url,
    webhookUrl,
    pushStats: pushStatsStore(pushRuntime),
    webhooks(faults = {}) {
      emulator.configure({ webhooks: { url: webhookUrl, ...faults } });
    },
    async seedStoredOrders() {
      const orders = emulator
        .truth(base.shopId)
        .map((raw) => normalizeOrder(raw, { storeRecipientData: true }))
        .filter((order): order is NormalizedOrder => !isInvalidOrder(order));
      await pushRuntime.orders.upsert(base.shopId, orders, base.clock.nowMs());
    },
    async storedOrder(orderId) {
      const { Item } = await resources.documents.send(
        new GetCommand({
          TableName: resources.ordersTable,
          Key: { shopId: base.shopId, orderId },
          ConsistentRead: true,
        }),
      );
      return Item as { updateTime: number; status: string; fetchedAt: number } | undefined;
    },
    async storedUpdateTimes(orderIds) {
      const found = new Map<string, number>();
      if (orderIds.length === 0) return found;
      let keys: Record<string, unknown>[] | undefined = orderIds.map((orderId) => ({
        shopId: base.shopId,
        orderId,
      }));
      while (keys && keys.length > 0) {
        const output: BatchGetCommandOutput = await resources.documents.send(
          new BatchGetCommand({
            RequestItems: {
              [resources.ordersTable]: {
                Keys: keys,
                ConsistentRead: true,
                ProjectionExpression: "orderId, updateTime",
              },
            },
          }),
        );
        for (const item of output.Responses?.[resources.ordersTable] ?? []) {
          found.set(item.orderId as string, item.updateTime as number);
        }
        keys = output.UnprocessedKeys?.[resources.ordersTable]?.Keys;
      }
      return found;
    },
    async webhookQueueDepth() {
      const { Attributes } = await resources.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: resources.webhookQueueUrl,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        }),
      );
      return (
        Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
      );
    },
    detailCalls,
    async postWebhook(body, headers = {}, method = "POST") {
      const response = await fetch(webhookUrl, {
        method,
        headers: { "content-type": "application/json", ...headers },
        ...(method === "GET" || method === "HEAD" ? {} : { body }),
      });
      const text = await response.text();
      return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    },
    async close() {
      await poller.stop();
      await api.close();
      await base.close();
    },
  };
}
