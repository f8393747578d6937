/**
 * One request budget per shop across every function (issue 15): the tick, the API and the workers run as
 * separate runtimes (separate Lambda containers on AWS, each with its own limiter) against one shop at the
 * same time. The TikTok emulator enforces the shop's budget as a token bucket refilled at TIKTOK_MAX_RPS
 * and holding one request per limiter: independent limiters that each conform to (rate r, burst 1)
 * together conform to (Σr, number of limiters), so with shares adding up to the budget the emulator must
 * never refuse a request. (With the tick and the API each at the whole budget, as before, it refuses
 * many: checked by hand when this test was written.)
 */
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { createSyncService } from "../../shared/app/service";
import { runTick } from "../../shared/app/tick";
import { makeApiHandler } from "../../shared/http/api";
import { stateKeys } from "../../shared/store/keys";
import type { FullResyncDeps } from "../../shared/sync/full-resync/deps";
import { getJobProgress } from "../../shared/sync/full-resync/progress";
import { RATE_SHARES, rateShareFor } from "../../shared/tiktok/rate-budget";
import { type MultiShopHarness, startMultiShopHarness } from "../support/multi-shop-harness";

const BUDGET_RPS = 4;
const WORKERS = 3;
const SHOP = "shop-budget";

async function waitForCompleted(deps: FullResyncDeps, jobId?: string) {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const progress = await getJobProgress(deps, SHOP, jobId);
    if (progress?.status === "COMPLETED") return progress;
    if (Date.now() > deadline) throw new Error(`job not completed in time: ${JSON.stringify(progress)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe("one shop's request budget shared by tick, API and workers", () => {
  let harness: MultiShopHarness;
  beforeAll(async () => {
    harness = await startMultiShopHarness({
      label: "ratebudget",
      shops: [{ id: SHOP, orders: 800 }],
      env: {
        TIKTOK_MAX_RPS: String(BUDGET_RPS),
        WORKER_CONCURRENCY: String(WORKERS),
        TIKTOK_SHOPS: SHOP,
      },
    });
  });
  afterAll(() => harness.close());

  it("never exceeds the budget while all three work on the shop at once", async () => {
    expect(RATE_SHARES.tick + RATE_SHARES.api + RATE_SHARES.workers).toBeLessThanOrEqual(1);
    /** When each role sent its search requests (real time), to show they really overlapped. */
    const sent: Record<string, number[]> = { tick: [], api: [], worker: [] };
    const timed =
      (role: "tick" | "api" | "worker"): typeof fetch =>
      (input, init) => {
        if (String(input).includes("/orders/search")) sent[role]?.push(Date.now());
        return fetch(input, init);
      };
    const runtimeFor = (role: "tick" | "api" | "worker") =>
      harness.newRuntime({ rateShare: rateShareFor(role, WORKERS), fetch: timed(role) });
    const tick = runtimeFor("tick");
    const api = runtimeFor("api");
    const workers = Array.from({ length: WORKERS }, () => runtimeFor("worker"));
    expect(tick.runtime.shopRps()).toBeCloseTo(BUDGET_RPS * RATE_SHARES.tick);
    expect(api.runtime.shopRps()).toBeCloseTo(BUDGET_RPS * RATE_SHARES.api);
    expect(workers[0]?.runtime.shopRps()).toBeCloseTo((BUDGET_RPS * RATE_SHARES.workers) / WORKERS);
    for (const worker of workers) harness.startWorkers(worker.workerDeps, 1);

    // Warm-up: the first sync stores every order. Pages of unchanged orders then cost a read, not
    // writes, so the limiters (not DynamoDB Local) pace each role below.
    const [first] = await runTick(tick.runtime);
    expect(first?.outcome?.status).toBe("full-sync-started");
    await waitForCompleted(api.workerDeps);
    // Rewind the cursor: the next tick pages through the whole history again.
    await harness.resources.documents.send(
      new UpdateCommand({
        TableName: harness.resources.stateTable,
        Key: { pk: stateKeys.shop(SHOP), sk: stateKeys.meta },
        UpdateExpression: "SET #cursor = :zero",
        ExpressionAttributeNames: { "#cursor": "cursor" },
        ExpressionAttributeValues: { ":zero": 0 },
      }),
    );
    const limiters = 2 + WORKERS;
    harness.emulator.configure({ qps: BUDGET_RPS, burst: limiters });
    harness.emulator.resetCounters();
    const firstSeq = harness.emulator.lastRequestSeq();
    for (const times of Object.values(sent)) times.length = 0;

    // The tick re-reads 8 pages while the API plans a second full resync that the workers page.
    const ticking = runTick(tick.runtime);
    const handler = makeApiHandler({ service: createSyncService(api.runtime), log: harness.log });
    const answer = await handler({
      version: "2.0",
      routeKey: "$default",
      rawPath: "/api/sync/orders/full",
      rawQueryString: "",
      headers: {},
      isBase64Encoded: false,
      requestContext: { http: { method: "POST", path: "/api/sync/orders/full" } },
    } as never);
    expect(answer.statusCode).toBe(202);
    const jobId = JSON.parse(answer.body ?? "{}").job_id as string;
    const [second] = await ticking;
    expect(second?.outcome?.status).toBe("completed");
    await waitForCompleted(api.workerDeps, jobId);

    const requests = harness.emulator.requests({ afterSeq: firstSeq, shopId: SHOP });
    expect(requests.length).toBeGreaterThan(15);
    // The emulator, enforcing the budget, never had to refuse one.
    expect(requests.filter((request) => request.outcome === "rateLimited")).toEqual([]);
    expect(harness.emulator.counters().byOutcome.rateLimited).toBe(0);
    // Over the whole run the shop saw at most its budget (plus the limiters' one-request bursts).
    const seconds = (requests.at(-1)?.at ?? 0) - (requests[0]?.at ?? 0) + 1;
    expect(requests.length).toBeLessThanOrEqual(BUDGET_RPS * seconds + limiters);
    // The tick ran beside the API's probes and beside the workers.
    const tickTimes = sent.tick ?? [];
    const during = (times: number[] | undefined) =>
      (times ?? []).filter((time) => time >= Math.min(...tickTimes) && time <= Math.max(...tickTimes)).length;
    expect(during(sent.api)).toBeGreaterThan(0);
    expect(during(sent.worker)).toBeGreaterThan(0);
    expect(await harness.diff(SHOP)).toMatchObject({ missing: [], stale: [] });
  });
});
