/**
 * The tick and the API inside their remaining time (DESIGN "Lambda execution model"), driven by fake
 * Lambda contexts with little time left against the TikTok emulator's slow answers: an incremental run
 * stops between pages with its checkpoint kept, a first sync's planning stops probing in time and
 * leaves the rest to the workers, and a sync request over several shops answers 202 in time with what
 * happened to each shop. Nothing is lost: later runs finish and the tables equal the emulator's truth.
 */
import { startHttpApi } from "../../infra/local/http-server";
import { createSyncService } from "../../shared/app/service";
import { runTick, tickDeadline } from "../../shared/app/tick";
import { makeApiHandler } from "../../shared/http/api";
import { getJobProgress } from "../../shared/sync/full-resync/progress";
import { type MultiShopHarness, startMultiShopHarness } from "../support/multi-shop-harness";
import { type SyncHarness, startSyncHarness } from "../support/sync-harness";

/** A Lambda context with `ms` left from now (what the tick's handler receives). */
function contextWith(ms: number) {
  const end = Date.now() + ms;
  return { getRemainingTimeInMillis: () => Math.max(0, end - Date.now()) };
}

describe("an incremental tick with little time left", () => {
  let harness: SyncHarness;
  beforeAll(async () => {
    harness = await startSyncHarness({
      label: "ticktime",
      emulator: { shops: [{ id: "shop-1", orders: 200 }] },
    });
    // A cursor at the epoch: the run pages through every order (2 pages).
    await harness.runtime.state.setCursorIfMissing(harness.shopId, 0);
  });
  afterAll(() => harness.close());

  it("stops between pages, keeps its checkpoint, and the next tick finishes", async () => {
    // 11 s of deadline (14 s less the 3 s end margin): the first page starts (≥ 9 s left), it takes
    // over 2.5 s, so the second one no longer may.
    harness.emulator.configure({ latencyMs: 2_500 });
    const context = contextWith(14_000);
    const [first] = await runTick(harness.runtime, { deadline: tickDeadline(context) });
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(first?.error).toBeUndefined();
    expect(first?.outcome?.status).toBe("deadline");
    // It stopped between pages: one page was read and committed, the other was left.
    expect(first?.outcome).toMatchObject({ counts: { pages: 1, inserted: 100 } });
    const checkpoint = await harness.runtime.state.getCheckpoint(harness.shopId);
    expect(checkpoint?.position).toBeGreaterThan(0);
    // Lag is reported for a paused run too.
    expect(harness.metrics.points.some((point) => point.name === "SyncLagSeconds")).toBe(true);

    harness.emulator.configure({ latencyMs: 0 });
    const [second] = await runTick(harness.runtime, { deadline: tickDeadline(contextWith(90_000)) });
    expect(second?.outcome?.status).toBe("completed");
    expect(await harness.diff()).toMatchObject({ missing: [], stale: [] });
  });
});

describe("a first sync planned inside a tick with slow probes", () => {
  let harness: MultiShopHarness;
  beforeAll(async () => {
    harness = await startMultiShopHarness({
      label: "plantime",
      shops: [{ id: "shop-plan", orders: 300 }],
      // Windows of at most 100 orders: sizing 300 takes the total and two rounds of probes.
      env: { TIKTOK_RESULT_CAP: "100", TIKTOK_SHOPS: "shop-plan" },
    });
  });
  afterAll(() => harness.close());

  it("stops probing in time, leaves unsized windows to the workers, and the job completes", async () => {
    // A planner that sizes windows by probes (by default it makes no call: nothing to cut short).
    const { runtime, workerDeps } = harness.newRuntime({}, {}, { maxProbes: 200 });
    // The shop's cipher is asked of TikTok once (then kept in META): not part of the timing below.
    await runtime.shops.open("shop-plan");
    // 3.5 s per probe. 15 s of context: 12 s of deadline (planning may start, ≥ 9 s left), probes
    // until 5 s before it, so 7 s: the total fits, the first round of halving starts with < 3.5 s
    // left (and ≥ 1.5 s, unless the tick took 2 s to reach the planner) and is cut.
    harness.emulator.configure({ latencyMs: 3_500 });
    const context = contextWith(15_000);
    const [result] = await runTick(runtime, { deadline: tickDeadline(context) });
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(result?.error).toBeUndefined();
    expect(result?.outcome?.status).toBe("full-sync-started");
    // A probe ran out of time: its range went to a worker unsized.
    const cut = harness.log.lines.filter(
      (line) =>
        line.message.startsWith("planning probe failed") && line.fields?.error === "DeadlineExceededError",
    );
    expect(cut.length).toBeGreaterThan(0);

    harness.emulator.configure({ latencyMs: 0 });
    harness.startWorkers(workerDeps);
    const deadline = Date.now() + 180_000;
    for (;;) {
      const progress = await getJobProgress(workerDeps, "shop-plan");
      if (progress?.status === "COMPLETED") {
        expect(progress.orders).toBe(300);
        // The unsized range was split by its worker on its first page.
        expect(progress.splits).toBeGreaterThan(0);
        break;
      }
      expect(progress?.status).toBe("RUNNING");
      if (Date.now() > deadline) throw new Error(`job not completed: ${JSON.stringify(progress)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(await harness.diff("shop-plan")).toMatchObject({ missing: [], stale: [] });
  });
});

describe("a sync request over several shops with little time left", () => {
  let harness: MultiShopHarness;
  // The API runs four shops at once: the fifth waits for a slot.
  const shopIds = ["s-1", "s-2", "s-3", "s-4", "s-5"];
  beforeAll(async () => {
    harness = await startMultiShopHarness({
      label: "apitime",
      shops: shopIds.map((id) => ({ id, orders: 150 })),
      env: { TIKTOK_SHOPS: shopIds.join(",") },
    });
  });
  afterAll(() => harness.close());

  it("answers 202 in time, saying per shop what happened; later runs finish every shop", async () => {
    const { runtime } = harness.newRuntime();
    for (const shopId of shopIds) await runtime.state.setCursorIfMissing(shopId, 0);
    // 10.5 s of deadline (12.5 s less the 2 s margin): a shop starts, and starts a page, only with
    // ≥ 9 s left. A page takes over 2 s: each shop reads one of its two pages, the fifth gets no turn.
    harness.emulator.configure({ latencyMs: 2_000 });
    const timeoutMs = 12_500;
    const api = await startHttpApi(
      makeApiHandler({ service: createSyncService(runtime), log: harness.log }),
      {
        port: 0,
        functionTimeoutMs: timeoutMs,
      },
    );
    try {
      const started = Date.now();
      const response = await fetch(`${api.url}/api/sync/orders`, { method: "POST" });
      expect(Date.now() - started).toBeLessThan(timeoutMs);
      expect(response.status).toBe(202);
      const body = (await response.json()) as { shops: { shop_id: string; status: string }[] };
      expect(body.shops.map((entry) => entry.shop_id).sort()).toEqual(shopIds);
      const statuses = body.shops.map((entry) => entry.status);
      for (const status of statuses) expect(["completed", "continuing", "not_reached"]).toContain(status);
      // Four shops run at once and none fits in the time: they continue, the last one is not reached.
      expect(statuses).toContain("continuing");
      expect(statuses).toContain("not_reached");
    } finally {
      await api.close();
    }

    harness.emulator.configure({ latencyMs: 0 });
    await Promise.all(
      shopIds.map(async (shopId) => {
        expect((await runtime.incremental(shopId)).status).toBe("completed");
        expect(await harness.diff(shopId)).toMatchObject({ missing: [], stale: [] });
      }),
    );
  });
});
