/**
 * One request budget per shop across every function (issue 15): the tick, the API and the workers run as
 * separate runtimes (separate Lambda containers on AWS, each with its own limiter) against one shop at the
 * same time. The TikTok emulator enforces the shop's budget as a token bucket refilled at TIKTOK_MAX_RPS
 * and holding one request per limiter: independent limiters that each conform to (rate r, burst 1)
 * together conform to (Σr, number of limiters), so with shares adding up to the budget the emulator must
 * never refuse a request. Each runtime's own pace is checked too: none ever sends faster than its
 * share. That check fails at once for a share too big (the tick and the API each at the whole budget,
 * as before: checked by hand), where the emulator's alone may not — a loaded DynamoDB Local can pace
 * a too-fast tick below the budget over a run this short.
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

/**
 * The most requests `times` (sorted, ms) hold beyond what a limiter of `rps` with a burst of one
 * allows: any k + 1 consecutive requests must span at least k / rps seconds. 0 when it conforms
 * (`slackMs` absorbs timer rounding).
 */
function excessOver(times: readonly number[], rps: number, slackMs = 25): number {
  let excess = 0;
  for (let first = 0; first < times.length; first++) {
    for (let last = first + 1; last < times.length; last++) {
      const spanMs = (times[last] as number) - (times[first] as number) + slackMs;
      excess = Math.max(excess, last - first - Math.floor((spanMs / 1000) * rps));
    }
  }
  return excess;
}

describe("one shop's request budget shared by tick, API and workers", () => {
  let harness: MultiShopHarness;
  beforeAll(async () => {
    harness = await startMultiShopHarness({
      label: "ratebudget",
      // No same-second bursts: windows of at most 200 orders (the result cap below) can always be cut.
      shops: [{ id: SHOP, orders: 600, burstFraction: 0 }],
      env: {
        TIKTOK_MAX_RPS: String(BUDGET_RPS),
        WORKER_CONCURRENCY: String(WORKERS),
        // Windows of at most 200 orders: the API's resync runs as several windows, one per worker.
        TIKTOK_RESULT_CAP: "200",
        TIKTOK_SHOPS: SHOP,
      },
    });
  });
  afterAll(() => harness.close());

  it("never exceeds the budget while all three work on the shop at once", async () => {
    // Every role's share, push's included (issue 18), adds up to the budget at most.
    expect(RATE_SHARES.tick + RATE_SHARES.api + RATE_SHARES.push + RATE_SHARES.workers).toBeLessThanOrEqual(
      1,
    );
    type Role = "tick" | "api" | "worker";
    /** When each runtime (a Lambda container) sent its search requests (real time). */
    const sent = new Map<string, { role: Role; times: number[] }>();
    const runtimeFor = (role: Role, name: string = role) => {
      const times: number[] = [];
      sent.set(name, { role, times });
      const timed: typeof fetch = (input, init) => {
        if (String(input).includes("/orders/search")) times.push(Date.now());
        return fetch(input, init);
      };
      // The API's planner sizes the windows by probes (maxProbes; by default it makes no call and the
      // workers' first pages size them): so it, too, sends requests beside the tick and the workers.
      return harness.newRuntime(
        { rateShare: rateShareFor(role, WORKERS), fetch: timed },
        {},
        role === "api" ? { maxProbes: 200 } : {},
      );
    };
    const sentBy = (role: Role) =>
      [...sent.values()]
        .filter((entry) => entry.role === role)
        .flatMap((entry) => entry.times)
        .sort((a, b) => a - b);
    const tick = runtimeFor("tick");
    const api = runtimeFor("api");
    const workers = Array.from({ length: WORKERS }, (_, index) => runtimeFor("worker", `worker-${index}`));
    expect(tick.runtime.shops.rps()).toBeCloseTo(BUDGET_RPS * RATE_SHARES.tick);
    expect(api.runtime.shops.rps()).toBeCloseTo(BUDGET_RPS * RATE_SHARES.api);
    expect(workers[0]?.runtime.shops.rps()).toBeCloseTo((BUDGET_RPS * RATE_SHARES.workers) / WORKERS);

    // Warm-up, at full speed (a runtime with no budget to share): an incremental run from the epoch
    // stores every order. Pages of unchanged orders then cost a read, not writes, so the limiters (not
    // DynamoDB Local) pace each role below.
    const warmUp = harness.newRuntime({}, { TIKTOK_MAX_RPS: "1000" }).runtime;
    await warmUp.state.setCursorIfMissing(SHOP, 0);
    expect((await warmUp.incremental(SHOP)).status).toBe("completed");
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
    for (const worker of workers) harness.startWorkers(worker.workerDeps, 1);
    const limiters = 2 + WORKERS;
    harness.emulator.configure({ qps: BUDGET_RPS, burst: limiters });
    harness.emulator.resetCounters();
    const firstSeq = harness.emulator.lastRequestSeq();

    // The tick re-reads the whole history (7 pages from a cursor at the epoch) while the API plans a
    // full resync of the orders' 90 days (4 probes) that the workers page (4 windows).
    const ticking = runTick(tick.runtime);
    const handler = makeApiHandler({ service: createSyncService(api.runtime), log: harness.log });
    const from = new Date((harness.emulator.now() - 91 * 86_400) * 1000).toISOString();
    const answer = await handler({
      version: "2.0",
      routeKey: "$default",
      rawPath: "/api/sync/orders/full",
      rawQueryString: "",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ from }),
      isBase64Encoded: false,
      requestContext: { http: { method: "POST", path: "/api/sync/orders/full" } },
    } as never);
    expect(answer.statusCode).toBe(202);
    const jobId = JSON.parse(answer.body ?? "{}").job_id as string;
    const [second] = await ticking;
    expect(second?.outcome?.status).toBe("completed");
    const job = await waitForCompleted(api.workerDeps, jobId);
    expect(job).toMatchObject({ orders: 600, throttled: 0 });
    expect(job.windows.total).toBeGreaterThanOrEqual(WORKERS);

    const requests = harness.emulator.requests({ afterSeq: firstSeq, shopId: SHOP });
    expect(requests.length).toBeGreaterThan(15);
    // The emulator, enforcing the budget, never had to refuse one.
    expect(requests.filter((request) => request.outcome === "rateLimited")).toEqual([]);
    expect(harness.emulator.counters().byOutcome.rateLimited).toBe(0);
    // Over the whole run the shop saw at most its budget (plus the limiters' one-request bursts).
    const seconds = (requests.at(-1)?.at ?? 0) - (requests[0]?.at ?? 0) + 1;
    expect(requests.length).toBeLessThanOrEqual(BUDGET_RPS * seconds + limiters);
    // No runtime ever sent faster than its share (a bigger share fails here even when DynamoDB
    // Local is too slow to let the sum exceed the emulator's budget).
    for (const [name, { role, times }] of sent) {
      expect({ name, excess: excessOver(times, BUDGET_RPS * rateShareFor(role, WORKERS)) }).toEqual({
        name,
        excess: 0,
      });
    }
    // The tick ran beside the API's probes and beside the workers, all three workers paged.
    const tickTimes = sentBy("tick");
    const during = (times: number[]) =>
      times.filter((time) => time >= Math.min(...tickTimes) && time <= Math.max(...tickTimes)).length;
    expect(during(sentBy("api"))).toBeGreaterThan(0);
    expect(during(sentBy("worker"))).toBeGreaterThan(0);
    for (let index = 0; index < WORKERS; index++)
      expect(sent.get(`worker-${index}`)?.times.length).toBeGreaterThan(0);
    expect(await harness.diff(SHOP)).toMatchObject({ missing: [], stale: [] });
  });
});
