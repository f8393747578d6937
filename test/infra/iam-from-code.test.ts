/**
 * IAM from the code itself (DESIGN "Lambda execution model", contract): every AWS call a function's
 * code makes is granted to that function's role, and nothing more.
 *
 * Each function's real handler module (functions/<name>/handler.ts) is loaded with the environment the
 * synthesized template gives it — its bound resources replaced by local stand-ins — and driven through
 * every path that touches AWS: the tick (first-sync planning, the reconciler's re-enqueue, incremental
 * runs, a finalize, the DLQ depth), every API route (cancel and resume with dead letters present), and
 * the worker (pages, continuations, a split, a throttled re-send with DelaySeconds, a last-receive
 * failure, the finalize), the reconciliation (issue 18: counting stored orders through the create-time
 * index and starting a healing job, from its own scheduled function and from the API), the webhook
 * receiver (signed, forged and unknown-shop events) and the webhook consumer (order refreshes, an
 * authorization notice, a hand-back, a deauthorization). Its AWS requests go through a recording endpoint of its own
 * (test/support/recording-aws-endpoint.ts), Secrets Manager included. The recorded calls are turned
 * into IAM permissions by general rules (test/support/iam-model.ts) and compared with the role's
 * policies in the template: no permission missing, none unused.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import {
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { DeleteCommand, GetCommand, paginateQuery, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  SQSBatchResponse,
  SQSEvent,
} from "aws-lambda";
import { build } from "esbuild";
import { startTikTokEmulator, type TikTokEmulator } from "../../infra/local/tiktok-emulator";
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION } from "../../shared/aws-clients";
import { WEBHOOK_PATH } from "../../shared/http/routes";
import { stateKeys } from "../../shared/store/keys";
import {
  encodeWorkMessage,
  parseWorkMessage,
  type WorkMessage,
} from "../../shared/sync/full-resync/messages";
import { signWebhook } from "../../shared/tiktok/signing";
import {
  type CfnTemplate,
  compareGrants,
  NoIamRuleError,
  type Permission,
  permissionsFor,
  type ResourceResolver,
  resourceKey,
  roleGrants,
  type TemplateFunction,
  templateFunction,
} from "../support/iam-model";
import { createTestResources, type TestResources, testEndpoints } from "../support/local-aws";
import {
  type RecordedAwsCall,
  type RecordingAwsEndpoint,
  startRecordingAwsEndpoint,
} from "../support/recording-aws-endpoint";

type FunctionName = "tick" | "api" | "worker" | "reconcile" | "webhook-receiver" | "webhook-consumer";
const FUNCTION_NAMES: readonly FunctionName[] = [
  "tick",
  "api",
  "worker",
  "reconcile",
  "webhook-receiver",
  "webhook-consumer",
];
/** Functions that call TikTok (and so keep the token pair fresh); the receiver never does. */
const SYNCING_FUNCTIONS: readonly FunctionName[] = ["tick", "api", "worker", "reconcile", "webhook-consumer"];
const LOGICAL_ID_PREFIX: Record<FunctionName, string> = {
  tick: "TickFunction",
  api: "ApiFunction",
  worker: "WorkerFunction",
  reconcile: "ReconcileFunction",
  "webhook-receiver": "WebhookReceiverFunction",
  "webhook-consumer": "WebhookConsumerFunction",
};
const ROOT = resolve(__dirname, "..", "..");
const handlerPath = (name: FunctionName) => resolve(ROOT, "functions", name, "handler.ts");

const SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:tiktok-app-AbCdEf";
const SHOP_A = "shop-a";
const SHOP_B = "shop-b";
const SHOP_C = "shop-c";

/**
 * Settings that only make the run fast and quiet; none of them decides which AWS calls are made.
 * Settle 0 so a job's windows reach "now"; a high request budget so planning probes do not wait.
 */
const LOCAL_TUNING: Readonly<Record<string, string>> = {
  SYNC_SETTLE_SECONDS: "0",
  SYNC_MAX_CLOCK_SKEW_SECONDS: "0",
  TIKTOK_MAX_RPS: "1000",
  // Planners that probe (by default they make no TikTok call): the API's and the tick's planning then
  // call TikTok, refresh tokens and finalize an empty job at once, the paths whose grants this checks.
  FULL_RESYNC_PLANNER_PROBES: "200",
  LOG_LEVEL: "SILENT",
  POWERTOOLS_METRICS_DISABLED: "true",
  // Lambda runs Node 22; this runner may not.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};

interface DeployedFunction {
  readonly name: FunctionName;
  readonly template: TemplateFunction;
  /** The function's whole process environment, as Lambda would set it (plus local endpoints). */
  readonly env: Readonly<Record<string, string>>;
  readonly endpoint: RecordingAwsEndpoint;
  readonly resolver: ResourceResolver;
  handler: (event: unknown, context: Context) => Promise<unknown>;
}

let template: CfnTemplate;
let emulator: TikTokEmulator;
/** The app secret as an operator stores it: app key/secret and the first token pair. */
let secretValue: string;
let resources: TestResources;
const deployed = {} as Record<FunctionName, DeployedFunction>;
/** What the scenario saw, for the assertions that prove it reached each path. */
const seen: Record<string, unknown> = {};

/** Runs `action` with exactly the function's environment (Lambda gives a process nothing else). */
async function withEnvironment<T>(
  env: Readonly<Record<string, string>>,
  action: () => Promise<T>,
): Promise<T> {
  const original = process.env;
  process.env = { ...env };
  try {
    return await action();
  } finally {
    process.env = original;
  }
}

function lambdaContext(name: string): Context {
  return {
    functionName: name,
    awsRequestId: randomUUID(),
    getRemainingTimeInMillis: () => 25_000,
  } as Partial<Context> as Context;
}

async function deploy(name: FunctionName): Promise<DeployedFunction> {
  const fn = templateFunction(template, LOGICAL_ID_PREFIX[name]);
  const { dynamodbEndpoint, sqsEndpoint } = testEndpoints();
  const endpoint = await startRecordingAwsEndpoint({
    dynamodbEndpoint,
    sqsEndpoint,
    secret: { arn: SECRET_ARN, value: secretValue },
  });
  // The template binds resources by reference; each gets its local stand-in, and the stand-in's
  // identifier maps back to the logical id for the comparison.
  const standIns: Record<string, string> = {
    ORDERS_TABLE_NAME: resources.ordersTable,
    STATE_TABLE_NAME: resources.stateTable,
    WORK_QUEUE_URL: resources.workQueueUrl,
    DEAD_LETTER_QUEUE_URL: resources.deadLetterQueueUrl,
    WEBHOOK_QUEUE_URL: resources.webhookQueueUrl,
    TIKTOK_SECRET_ARN: SECRET_ARN,
  };
  const bound = new Map<string, string>();
  const env: Record<string, string> = {};
  for (const [variable, value] of Object.entries(fn.environment)) {
    if (typeof value === "string") {
      env[variable] = value;
      continue;
    }
    const standIn = standIns[variable];
    if (!standIn) throw new Error(`${name}: no local stand-in for ${variable} (${JSON.stringify(value)})`);
    env[variable] = standIn;
    bound.set(standIn, resourceKey(value));
  }
  // NODE_OPTIONS only matters to a process start; this process is already running.
  delete env.NODE_OPTIONS;
  Object.assign(env, LOCAL_TUNING, {
    // What Lambda puts in every function's environment.
    AWS_REGION: LOCAL_AWS_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_AWS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_AWS_CREDENTIALS.secretAccessKey,
    // Every AWS request of the function goes to its recording endpoint.
    DYNAMODB_ENDPOINT: endpoint.url,
    SQS_ENDPOINT: endpoint.url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint.url,
    TIKTOK_API_BASE_URL: emulator.baseUrl,
    TIKTOK_AUTH_BASE_URL: emulator.authBaseUrl,
  });
  const resolver: ResourceResolver = (_service, identifier) =>
    bound.get(identifier) ?? `UNBOUND(${identifier})`;
  const result: DeployedFunction = {
    name,
    template: fn,
    env,
    endpoint,
    resolver,
    handler: async () => undefined,
  };
  // A module registry of its own: the handler parses this environment at import, like a cold start.
  await withEnvironment(env, () =>
    jest.isolateModulesAsync(async () => {
      const module = (await import(handlerPath(name))) as {
        handler: (event: unknown, context: Context) => Promise<unknown>;
      };
      result.handler = module.handler;
    }),
  );
  return result;
}

function invoke<T>(name: FunctionName, event: unknown): Promise<T> {
  const fn = deployed[name];
  return withEnvironment(fn.env, () => fn.handler(event, lambdaContext(name)) as Promise<T>);
}

async function callApi(
  method: "GET" | "POST",
  path: string,
  query: Record<string, string> = {},
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const rawQueryString = new URLSearchParams(query).toString();
  const event: APIGatewayProxyEventV2 = {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    rawQueryString,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(rawQueryString ? { queryStringParameters: query } : {}),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    isBase64Encoded: false,
    requestContext: { http: { method, path }, requestId: randomUUID() },
  } as APIGatewayProxyEventV2;
  const result = await invoke<APIGatewayProxyStructuredResultV2>("api", event);
  return { status: result.statusCode ?? 0, body: JSON.parse(String(result.body)) };
}

// -------------------------------------------------------------------------------------------------
// The work queue, as the Lambda event source sees it (the test's own client: not recorded).

const inbox = new Map<string, Message>();

async function receiveWork(): Promise<void> {
  for (;;) {
    const { Messages: messages = [] } = await resources.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: resources.workQueueUrl,
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      }),
    );
    if (messages.length === 0) return;
    for (const message of messages) inbox.set(message.MessageId as string, message);
  }
}

async function takeWork(predicate: (message: WorkMessage) => boolean): Promise<Message | undefined> {
  await receiveWork();
  for (const [id, message] of inbox) {
    if (predicate(parseWorkMessage(message.Body ?? ""))) {
      inbox.delete(id);
      return message;
    }
  }
  return undefined;
}

/** One delivery to the worker; like the event source, a successful record is deleted from the queue. */
async function deliver(message: Message, receiveCount = 1): Promise<SQSBatchResponse> {
  const event: SQSEvent = {
    Records: [
      {
        messageId: message.MessageId as string,
        receiptHandle: message.ReceiptHandle as string,
        body: message.Body as string,
        attributes: {
          ApproximateReceiveCount: String(receiveCount),
          SentTimestamp: String(Date.now()),
          SenderId: "local",
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: message.MD5OfBody as string,
        eventSource: "aws:sqs",
        eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:work",
        awsRegion: LOCAL_AWS_REGION,
      },
    ],
  };
  const response = await invoke<SQSBatchResponse>("worker", event);
  if (response.batchItemFailures.length === 0) {
    await resources.sqs.send(
      new DeleteMessageCommand({ QueueUrl: resources.workQueueUrl, ReceiptHandle: message.ReceiptHandle }),
    );
  }
  return response;
}

// -------------------------------------------------------------------------------------------------
// Webhooks: TikTok's signed POST as API Gateway hands it to the receiver, and the webhook queue as the
// consumer's event source sees it (the test's own SQS client: not recorded).

async function postWebhook(event: Record<string, unknown>, signature?: string): Promise<number> {
  const body = JSON.stringify(event);
  const request: APIGatewayProxyEventV2 = {
    version: "2.0",
    routeKey: `POST ${WEBHOOK_PATH}`,
    rawPath: WEBHOOK_PATH,
    rawQueryString: "",
    headers: {
      "content-type": "application/json",
      authorization: signature ?? signWebhook(emulator.appKey, emulator.appSecret, body),
    },
    body,
    isBase64Encoded: false,
    // Only the request context fields the receiver reads.
    requestContext: { http: { method: "POST", path: WEBHOOK_PATH }, requestId: randomUUID() },
  } as unknown as APIGatewayProxyEventV2;
  const result = await invoke<APIGatewayProxyStructuredResultV2>("webhook-receiver", request);
  return result.statusCode ?? 0;
}

/** Every visible message of the webhook queue, in one batch (a batching window gathers them so). */
async function consumeWebhooks(): Promise<{ events: number; failures: number }> {
  const messages: Message[] = [];
  for (;;) {
    const { Messages: received = [] } = await resources.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: resources.webhookQueueUrl, MaxNumberOfMessages: 10 }),
    );
    if (received.length === 0) break;
    messages.push(...received);
  }
  const event: SQSEvent = {
    Records: messages.map((message) => ({
      messageId: message.MessageId as string,
      receiptHandle: message.ReceiptHandle as string,
      body: message.Body as string,
      attributes: {
        ApproximateReceiveCount: "1",
        SentTimestamp: String(Date.now()),
        SenderId: "local",
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: message.MD5OfBody as string,
      eventSource: "aws:sqs",
      eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:webhook",
      awsRegion: LOCAL_AWS_REGION,
    })),
  };
  const response = await invoke<SQSBatchResponse>("webhook-consumer", event);
  const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  for (const message of messages) {
    if (failed.has(message.MessageId as string)) continue;
    await resources.sqs.send(
      new DeleteMessageCommand({ QueueUrl: resources.webhookQueueUrl, ReceiptHandle: message.ReceiptHandle }),
    );
  }
  return { events: messages.length, failures: failed.size };
}

async function storedOrder(shopId: string, orderId: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await resources.documents.send(
    new GetCommand({ TableName: resources.ordersTable, Key: { shopId, orderId } }),
  );
  return Item;
}

// -------------------------------------------------------------------------------------------------
// State reads and the few states the scenario sets up directly (the test's own client: not recorded).

async function stateItem(shopId: string, sk: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await resources.documents.send(
    new GetCommand({ TableName: resources.stateTable, Key: { pk: stateKeys.shop(shopId), sk } }),
  );
  return Item;
}

async function runningJobId(shopId: string): Promise<string> {
  const meta = await stateItem(shopId, stateKeys.meta);
  if (typeof meta?.running_job_id !== "string") throw new Error(`${shopId} has no running job`);
  return meta.running_job_id;
}

const jobStatus = async (shopId: string, jobId: string) =>
  (await stateItem(shopId, stateKeys.job(jobId)))?.status;
const windowItem = (shopId: string, jobId: string, window: number) =>
  stateItem(shopId, stateKeys.window(jobId, window));

// -------------------------------------------------------------------------------------------------

async function runScenario(): Promise<void> {
  // 1. API: a full resync of shop B, planned by the API function (the token it seeds is expired at
  //    TikTok, so its first call also refreshes the token pair).
  emulator.expireAccessTokens();
  const started = await callApi("POST", "/api/sync/orders/full", { shop_id: SHOP_B });
  expect(started).toMatchObject({ status: 202, body: { job_id: expect.any(String) } });
  const jobB = String(started.body.job_id);

  // 2. Tick: shop A's first sync plans a job; shop B (its cursor set by the API's planning) runs an
  //    incremental sync; shop C (no orders) plans an empty job and finalizes it at once. The DLQ
  //    depth is read for the metrics.
  emulator.expireAccessTokens();
  seen.firstTick = await invoke("tick", { source: "schedule" });
  expect(seen.firstTick).toEqual([
    { shopId: SHOP_A, status: "full-sync-started" },
    { shopId: SHOP_B, status: "completed" },
    { shopId: SHOP_C, status: "full-sync-started" },
  ]);
  expect(await runningJobId(SHOP_B)).toBe(jobB);
  const jobA = await runningJobId(SHOP_A);

  // 3. Tick: shop A's window shows no sign of life for longer than the stall period, so the
  //    reconciler re-enqueues it; shop C runs its first real incremental sync.
  await resources.documents.send(
    new UpdateCommand({
      TableName: resources.stateTable,
      Key: { pk: stateKeys.shop(SHOP_A), sk: stateKeys.window(jobA, 0) },
      UpdateExpression: "SET updatedAtMs = :past, activityAtMs = :past",
      ExpressionAttributeValues: { ":past": 0 },
    }),
  );
  seen.secondTick = await invoke("tick", { source: "schedule" });
  expect((await windowItem(SHOP_A, jobA, 0))?.requeues).toBe(1);
  expect(seen.secondTick).toContainEqual({ shopId: SHOP_C, status: "completed" });

  // 4. Worker: shop A's job page by page (continuations, the re-enqueued duplicate), to its finalize.
  emulator.expireAccessTokens();
  for (
    let deliveries = 0;
    deliveries < 20 && (await jobStatus(SHOP_A, jobA)) === "RUNNING";
    deliveries += 1
  ) {
    const message = await takeWork((work) => work.jobId === jobA);
    if (!message) break;
    expect((await deliver(message)).batchItemFailures).toEqual([]);
  }
  expect(await jobStatus(SHOP_A, jobA)).toBe("COMPLETED");

  // 5. Tick and 6. API "sync now": incremental runs that store changed orders of shop A. The changes
  //    are stamped a minute ago: a run reads update_time < now, so a change in the current second
  //    could be left to the next run (and this run would write nothing).
  const changeOrders = () => {
    const realNow = emulator.now();
    emulator.setClock(realNow - 60);
    emulator.mutate({ shopId: SHOP_A, count: 5 });
    emulator.setClock(realNow);
  };
  const storedChanges = async () => {
    const lastRun = (await stateItem(SHOP_A, stateKeys.meta))?.last_run as Record<string, number> | undefined;
    return (lastRun?.inserted ?? 0) + (lastRun?.updated ?? 0);
  };
  changeOrders();
  seen.thirdTick = await invoke("tick", { source: "schedule" });
  expect(seen.thirdTick).toContainEqual({ shopId: SHOP_A, status: "completed" });
  expect(await storedChanges()).toBeGreaterThan(0);
  changeOrders();
  const syncNow = await callApi("POST", "/api/sync/orders", { shop_id: SHOP_A });
  expect(syncNow).toMatchObject({ status: 202, body: { sync_type: "incremental", status: "completed" } });
  expect(await storedChanges()).toBeGreaterThan(0);

  // 6b. Push: TikTok's webhooks for shop A's changes reach the receiver (a forged one is refused), then
  //     the consumer refreshes the orders (one of them announced newer than TikTok's detail says: handed
  //     back with a delay), records an "authorization expiring" notice and counts an unknown shop.
  const realNowForPush = emulator.now();
  emulator.setClock(realNowForPush - 60);
  const pushed = emulator.mutate({ shopId: SHOP_A, count: 3 });
  emulator.setClock(realNowForPush);
  const orderEvent = (order: { id: string; status: string; update_time: number }, type = 1) => ({
    type,
    tts_notification_id: randomUUID(),
    shop_id: SHOP_A,
    timestamp: realNowForPush,
    data: { order_id: order.id, order_status: order.status, update_time: order.update_time },
  });
  for (const order of pushed) expect(await postWebhook(orderEvent(order))).toBe(200);
  const [ahead] = pushed;
  if (!ahead) throw new Error("the emulator changed no order");
  expect(await postWebhook(orderEvent({ ...ahead, update_time: realNowForPush + 3600 }, 3))).toBe(200);
  expect(
    await postWebhook({
      type: 7,
      tts_notification_id: randomUUID(),
      shop_id: SHOP_A,
      timestamp: realNowForPush,
      data: { expiration_time: realNowForPush + 7 * 86_400 },
    }),
  ).toBe(200);
  expect(
    await postWebhook({
      type: 1,
      shop_id: "shop-unknown",
      timestamp: realNowForPush,
      data: { order_id: "1" },
    }),
  ).toBe(200);
  const forged = { type: 6, shop_id: SHOP_A, timestamp: realNowForPush, data: {} };
  expect(
    await postWebhook(forged, signWebhook(emulator.appKey, "not-the-secret", JSON.stringify(forged))),
  ).toBe(401);
  emulator.expireAccessTokens();
  expect(await consumeWebhooks()).toEqual({ events: 6, failures: 0 });
  for (const order of pushed) {
    expect(await storedOrder(SHOP_A, order.id)).toMatchObject({ updateTime: order.update_time });
  }
  seen.webhookHandBacks = deployed["webhook-consumer"].endpoint.calls.filter(
    (call) => call.operation === "SendMessageBatch",
  ).length;
  expect(seen.webhookHandBacks).toBe(1);

  // 7. Worker: shop B's page is throttled past the client's retries: re-sent with DelaySeconds.
  const pageB = await takeWork((work) => work.jobId === jobB);
  if (!pageB) throw new Error("shop B's job sent no work");
  emulator.failNext({ count: 4, endpoint: "searchOrders", fault: "rateLimitNoRetryAfter" });
  expect((await deliver(pageB)).batchItemFailures).toEqual([]);
  seen.delayedSends = deployed.worker.endpoint.calls.filter(
    (call) =>
      call.operation === "SendMessageBatch" &&
      (call.input.Entries as { DelaySeconds?: number }[]).some((entry) => (entry.DelaySeconds ?? 0) > 0),
  ).length;

  // 8. Worker: the same page fails on its last receive: its window is marked FAILED, and with no
  //    other open window the job fails. SQS then moves the message to the DLQ (done here by hand),
  //    next to a dead letter of another job.
  emulator.failNext({ count: 4, endpoint: "searchOrders", fault: "http500" });
  expect((await deliver(pageB, 5)).batchItemFailures).toHaveLength(1);
  expect(await jobStatus(SHOP_B, jobB)).toBe("FAILED");
  const otherJob: WorkMessage = {
    shopId: SHOP_B,
    jobId: "20200101T000000Z-00000000",
    window: 0,
    sequence: 0,
  };
  for (const body of [pageB.Body as string, encodeWorkMessage(otherJob)]) {
    await resources.sqs.send(
      new SendMessageCommand({ QueueUrl: resources.deadLetterQueueUrl, MessageBody: body }),
    );
  }

  // 9. API: resume the failed job: window reopened, job running again, work re-enqueued, its dead
  //    letter deleted and the other job's made visible again.
  const resumed = await callApi("POST", `/api/sync/jobs/${jobB}/resume`, { shop_id: SHOP_B });
  expect(resumed).toMatchObject({
    status: 200,
    body: { status: "RUNNING", reopened: 1, requeued: 1, deadLettersRemoved: 1 },
  });

  // 10. Worker: shop B gained orders inside the window after planning, so the window's first page
  //     counts more than a window may hold: the worker splits it and sends its children.
  const window = await windowItem(SHOP_B, jobB, 0);
  const realNow = emulator.now();
  emulator.setClock(Number(window?.end) - 3600);
  emulator.createOrders({ count: 5_001, shopId: SHOP_B, seed: 15 });
  emulator.setClock(realNow);
  const resent = await takeWork((work) => work.jobId === jobB && work.sequence === 0);
  if (!resent) throw new Error("the resumed job's work was not re-enqueued");
  expect((await deliver(resent)).batchItemFailures).toEqual([]);
  expect((await windowItem(SHOP_B, jobB, 0))?.status).toBe("SPLIT");

  // 11. API: cancel the job; 12. status of every shop (DLQ depth: the other job's dead letter).
  expect(await callApi("POST", `/api/sync/jobs/${jobB}/cancel`, { shop_id: SHOP_B })).toMatchObject({
    status: 200,
    body: { status: "CANCELLED" },
  });
  const status = await callApi("GET", "/api/sync/status");
  expect(status.status).toBe(200);
  expect(status.body.shops).toHaveLength(3);
  expect(status.body.shops).toContainEqual(expect.objectContaining({ shop_id: SHOP_A, dlq_depth: 1 }));

  // 13. API: a backfill of a range without orders completes (and finalizes) inside the request.
  const backfill = await callApi(
    "POST",
    "/api/sync/orders/full",
    { shop_id: SHOP_A },
    { from: "2015-01-01T00:00:00Z", to: "2015-01-02T00:00:00Z" },
  );
  expect(backfill).toMatchObject({ status: 202, body: { status: "COMPLETED" } });

  // 14. Reconcile (scheduled): two of shop A's stored orders deleted behind the product's back; the run
  //     counts every month through the create-time index (TikTok's total_count beside it) and starts
  //     one ranged healing job. (Shop B's cancelled job left its table short: it is healed too.)
  const deletedFirst = await deleteStoredOrders(SHOP_A, [40, 41]);
  emulator.expireAccessTokens();
  seen.reconcileRun = await invoke("reconcile", { source: "reconcile-schedule" });
  expect(seen.reconcileRun).toContainEqual({
    shopId: SHOP_A,
    status: "completed",
    jobId: expect.any(String),
  });
  expect(seen.reconcileRun).toContainEqual({ shopId: SHOP_C, status: "completed" });
  const healing = await runningJobId(SHOP_A);

  // 15. Worker: the healing job re-reads that range and writes the deleted orders back.
  for (
    let deliveries = 0;
    deliveries < 20 && (await jobStatus(SHOP_A, healing)) === "RUNNING";
    deliveries += 1
  ) {
    const message = await takeWork((work) => work.jobId === healing);
    if (!message) break;
    expect((await deliver(message)).batchItemFailures).toEqual([]);
  }
  expect(await jobStatus(SHOP_A, healing)).toBe("COMPLETED");
  expect(await storedOrderIds(SHOP_A)).toEqual(expect.arrayContaining(deletedFirst));

  // 16. API: reconcile on demand after another order went missing: counts and heals from the API role.
  await deleteStoredOrders(SHOP_A, [60]);
  const onDemand = await callApi("POST", "/api/sync/reconcile", { shop_id: SHOP_A });
  expect(onDemand).toMatchObject({
    status: 202,
    body: {
      sync_type: "reconciliation",
      status: "completed",
      ranges_mismatched: 1,
      orders_missing: 1,
      healing: { job_id: expect.any(String) },
    },
  });

  // 17. Push, last (it stops every shop of the authorization): TikTok says the seller deauthorized
  //     the app: the authorization needs re-authorizing.
  expect(
    await postWebhook({
      type: 6,
      tts_notification_id: randomUUID(),
      shop_id: SHOP_A,
      timestamp: Math.ceil(Date.now() / 1000) + 1,
      data: {},
    }),
  ).toBe(200);
  expect(await consumeWebhooks()).toMatchObject({ failures: 0 });
  const afterDeauthorization = await callApi("GET", "/api/sync/status", { shop_id: SHOP_A });
  const [shopA] = afterDeauthorization.body.shops as {
    token: { needs_reauth: boolean };
    push: { events: number };
  }[];
  expect(shopA?.token.needs_reauth).toBe(true);
  expect(shopA?.push.events).toBeGreaterThanOrEqual(5);
}

/** The shop's stored orders by create time (the test's own client: not recorded). */
async function storedOrders(shopId: string): Promise<{ orderId: string; createTime: number }[]> {
  const orders: { orderId: string; createTime: number }[] = [];
  const pages = paginateQuery(
    { client: resources.documents },
    {
      TableName: resources.ordersTable,
      KeyConditionExpression: "shopId = :shopId",
      ExpressionAttributeValues: { ":shopId": shopId },
      ProjectionExpression: "orderId, createTime",
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      orders.push({ orderId: String(item.orderId), createTime: Number(item.createTime) });
    }
  }
  return orders.sort((a, b) => a.createTime - b.createTime);
}

async function storedOrderIds(shopId: string): Promise<string[]> {
  return (await storedOrders(shopId)).map((order) => order.orderId);
}

/** Deletes the stored orders at these positions (by create time); returns their ids. */
async function deleteStoredOrders(shopId: string, positions: readonly number[]): Promise<string[]> {
  const orders = await storedOrders(shopId);
  const ids = positions.map((position) => {
    const order = orders[position];
    if (!order) throw new Error(`${shopId} has no stored order at position ${position}`);
    return order.orderId;
  });
  for (const orderId of ids) {
    await resources.documents.send(
      new DeleteCommand({ TableName: resources.ordersTable, Key: { shopId, orderId } }),
    );
  }
  return ids;
}

/** The default stack's template, synthesized in a child process (see fixtures/print-template.ts). */
async function synthesizeTemplate(): Promise<CfnTemplate> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      resolve(ROOT, "node_modules", "tsx", "dist", "cli.mjs"),
      resolve(__dirname, "fixtures", "print-template.ts"),
    ],
    { cwd: ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 180_000 },
  );
  return JSON.parse(stdout) as CfnTemplate;
}

/** The permissions each function's recorded calls need. */
function usedPermissions(fn: DeployedFunction): Permission[] {
  return fn.endpoint.calls.flatMap((call) => permissionsFor(call, fn.resolver));
}

describe("IAM rules for recorded calls", () => {
  const resolve: ResourceResolver = (_service, identifier) => `Resource(${identifier})`;
  const call = (service: RecordedAwsCall["service"], operation: string, input: Record<string, unknown>) =>
    permissionsFor({ service, operation, input }, resolve);

  it("authorizes a transaction item by item, as the operation each item stands for", () => {
    const item = (TableName: string) => ({ TableName, Key: {} });
    expect(
      call("dynamodb", "TransactWriteItems", {
        TransactItems: [
          { Put: item("a") },
          { Update: item("b") },
          { Delete: item("a") },
          { ConditionCheck: item("b") },
        ],
      }),
    ).toEqual([
      { action: "dynamodb:PutItem", resource: "Resource(a)" },
      { action: "dynamodb:UpdateItem", resource: "Resource(b)" },
      { action: "dynamodb:DeleteItem", resource: "Resource(a)" },
      { action: "dynamodb:ConditionCheckItem", resource: "Resource(b)" },
    ]);
    expect(() => call("dynamodb", "TransactWriteItems", { TransactItems: [{ Merge: item("a") }] })).toThrow(
      NoIamRuleError,
    );
  });

  it("authorizes batches on every table they name, and a query on an index on that index", () => {
    expect(call("dynamodb", "BatchWriteItem", { RequestItems: { a: [], b: [] } })).toEqual([
      { action: "dynamodb:BatchWriteItem", resource: "Resource(a)" },
      { action: "dynamodb:BatchWriteItem", resource: "Resource(b)" },
    ]);
    expect(call("dynamodb", "Query", { TableName: "a", IndexName: "byUpdateTime" })).toEqual([
      { action: "dynamodb:Query", resource: "Resource(a)/index/byUpdateTime" },
    ]);
    expect(() => call("dynamodb", "ExecuteStatement", { Statement: "SELECT" })).toThrow(NoIamRuleError);
  });

  it("authorizes SQS batch operations by the single-message action, and secrets by their id", () => {
    expect(call("sqs", "SendMessageBatch", { QueueUrl: "q", Entries: [] })).toEqual([
      { action: "sqs:SendMessage", resource: "Resource(q)" },
    ]);
    expect(call("sqs", "ChangeMessageVisibilityBatch", { QueueUrl: "q" })).toEqual([
      { action: "sqs:ChangeMessageVisibility", resource: "Resource(q)" },
    ]);
    expect(call("secretsmanager", "GetSecretValue", { SecretId: "s" })).toEqual([
      { action: "secretsmanager:GetSecretValue", resource: "Resource(s)" },
    ]);
  });
});

describe("IAM from the code itself", () => {
  beforeAll(async () => {
    const synthesized = synthesizeTemplate();
    // Unhandled until awaited below; a failure still surfaces there.
    synthesized.catch(() => undefined);
    emulator = await startTikTokEmulator({
      seed: 15,
      shops: [
        { id: SHOP_A, orders: 120 },
        { id: SHOP_B, orders: 300 },
        { id: SHOP_C, orders: 0 },
      ],
      log: () => {},
    });
    const tokens = emulator.issueTokens();
    secretValue = JSON.stringify({
      app_key: emulator.appKey,
      app_secret: emulator.appSecret,
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
    });
    resources = await createTestResources({ label: "iam", queues: { visibilityTimeoutSeconds: 300 } });
    template = await synthesized;
    for (const name of FUNCTION_NAMES) deployed[name] = await deploy(name);
    await runScenario();
  }, 180_000);

  afterAll(async () => {
    for (const fn of Object.values(deployed)) await fn.endpoint.close();
    resources?.destroy();
    await emulator?.stop();
  });

  it("records only AWS JSON calls of known services, through each function's own endpoint", () => {
    for (const name of FUNCTION_NAMES) {
      expect(deployed[name].endpoint.unrecognized).toEqual([]);
      expect(deployed[name].endpoint.calls.length).toBeGreaterThan(0);
    }
    // The scenario reached the paths it names (a throttled page re-sent with a delay, for one).
    expect(seen.delayedSends).toBe(1);
    expect(seen.webhookHandBacks).toBe(1);
  });

  it("counted stored orders through the create-time index and started a healing job (reconcile, api)", () => {
    for (const name of ["reconcile", "api"] as const) {
      const calls = deployed[name].endpoint.calls;
      expect(calls).toContainEqual(
        expect.objectContaining({
          operation: "Query",
          input: expect.objectContaining({
            TableName: resources.ordersTable,
            IndexName: "byCreateTime",
            Select: "COUNT",
          }),
        }),
      );
      // The healing job's windows were enqueued by the function that planned it.
      expect(calls.some((call) => call.operation.startsWith("SendMessage"))).toBe(true);
    }
    // The scheduled function reads no order item itself: only counts (and the oldest create time).
    const reconcileOnOrders = deployed.reconcile.endpoint.calls.filter((call) =>
      JSON.stringify(call.input).includes(resources.ordersTable),
    );
    expect(new Set(reconcileOnOrders.map((call) => call.operation))).toEqual(new Set(["Query"]));
  });

  it("refreshed the TikTok token pair in every function that calls TikTok (its TOKEN item written)", () => {
    const writesToken = (call: RecordedAwsCall) =>
      ["PutItem", "UpdateItem", "TransactWriteItems"].includes(call.operation) &&
      JSON.stringify(call.input).includes('{"S":"TOKEN"}');
    for (const name of SYNCING_FUNCTIONS) {
      expect(deployed[name].endpoint.calls.some(writesToken)).toBe(true);
    }
    // The receiver only verifies and enqueues: it never touches DynamoDB at all.
    expect(deployed["webhook-receiver"].endpoint.calls.filter((call) => call.service === "dynamodb")).toEqual(
      [],
    );
  });

  it("reads the TikTok app secret from Secrets Manager in every function (Powertools' own client)", () => {
    for (const name of FUNCTION_NAMES) {
      expect(deployed[name].endpoint.calls.filter((call) => call.operation === "GetSecretValue")).toEqual([
        { service: "secretsmanager", operation: "GetSecretValue", input: { SecretId: SECRET_ARN } },
      ]);
    }
  });

  it.each(FUNCTION_NAMES)("%s: its role allows exactly the calls its code sent", (name) => {
    const fn = deployed[name];
    const problems = compareGrants(name, usedPermissions(fn), roleGrants(template, fn.template));
    expect(problems).toEqual([]);
  });

  it("names the function, action, resource and 'missing' or 'unused' when a role and the code differ", () => {
    // The api role as it was before resume's DLQ grants, plus a grant its code never uses.
    const grants = roleGrants(template, deployed.api.template);
    const dlq = deployed.api.resolver("sqs", resources.deadLetterQueueUrl);
    const before = {
      ...grants,
      comparable: [
        ...grants.comparable.filter(
          (permission) => permission.resource !== dlq || permission.action === "sqs:GetQueueAttributes",
        ),
        { action: "dynamodb:Scan", resource: deployed.api.resolver("dynamodb", resources.ordersTable) },
      ],
    };
    expect(compareGrants("api", usedPermissions(deployed.api), before)).toEqual([
      "api: dynamodb:Scan on OrdersTable is unused (its code never sends it)",
      "api: sqs:ChangeMessageVisibility on DeadLetterQueue is missing (its code sends it)",
      "api: sqs:DeleteMessage on DeadLetterQueue is missing (its code sends it)",
      "api: sqs:ReceiveMessage on DeadLetterQueue is missing (its code sends it)",
    ]);
    // The worker's event source needs its consume actions even though no code of ours sends them.
    const worker = roleGrants(template, deployed.worker.template);
    const withoutConsume = {
      ...worker,
      comparable: worker.comparable.filter((permission) => permission.action !== "sqs:ReceiveMessage"),
    };
    expect(compareGrants("worker", usedPermissions(deployed.worker), withoutConsume)).toEqual([
      "worker: sqs:ReceiveMessage on WorkQueue is missing (its SQS event source needs it)",
    ]);
  });

  it("has exercised every AWS operation the handlers' own code constructs", async () => {
    // Every source file of ours each handler bundles (packages stay external), scanned for SDK
    // commands: an operation no function sent would be a path this driver misses.
    const bundled = await build({
      entryPoints: FUNCTION_NAMES.map(handlerPath),
      bundle: true,
      write: false,
      metafile: true,
      platform: "node",
      packages: "external",
      outdir: "unused",
      logLevel: "silent",
    });
    const DOCUMENT_CLIENT_OPERATIONS: Record<string, string> = {
      Get: "GetItem",
      Put: "PutItem",
      Update: "UpdateItem",
      Delete: "DeleteItem",
      BatchGet: "BatchGetItem",
      BatchWrite: "BatchWriteItem",
      TransactGet: "TransactGetItems",
      TransactWrite: "TransactWriteItems",
    };
    const constructed = new Set<string>();
    for (const file of Object.keys(bundled.metafile.inputs)) {
      for (const match of readFileSync(file, "utf8").matchAll(/new (\w+)Command\(/g)) {
        const name = match[1] as string;
        constructed.add(DOCUMENT_CLIENT_OPERATIONS[name] ?? name);
      }
    }
    const sent = new Set(
      FUNCTION_NAMES.flatMap((name) => deployed[name].endpoint.calls.map((call) => call.operation)),
    );
    expect(constructed.size).toBeGreaterThan(5);
    expect([...constructed].filter((operation) => !sent.has(operation)).sort()).toEqual([]);
  });
});
