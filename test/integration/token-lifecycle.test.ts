/**
 * The token lifecycle across shops of different authorizations (issue 10), end to end against the TikTok
 * emulator (which enforces expiry, rotation and revocation) and DynamoDB Local:
 * a transient refresh failure keeps the old pair and is retried; 36004005 / 36004001 flag the
 * authorization `needs_reauth` (status, metrics), its shop makes no further TikTok call while the other
 * shop keeps syncing; `npm run reauth` (auth code, or a pair) installs a new pair and the shop resumes.
 */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { runReauthCli } from "../../infra/local/reauth";
import type { Runtime } from "../../shared/app/runtime";
import { createSyncService } from "../../shared/app/service";
import { runTick, type TickShopResult } from "../../shared/app/tick";
import { makeApiHandler } from "../../shared/http/api";
import { MetricName } from "../../shared/observability/metric-names";
import type { FullResyncDeps } from "../../shared/sync/full-resync/deps";
import { TikTokReauthRequiredError, TokenRefreshFailedError } from "../../shared/tiktok/api-errors";
import { testEndpoints } from "../support/local-aws";
import { type MultiShopHarness, startMultiShopHarness } from "../support/multi-shop-harness";

const A = "shop-a";
const B = "shop-b";

let harness: MultiShopHarness;
let runtime: Runtime;
let workerDeps: FullResyncDeps;

beforeAll(async () => {
  harness = await startMultiShopHarness({
    label: "lifecycle",
    shops: [
      { id: A, orders: 200 },
      { id: B, orders: 200 },
    ],
    // Two sellers: each authorization covers one shop; B's refresh token lives one hour.
    authorizations: (emulator) => {
      const a = emulator.issueTokens({ shopIds: [A] });
      const b = emulator.issueTokens({ shopIds: [B], refreshTokenTtlSeconds: 3_600 });
      return [
        { authId: "seller-a", initialTokens: { accessToken: a.access_token, refreshToken: a.refresh_token } },
        { authId: "seller-b", initialTokens: { accessToken: b.access_token, refreshToken: b.refresh_token } },
      ];
    },
    // Configured list without ciphers: each is looked up with its own authorization's token.
    env: { TIKTOK_SHOPS: `${A}@seller-a,${B}@seller-b` },
  });
  ({ runtime, workerDeps } = harness.newRuntime());
  for (const shopId of [A, B]) await runtime.state.setCursorIfMissing(shopId, 0);
});
afterAll(() => harness.close());

const byShop = (results: TickShopResult[], shopId: string) =>
  results.find((result) => result.shopId === shopId);

async function tick() {
  harness.emulator.mutate({ shopId: A, count: 3 });
  harness.emulator.mutate({ shopId: B, count: 3 });
  // Settle is 0 in these tests: step past the mutations' second so this tick's window (`< now`) holds them.
  harness.advance(1);
  return runTick(runtime);
}

async function api(method: "GET" | "POST", path: string, query?: Record<string, string>) {
  const handler = makeApiHandler({ service: createSyncService(runtime), log: harness.log });
  const response = await handler({
    rawPath: path,
    requestContext: { http: { method, path } },
    ...(query ? { queryStringParameters: query } : {}),
  } as unknown as APIGatewayProxyEventV2);
  return { statusCode: response.statusCode, body: JSON.parse(String(response.body)) };
}

const status = (query?: Record<string, string>) => api("GET", "/api/sync/status", query);

async function reauth(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runReauthCli(
    argv,
    {
      ...harness.env,
      DYNAMODB_ENDPOINT: testEndpoints().dynamodbEndpoint,
      LOCAL_DATA_DIR: "/nonexistent-tss-test",
    },
    { out: (line) => out.push(line), err: (line) => err.push(line) },
  );
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function expectEqualToTruth(shopId: string) {
  const diff = await harness.diff(shopId);
  expect({ missing: diff.missing, stale: diff.stale, extra: diff.extra }).toEqual({
    missing: [],
    stale: [],
    extra: [],
  });
}

describe("token lifecycle across authorizations", () => {
  it("syncs both shops, each with its authorization's own TOKEN item", async () => {
    const results = await tick();
    expect(byShop(results, A)?.outcome?.status).toBe("completed");
    expect(byShop(results, B)?.outcome?.status).toBe("completed");
    expect((await runtime.tokenRepository.get("seller-a"))?.version).toBe(1);
    expect((await runtime.tokenRepository.get("seller-b"))?.version).toBe(1);
    await expectEqualToTruth(A);
    await expectEqualToTruth(B);
  });

  it("a failing refresh keeps the old pair, is retried with backoff, raises TokenRefreshFailed; then recovers", async () => {
    const before = await runtime.tokenRepository.get("seller-a");
    harness.emulator.expireAccessTokens({ shopId: A });
    harness.emulator.failNext({ count: 3, endpoint: "tokenRefresh", fault: "http500" });
    const seq = harness.emulator.lastRequestSeq();

    const results = await tick();
    expect(byShop(results, A)?.error).toBeInstanceOf(TokenRefreshFailedError);
    expect(byShop(results, B)?.outcome?.status).toBe("completed");
    const refreshes = harness.emulator
      .requests({ afterSeq: seq })
      .filter((entry) => entry.endpoint === "tokenRefresh");
    expect(refreshes.map((entry) => entry.outcome)).toEqual(["serverError", "serverError", "serverError"]);
    const kept = await runtime.tokenRepository.get("seller-a");
    expect(kept).toMatchObject({
      version: 1,
      accessToken: before?.accessToken,
      refreshToken: before?.refreshToken,
    });
    expect(kept?.needsReauth).toBeUndefined();
    expect(kept?.refreshingBy).toBeUndefined();
    expect(harness.metrics.sum(MetricName.TokenRefreshFailed, A)).toBe(1);
    expect(harness.metrics.sum(MetricName.TokenRefreshFailed, B)).toBe(0);

    const next = await tick();
    expect(byShop(next, A)?.outcome?.status).toBe("completed");
    expect((await runtime.tokenRepository.get("seller-a"))?.version).toBe(2);
  });

  it("36004005 flags needs_reauth: status and alarms say so, the shop makes no calls, the other keeps syncing", async () => {
    expect(harness.emulator.revokeRefreshTokensOf(A)).toBeGreaterThanOrEqual(1);
    harness.emulator.expireAccessTokens({ shopId: A });
    const results = await tick();
    expect(byShop(results, A)).toMatchObject({ needsReauth: true, authId: "seller-a" });
    expect(byShop(results, A)?.error).toBeUndefined();
    expect(byShop(results, B)?.outcome?.status).toBe("completed");
    expect(await runtime.tokenRepository.get("seller-a")).toMatchObject({ needsReauth: true });
    expect(harness.metrics.sum(MetricName.TokenRefreshFailed, A)).toBe(2);
    expect(harness.metrics.last(MetricName.NeedsReauth, A)).toBe(1);
    expect(harness.metrics.last(MetricName.NeedsReauth, B)).toBe(0);

    const all = await status();
    expect(all.statusCode).toBe(200);
    const entry = (shopId: string) =>
      (all.body.shops as { shop_id: string; token: Record<string, unknown> }[]).find(
        (shop) => shop.shop_id === shopId,
      );
    expect(entry(A)?.token).toMatchObject({
      authorization: "seller-a",
      needs_reauth: true,
      reauth_command: expect.stringContaining("npm run reauth -- --auth seller-a"),
    });
    expect(entry(B)?.token).toMatchObject({ authorization: "seller-b", needs_reauth: false });
    expect(JSON.stringify(all.body)).not.toContain(
      String((await runtime.tokenRepository.get("seller-a"))?.accessToken),
    );
    const one = await status({ shop_id: B });
    expect(one.body.shops).toHaveLength(1);
    const unknown = await status({ shop_id: "shop-zzz" });
    expect(unknown).toEqual({
      statusCode: 404,
      body: { error: expect.objectContaining({ code: "unknown_shop" }) },
    });

    // From now on: not one request concerning shop A, from this container or another one.
    const seq = harness.emulator.lastRequestSeq();
    for (let round = 0; round < 2; round++) {
      const again = await tick();
      expect(byShop(again, A)?.needsReauth).toBe(true);
      expect(byShop(again, B)?.outcome?.status).toBe("completed");
    }
    const other = harness.newRuntime().runtime;
    await expect(other.incremental(A)).rejects.toBeInstanceOf(TikTokReauthRequiredError);
    expect(harness.emulator.requests({ afterSeq: seq, shopId: A })).toEqual([]);
    expect(harness.emulator.requests({ afterSeq: seq, shopId: B }).length).toBeGreaterThanOrEqual(2);
    await expectEqualToTruth(B);
  });

  it("npm run reauth exchanges a new auth code for the shop's authorization; the shop resumes", async () => {
    expect((await reauth(["--shop", "shop-zzz", "--auth-code", "x"])).code).toBe(2);
    expect((await reauth(["--shop", A])).code).toBe(2);
    const refused = await reauth(["--shop", A, "--auth-code", "not-a-code"]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("36004005");

    const authCode = harness.emulator.createAuthCode({ shopIds: [A] });
    const installed = await reauth(["--shop", A, "--auth-code", authCode]);
    expect(installed.err).toBe("");
    expect(installed.code).toBe(0);
    expect(installed.out).toContain("authorization seller-a");
    const stored = await runtime.tokenRepository.get("seller-a");
    expect(stored?.needsReauth).toBeUndefined();
    expect(stored?.version).toBe(3);
    expect(installed.out).not.toContain(String(stored?.accessToken));
    expect(installed.out).not.toContain(String(stored?.refreshToken));

    const results = await tick();
    expect(byShop(results, A)?.outcome?.status).toBe("completed");
    expect(byShop(results, B)?.outcome?.status).toBe("completed");
    expect(harness.metrics.last(MetricName.NeedsReauth, A)).toBe(0);
    await expectEqualToTruth(A);
    await expectEqualToTruth(B);
  });

  it("36004001 (refresh token expired) flags the other authorization; a directly installed pair resumes it", async () => {
    harness.advance(4_000); // past seller-b's one-hour refresh token
    harness.emulator.expireAccessTokens({ shopId: B });
    const results = await tick();
    expect(byShop(results, B)?.needsReauth).toBe(true);
    expect(String((await runtime.tokenRepository.get("seller-b"))?.reauthReason)).toContain("expired");
    expect(byShop(results, A)?.outcome?.status).toBe("completed");

    const tokens = harness.emulator.issueTokens({ shopIds: [B] });
    const installed = await reauth([
      "--auth",
      "seller-b",
      "--access-token",
      tokens.access_token,
      "--refresh-token",
      tokens.refresh_token,
      "--expires-at",
      String(tokens.access_token_expire_in),
    ]);
    expect(installed.code).toBe(0);
    const next = await tick();
    expect(byShop(next, A)?.outcome?.status).toBe("completed");
    expect(byShop(next, B)?.outcome?.status).toBe("completed");
    await expectEqualToTruth(A);
    await expectEqualToTruth(B);
  });

  it("without shop_id, sync requests target every shop and answer {shops: [...]}, one entry per shop", async () => {
    harness.advance(1);
    const now = await api("POST", "/api/sync/orders");
    expect(now.statusCode).toBe(202);
    expect(now.body.shops).toEqual([
      expect.objectContaining({ shop_id: A, sync_type: "incremental", status: "completed" }),
      expect.objectContaining({ shop_id: B, sync_type: "incremental", status: "completed" }),
    ]);
    const full = await api("POST", "/api/sync/orders/full");
    expect(full.statusCode).toBe(202);
    expect(full.body.shops).toEqual([
      expect.objectContaining({ shop_id: A, job_id: expect.any(String), sync_type: "full" }),
      expect.objectContaining({ shop_id: B, job_id: expect.any(String), sync_type: "full" }),
    ]);
    const again = await api("POST", "/api/sync/orders/full");
    expect(again.statusCode).toBe(202);
    expect(again.body.shops).toEqual([
      {
        shop_id: A,
        error: expect.objectContaining({
          status: 409,
          code: "job_already_running",
          job_id: full.body.shops[0].job_id,
        }),
      },
      {
        shop_id: B,
        error: expect.objectContaining({
          status: 409,
          code: "job_already_running",
          job_id: full.body.shops[1].job_id,
        }),
      },
    ]);
    const one = await api("POST", "/api/sync/orders/full", { shop_id: A });
    expect(one).toMatchObject({ statusCode: 409, body: { error: { code: "job_already_running" } } });
    const cancel = await api("POST", `/api/sync/jobs/${full.body.shops[0].job_id}/cancel`);
    expect(cancel).toMatchObject({ statusCode: 400, body: { error: { code: "shop_id_required" } } });
    const cancelled = await api("POST", `/api/sync/jobs/${full.body.shops[0].job_id}/cancel`, { shop_id: A });
    expect(cancelled.statusCode).toBe(200);
  });

  it("full-resync pages of a shop that needs re-authorizing are parked, not retried into the DLQ", async () => {
    // Shop B's job from the previous test is still open; its authorization now goes away.
    harness.emulator.revokeRefreshTokensOf(B);
    harness.emulator.expireAccessTokens({ shopId: B });
    expect(byShop(await tick(), B)?.needsReauth).toBe(true);
    const seq = harness.emulator.lastRequestSeq();
    const poller = harness.startWorkers(workerDeps, 2);
    try {
      const deadline = Date.now() + 60_000;
      while (
        !harness.log.lines.some((line) => line.message === "page parked until the shop is re-authorized")
      ) {
        if (Date.now() > deadline) throw new Error("no page was parked");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await poller.stop();
    }
    expect(harness.emulator.requests({ afterSeq: seq, shopId: B })).toEqual([]);
    const job = await runtime.fullResync?.progress(B);
    expect(job).toMatchObject({ status: "RUNNING" });
    expect(job?.windows).toMatchObject({ failed: 0 });
  });
});
