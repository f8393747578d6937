/**
 * The deployed placeholder secret (issue 15 "secret not configured"): the Lambda wiring with a secret
 * reader in place of Secrets Manager, on DynamoDB Local and the SQS emulator. Until real credentials are
 * stored the tick returns cleanly and reports "not configured", the status route shows it and the sync
 * routes answer 503; once stored they are picked up without a redeploy. A present but malformed secret
 * fails clearly, never quoting the secret.
 */

import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { localResourceEnv } from "../../infra/local/provision";
import {
  CredentialsNotConfiguredError,
  parseCredentialsSecret,
  SecretFormatError,
} from "../../shared/app/credentials";
import { lambdaApp, type SecretReader } from "../../shared/app/lambda";
import { createSyncService } from "../../shared/app/service";
import { runTick, tickFailure } from "../../shared/app/tick";
import { makeApiHandler } from "../../shared/http/api";
import { LogRecorder } from "../../shared/observability/telemetry";
import { createTestResources, type TestResources, testEndpoints } from "../support/local-aws";

const ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tiktok-shop-sync-app";
const PLACEHOLDER = "Xq3vT9mLw2Zr8KpB4sYd7NcH1fJu6GaE";

function event(method: string, path: string): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    rawQueryString: "",
    headers: {},
    isBase64Encoded: false,
    requestContext: { http: { method, path } },
  } as unknown as APIGatewayProxyEventV2;
}

describe("reading the credentials secret", () => {
  it("takes the generated placeholder or an empty secret as not configured", () => {
    for (const text of [PLACEHOLDER, "", "   ", undefined]) {
      const state = parseCredentialsSecret(text, ARN);
      expect(state).toEqual({ notConfigured: expect.stringContaining(ARN) });
    }
  });

  it("fails a malformed secret clearly, naming what is wrong but never quoting it", () => {
    const cases: [string, RegExp][] = [
      ['{"app_key": "k-visible", "app_secret": "s3cr', /not valid JSON/],
      ['{"app_key": "k-visible"}', /app_secret/],
      ['{"app_key": "k-visible", "app_secret": ""}', /app_secret/],
      ['["k-visible"]', /\(root\)/],
      ["app_key=k-visible", /not valid JSON/],
    ];
    for (const [text, problem] of cases) {
      let caught: unknown;
      try {
        parseCredentialsSecret(text, ARN);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(SecretFormatError);
      expect((caught as Error).message).toMatch(problem);
      expect((caught as Error).message).not.toContain("k-visible");
      expect((caught as Error).cause).toBeUndefined();
    }
  });

  it("reads the credentials and the seed token pair", () => {
    expect(
      parseCredentialsSecret(
        JSON.stringify({ app_key: "k", app_secret: "s", access_token: "a", refresh_token: "r" }),
        ARN,
      ),
    ).toEqual({ appKey: "k", appSecret: "s", initialTokens: { accessToken: "a", refreshToken: "r" } });
  });
});

describe("a deployment whose secret still holds the placeholder", () => {
  let resources: TestResources;
  let secret: string;
  let now = 1_000_000;
  const reads: { forceFetch: boolean }[] = [];
  const readSecret: SecretReader = async (arn, options) => {
    expect(arn).toBe(ARN);
    reads.push(options);
    return secret;
  };
  const env = () => ({
    TIKTOK_SECRET_ARN: ARN,
    TIKTOK_SHOP_ID: "shop-1",
    TIKTOK_SHOP_CIPHER: "ROW_1",
    ...localResourceEnv({ ...resources, webhookQueueUrl: undefined }, testEndpoints()),
  });
  const saved = { ...process.env };
  beforeAll(async () => {
    resources = await createTestResources({ label: "nocfg" });
    // Powertools reads these itself: its Logger writes through the console (spied on below).
    process.env.POWERTOOLS_DEV = "true";
    process.env.POWERTOOLS_LOG_LEVEL = "INFO";
  });
  afterAll(() => {
    process.env = saved;
    resources.destroy();
  });

  it("ticks cleanly, reports it in status, refuses to sync, and picks up credentials once stored", async () => {
    secret = PLACEHOLDER;
    const app = lambdaApp("not-configured-test", { role: "tick", env: env(), readSecret, now: () => now });
    const runtime = await app.runtime();
    const log = new LogRecorder();

    // The tick: no failure (no error alarm), every known shop reported as not configured, one warning.
    const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
    const error = jest.spyOn(console, "error").mockImplementation(() => undefined);
    let results: Awaited<ReturnType<typeof runTick>>;
    let warnings: unknown[][];
    let errors: unknown[][];
    try {
      results = await runTick(runtime);
    } finally {
      // mockRestore clears the recorded calls: keep them first.
      warnings = [...warn.mock.calls];
      errors = [...error.mock.calls];
      warn.mockRestore();
      error.mockRestore();
    }
    expect(tickFailure(results)).toBeUndefined();
    expect(results).toEqual([{ shopId: "shop-1", authId: "default", notConfigured: true }]);
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(String(warnings[0]?.[0]))).toMatchObject({
      level: "WARN",
      message: expect.stringContaining("not configured"),
      reason: expect.stringContaining(ARN),
    });
    expect(errors).toEqual([]);

    const api = makeApiHandler({ service: createSyncService(runtime), log });
    const status = await api(event("GET", "/api/sync/status"));
    expect(status.statusCode).toBe(200);
    const body = JSON.parse(status.body ?? "{}");
    expect(body).toMatchObject({ configured: false, not_configured_reason: expect.stringContaining(ARN) });
    expect(body.shops).toEqual([
      expect.objectContaining({
        shop_id: "shop-1",
        configured: false,
        not_configured_reason: expect.any(String),
      }),
    ]);
    for (const path of ["/api/sync/orders", "/api/sync/orders/full"]) {
      const refused = await api(event("POST", path));
      expect(refused.statusCode).toBe(503);
      expect(JSON.parse(refused.body ?? "{}")).toEqual({
        error: { code: "not_configured", message: expect.stringContaining("not configured") },
      });
    }

    // Within the re-check period the answer is reused; after it the secret is read again, uncached.
    secret = JSON.stringify({ app_key: "key", app_secret: "secret" });
    expect((await app.runtime()).configuration()).toMatchObject({ configured: false });
    now += 61_000;
    const configured = await app.runtime();
    expect(configured.configuration()).toEqual({ configured: true });
    expect(reads.at(-1)).toEqual({ forceFetch: true });
    const later = await api(event("GET", "/api/sync/status"));
    expect(JSON.parse(later.body ?? "{}").configured).toBe(false); // the old service's runtime
    const fresh = makeApiHandler({ service: createSyncService(configured), log });
    const freshBody = JSON.parse((await fresh(event("GET", "/api/sync/status"))).body ?? "{}");
    expect(freshBody.configured).toBeUndefined();
    expect(freshBody.shops[0]).toMatchObject({ shop_id: "shop-1", configured: true });
    app.close();
  });

  it("fails the worker clearly: it only runs jobs of a configured deployment", async () => {
    secret = PLACEHOLDER;
    const app = lambdaApp("not-configured-worker", { role: "worker", env: env(), readSecret });
    await expect(app.fullResync()).rejects.toBeInstanceOf(CredentialsNotConfiguredError);
    app.close();
  });

  it("fails every function on a malformed secret, without quoting it", async () => {
    secret = '{"app_key": "visible-key"';
    const app = lambdaApp("malformed-test", { role: "tick", env: env(), readSecret });
    const error = await app.runtime().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SecretFormatError);
    expect((error as Error).message).not.toContain("visible-key");
    app.close();
  });
});
