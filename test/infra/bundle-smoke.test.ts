/**
 * Bundle smoke test: each Lambda entry is bundled with esbuild the way the house construct has CDK do it
 * (CommonJS, node22, minified, AWS SDK bundled), then loaded in a fresh Node process and invoked with a
 * sample event against the local emulators. Catches missing modules, top-level await, ESM-only packages
 * and env parsing errors before a deploy would.
 */

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { build } from "esbuild";
import { emulatorEnv, localResourceEnv } from "../../infra/local/provision";
import { signWebhook } from "../../shared/tiktok/signing";
import { testEndpoints } from "../support/local-aws";
import { type SyncHarness, startSyncHarness } from "../support/sync-harness";

const run = promisify(execFile);
const ENTRIES = ["tick", "api", "worker", "reconcile", "webhook-receiver", "webhook-consumer"] as const;
let outdir: string;
let harness: SyncHarness;
let env: Record<string, string>;

beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), "tss-bundles-"));
  await build({
    entryPoints: Object.fromEntries(ENTRIES.map((name) => [name, resolve("functions", name, "handler.ts")])),
    outdir,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node22",
    minify: true,
    sourcemap: true,
    logLevel: "silent",
  });
  harness = await startSyncHarness({ label: "bundle", emulator: { shops: [{ id: "shop-1", orders: 150 }] } });
  const tokens = harness.emulator.issueTokens();
  const shop = harness.emulator.shops()[0];
  const { dynamodbEndpoint, sqsEndpoint } = testEndpoints();
  env = {
    PATH: process.env.PATH ?? "",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    POWERTOOLS_SERVICE_NAME: "smoke",
    POWERTOOLS_METRICS_NAMESPACE: "TikTokShopSync",
    POWERTOOLS_DEV: "true",
    ...localResourceEnv(harness.resources, { dynamodbEndpoint, sqsEndpoint }),
    // Secrets Manager is not emulated: the bundles read the app key/secret from env here.
    ...emulatorEnv(harness.emulator),
    TIKTOK_ACCESS_TOKEN: tokens.access_token,
    TIKTOK_REFRESH_TOKEN: tokens.refresh_token,
    TIKTOK_SHOP_ID: shop?.id ?? "",
    TIKTOK_SHOP_CIPHER: shop?.cipher ?? "",
    SYNC_SETTLE_SECONDS: "0",
    SYNC_MAX_CLOCK_SKEW_SECONDS: "0",
  };
}, 120_000);

afterAll(async () => {
  await harness?.close();
  rmSync(outdir, { recursive: true, force: true });
});

/** Loads a bundle in a fresh Node process (as Lambda would) and invokes its handler once. */
async function invoke(name: (typeof ENTRIES)[number], event: unknown): Promise<unknown> {
  const script = `
    const { handler } = require(${JSON.stringify(join(outdir, `${name}.js`))});
    const context = { getRemainingTimeInMillis: () => 25000, functionName: "smoke", awsRequestId: "r1" };
    Promise.resolve(handler(${JSON.stringify(event)}, context))
      .then((result) => process.stdout.write("\\nRESULT " + JSON.stringify(result ?? null) + "\\n"))
      .catch((error) => { process.stderr.write(String(error && error.stack || error)); process.exit(1); });
  `;
  const { stdout } = await run(process.execPath, ["-e", script], { env, timeout: 60_000 });
  const line = stdout.split("\n").find((candidate) => candidate.startsWith("RESULT "));
  if (!line) throw new Error(`no result from the ${name} bundle: ${stdout.slice(-500)}`);
  return JSON.parse(line.slice("RESULT ".length));
}

describe("Lambda bundles", () => {
  it.each(ENTRIES)("%s bundles to one self-contained CommonJS file", (name) => {
    expect(statSync(join(outdir, `${name}.js`)).size).toBeGreaterThan(10_000);
  });

  it("tick: a first sync starts a full resync from the bundled handler", async () => {
    const result = (await invoke("tick", { source: "schedule" })) as { status: string }[];
    expect(result).toEqual([{ shopId: "shop-1", status: "full-sync-started" }]);
  });

  it("worker: processes a real work message and reports no batch item failure", async () => {
    const received = await harness.resources.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: harness.resources.workQueueUrl,
        MaxNumberOfMessages: 1,
        WaitTimeSeconds: 5,
        MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      }),
    );
    const message = received.Messages?.[0];
    expect(message).toBeDefined();
    const event = {
      Records: [
        {
          messageId: message?.MessageId,
          receiptHandle: message?.ReceiptHandle,
          body: message?.Body,
          attributes: { ApproximateReceiveCount: "1" },
          messageAttributes: {},
          md5OfBody: message?.MD5OfBody,
          eventSource: "aws:sqs",
          eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:work",
          awsRegion: "us-east-1",
        },
      ],
    };
    expect(await invoke("worker", event)).toEqual({ batchItemFailures: [] });
  });

  it("api: GET /api/sync/status answers 200 with the contract's shape", async () => {
    const result = (await invoke("api", {
      version: "2.0",
      routeKey: "GET /api/sync/status",
      rawPath: "/api/sync/status",
      rawQueryString: "",
      headers: {},
      isBase64Encoded: false,
      requestContext: { http: { method: "GET", path: "/api/sync/status" }, requestId: "r1" },
    })) as { statusCode: number; body: string };
    expect(result.statusCode).toBe(200);
    const body = JSON.parse(result.body) as { shops: { shop_id: string; job: { status: string } }[] };
    expect(body.shops[0]?.shop_id).toBe("shop-1");
    // 150 orders are one window of two pages: the worker's one message paged it to the end (a run).
    expect(body.shops[0]?.job.status).toBe("COMPLETED");
  });

  it("webhook receiver and consumer: a signed event is queued (200), then the order is refreshed", async () => {
    const [order] = harness.emulator.mutate({ shopId: "shop-1", count: 1 });
    const body = JSON.stringify({
      type: 1,
      tts_notification_id: "smoke-1",
      shop_id: "shop-1",
      timestamp: harness.emulator.now(),
      data: { order_id: order?.id, order_status: order?.status, update_time: order?.update_time },
    });
    const request = (authorization: string) => ({
      version: "2.0",
      routeKey: "POST /api/webhooks/tiktok",
      rawPath: "/api/webhooks/tiktok",
      rawQueryString: "",
      headers: { "content-type": "application/json", authorization },
      body,
      isBase64Encoded: false,
      requestContext: { http: { method: "POST", path: "/api/webhooks/tiktok" }, requestId: "r3" },
    });
    const forged = (await invoke("webhook-receiver", request("0".repeat(64)))) as { statusCode: number };
    expect(forged.statusCode).toBe(401);
    const signature = signWebhook(harness.emulator.appKey, harness.emulator.appSecret, body);
    const accepted = (await invoke("webhook-receiver", request(signature))) as { statusCode: number };
    expect(accepted.statusCode).toBe(200);
    const received = await harness.resources.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: harness.resources.webhookQueueUrl, WaitTimeSeconds: 5 }),
    );
    const message = received.Messages?.[0];
    expect(received.Messages).toHaveLength(1);
    const event = {
      Records: [
        {
          messageId: message?.MessageId,
          receiptHandle: message?.ReceiptHandle,
          body: message?.Body,
          attributes: { ApproximateReceiveCount: "1" },
          messageAttributes: {},
          md5OfBody: message?.MD5OfBody,
          eventSource: "aws:sqs",
          eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:webhook",
          awsRegion: "us-east-1",
        },
      ],
    };
    expect(await invoke("webhook-consumer", event)).toEqual({ batchItemFailures: [] });
    const stored = await harness.runtime.orders.readVersions("shop-1", [order?.id ?? ""]);
    expect(stored.get(order?.id ?? "")?.updateTime).toBe(order?.update_time);
  });

  it("api: a bad request gets the 4xx JSON error from the bundle too", async () => {
    const result = (await invoke("api", {
      version: "2.0",
      rawPath: "/api/sync/orders",
      headers: { "content-type": "application/json" },
      body: "{",
      isBase64Encoded: false,
      requestContext: { http: { method: "POST", path: "/api/sync/orders" }, requestId: "r2" },
    })) as { statusCode: number; body: string };
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body)).toEqual({
      error: { code: "malformed_json", message: expect.any(String) },
    });
  });

  it("reconcile: a scheduled run from the bundle skips the shop whose full resync runs, naming the job", async () => {
    const forced = (await invoke("api", {
      version: "2.0",
      routeKey: "POST /api/sync/orders/full",
      rawPath: "/api/sync/orders/full",
      rawQueryString: "",
      headers: {},
      isBase64Encoded: false,
      requestContext: { http: { method: "POST", path: "/api/sync/orders/full" }, requestId: "r4" },
    })) as { statusCode: number; body: string };
    expect(forced.statusCode).toBe(202);
    const { job_id: jobId } = JSON.parse(forced.body) as { job_id: string };
    const result = await invoke("reconcile", { source: "reconcile-schedule" });
    expect(result).toEqual([{ shopId: "shop-1", status: "skipped", reason: "job_running", jobId }]);
  });
});
