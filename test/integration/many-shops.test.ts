/**
 * Many shops in one deployment (issue 10): three shops of one seller in the emulator with different
 * sizes and mutation rates, one failing half of its calls, all discovered through
 * `/authorization/202309/shops`; the access token expires mid-run. The scheduled tick keeps the two
 * healthy shops fresh while the failing one struggles, and all three end equal to the emulator's truth.
 * Then: many containers of one authorization, across its shops, on an expired token → one refresh.
 */
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { SqsPoller } from "../../infra/local/sqs-poller";
import { runTick, type TickShopResult } from "../../shared/app/tick";
import { unixSeconds } from "../../shared/clock";
import { MetricName } from "../../shared/observability/metric-names";
import { tokenKey } from "../../shared/store/token-repository";
import { type MultiShopHarness, startMultiShopHarness } from "../support/multi-shop-harness";

const SHOPS = [
  { id: "shop-small", orders: 150, updates: 2, creates: 1 },
  { id: "shop-medium", orders: 450, updates: 6, creates: 2 },
  { id: "shop-flaky", orders: 750, updates: 12, creates: 3 },
] as const;
const FLAKY = "shop-flaky";
const HEALTHY = SHOPS.map((shop) => shop.id).filter((id) => id !== FLAKY);
/** Mutation rounds (then the shops are left alone until every job completes and all match the truth). */
const MUTATION_ROUNDS = 8;
/** The round whose tick finds the access token expired. */
const EXPIRY_ROUND = 3;

/** The schedule between ticks (pacing, not synchronization: every check below waits on a condition). */
const nextTick = () => new Promise((resolve) => setTimeout(resolve, 250));

let harness: MultiShopHarness | undefined;
let poller: SqsPoller | undefined;
afterEach(async () => {
  await poller?.stop();
  poller = undefined;
  await harness?.close();
  harness = undefined;
});

describe("three shops of one seller", () => {
  it("keeps the healthy shops fresh while one fails half its calls; all end equal to truth", async () => {
    harness = await startMultiShopHarness({
      label: "shops",
      shops: SHOPS.map(({ id, orders }) => ({ id, orders })),
    });
    const { emulator } = harness;
    // About half of the flaky shop's order calls fail (5xx, resets); the others' never do.
    emulator.configure({ shopFaults: { [FLAKY]: { http500: 0.3, http504: 0.1, connectionReset: 0.1 } } });
    const { runtime, workerDeps } = harness.newRuntime();
    poller = harness.startWorkers(workerDeps, 4);

    // Discovery: the token's authorized shops, nothing configured.
    expect((await runtime.shops.list()).map((shop) => shop.shopId).sort()).toEqual(
      SHOPS.map((shop) => shop.id).sort(),
    );

    const results: TickShopResult[][] = [];
    let seqAtExpiry = 0;
    const deadline = Date.now() + 180_000;
    const jobStatus = async (shopId: string) =>
      (await runtime.fullResync?.progress(shopId))?.status as string | undefined;
    for (let round = 1; ; round++) {
      if (Date.now() > deadline) throw new Error(`jobs not completed after ${round} rounds`);
      if (round <= MUTATION_ROUNDS) {
        for (const shop of SHOPS) {
          emulator.mutate({ shopId: shop.id, count: shop.updates });
          emulator.createOrders({ shopId: shop.id, count: shop.creates });
        }
      }
      if (round === EXPIRY_ROUND) {
        seqAtExpiry = emulator.lastRequestSeq();
        expect(emulator.expireAccessTokens()).toBeGreaterThanOrEqual(1);
      }
      const tick = await runTick(runtime);
      results.push(tick);
      for (const shopId of HEALTHY) {
        const result = tick.find((entry) => entry.shopId === shopId);
        // Isolation: the flaky shop's failures never reach the others.
        expect(result?.error).toBeUndefined();
        expect(["completed", "full-sync-started", "locked"]).toContain(result?.outcome?.status);
        if (result?.outcome?.status === "completed")
          expect(result.outcome.lagSeconds).toBeLessThanOrEqual(30);
      }
      const statuses = await Promise.all(SHOPS.map((shop) => jobStatus(shop.id)));
      if (round > MUTATION_ROUNDS && statuses.every((status) => status === "COMPLETED")) break;
      // A healthy shop's job never fails. The flaky shop's first-sync planning rarely may (the job's
      // total probe failing two rounds of the client's retries, ~0.4 % here: the cursor stays unset),
      // so its next tick starts a new job: the loop's deadline catches a job that fails for good.
      SHOPS.forEach((shop, index) => {
        if ((HEALTHY as readonly string[]).includes(shop.id))
          expect(`${shop.id}: ${statuses[index]}`).not.toMatch(/FAILED$/);
      });
      await nextTick();
    }

    // The expiry mid-run cost exactly one refresh (single flight across the three shops and workers).
    const refreshes = emulator
      .requests({ afterSeq: seqAtExpiry })
      .filter((entry) => entry.endpoint === "tokenRefresh");
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0]).toMatchObject({
      outcome: "ok",
      shopIds: expect.arrayContaining(SHOPS.map((shop) => shop.id)),
    });
    expect((await runtime.tokenRepository.get("default"))?.version).toBe(2);

    // Quiet ticks until every shop equals the truth (the flaky one may need a few).
    for (;;) {
      const diffs = await Promise.all(SHOPS.map((shop) => harness?.diff(shop.id)));
      if (diffs.every((diff) => diff && diff.missing.length + diff.stale.length + diff.extra.length === 0))
        break;
      if (Date.now() > deadline + 60_000) {
        throw new Error(
          `not equal to truth: ${JSON.stringify(diffs.map((diff) => ({ missing: diff?.missing.length, stale: diff?.stale.length, extra: diff?.extra.length })))}`,
        );
      }
      const tick = await runTick(runtime);
      for (const shopId of HEALTHY)
        expect(tick.find((entry) => entry.shopId === shopId)?.error).toBeUndefined();
      await nextTick();
    }
    for (const shop of SHOPS) {
      const diff = await harness.diff(shop.id);
      expect(diff.stored).toBe(diff.expected);
      expect(diff.expected).toBeGreaterThan(shop.orders);
    }

    // The flaky shop really struggled, the healthy ones never saw a fault.
    const counters = emulator.counters();
    const failuresOf = (shopId: string) =>
      Object.values(counters.byShop[shopId] ?? {}).reduce(
        (sum, counts) => sum + counts.serverError + counts.connectionReset,
        0,
      );
    const callsOf = (shopId: string) =>
      Object.values(counters.byShop[shopId] ?? {}).reduce((sum, counts) => sum + counts.total, 0);
    // Half its calls fail (a fair coin per call): well over a quarter of them, however few it needed.
    expect(failuresOf(FLAKY)).toBeGreaterThan(Math.max(4, callsOf(FLAKY) / 4));
    for (const shopId of HEALTHY) expect(failuresOf(shopId)).toBe(0);
    // Each shop has its own metadata, cursor and job.
    for (const shop of SHOPS) {
      const meta = await runtime.state.getMeta(shop.id);
      expect(meta?.cursor).toBeGreaterThan(0);
      expect(meta?.last_run).toBeDefined();
    }
    expect(harness.metrics.sum(MetricName.TokenRefreshFailed)).toBe(0);
    expect(harness.metrics.last(MetricName.NeedsReauth, FLAKY)).toBe(0);
  });

  it("many containers hitting an expired token across the shops of one authorization refresh it once", async () => {
    harness = await startMultiShopHarness({
      label: "contention",
      shops: SHOPS.map(({ id }) => ({ id, orders: 50 })),
    });
    const { emulator } = harness;
    const containers = Array.from({ length: 8 }, () => harness?.newRuntime().runtime);
    const [first] = containers;
    // Discovery seeds the authorization's TOKEN item; then its stored expiry passes and TikTok agrees.
    expect(await first?.shops.ids()).toHaveLength(3);
    await harness.resources.documents.send(
      new UpdateCommand({
        TableName: harness.resources.stateTable,
        Key: tokenKey("default"),
        UpdateExpression: "SET accessTokenExpiresAt = :past",
        ExpressionAttributeValues: { ":past": unixSeconds(harness.clock) - 120 },
      }),
    );
    emulator.expireAccessTokens();
    const before = emulator.lastRequestSeq();

    const calls = containers.flatMap((runtime) =>
      SHOPS.map(async (shop) => {
        const built = await runtime?.shops.open(shop.id);
        if (!built) throw new Error("no runtime");
        return built.client.searchOrders({
          shopCipher: built.ref.shopCipher,
          query: { page_size: 1, sort_field: "update_time", sort_order: "ASC" },
          body: {},
        });
      }),
    );
    const pages = await Promise.all(calls);
    expect(pages).toHaveLength(24);
    const refreshes = emulator
      .requests({ afterSeq: before })
      .filter((entry) => entry.endpoint === "tokenRefresh");
    expect(refreshes).toHaveLength(1);
    const stored = await first?.tokenRepository.get("default");
    expect(stored?.version).toBe(2);
    expect(stored?.refreshingBy).toBeUndefined();
    // Every shop's searches went out with the one new token (none refused after the refresh).
    for (const shop of SHOPS) {
      expect(emulator.counters().byShop[shop.id]?.searchOrders?.ok).toBe(8);
    }
  });
});
