/**
 * Incremental sync against the TikTok emulator over HTTP and DynamoDB Local (DESIGN rules 1–7).
 * Every scenario ends by comparing DynamoDB with the emulator's truth.
 */
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { runIncrementalSync } from "../../shared/sync/incremental";
import type { OrderSearchPort } from "../../shared/sync/ports";
import { type SyncHarness, startSyncHarness } from "../support/sync-harness";

/** Starts a shop "already synced up to the beginning of time": the first run reads its whole history. */
async function seedCursor(harness: SyncHarness, cursor = 0) {
  await harness.runtime.state.setCursorIfMissing(harness.shopId, cursor);
}

async function expectEqualToTruth(harness: SyncHarness) {
  const diff = await harness.diff();
  expect({ missing: diff.missing, stale: diff.stale, extra: diff.extra }).toEqual({
    missing: [],
    stale: [],
    extra: [],
  });
  expect(diff.stored).toBe(diff.expected);
}

/** Wraps the shop's TikTok port so a test can act between pages. */
function interceptPages(
  shop: Awaited<ReturnType<SyncHarness["runtime"]["shops"]["open"]>>,
  afterPage: (pageNumber: number) => void | Promise<void>,
): OrderSearchPort {
  let pages = 0;
  return {
    async searchOrders(request) {
      const page = await shop.client.searchOrders(request);
      pages += 1;
      await afterPage(pages);
      return page;
    },
  };
}

describe("incremental sync", () => {
  let harness: SyncHarness;
  afterEach(async () => {
    await harness?.close();
  });

  it("syncs everything, then picks up status changes that a create_time cursor would miss", async () => {
    harness = await startSyncHarness({ emulator: { shops: [{ id: "shop-1", orders: 300 }] } });
    await seedCursor(harness);
    const first = await harness.runtime.incremental(harness.shopId);
    expect(first.status).toBe("completed");
    await expectEqualToTruth(harness);

    harness.advance(60);
    // Old orders change status: their create_time is far in the past, their update_time is now.
    const changed = harness.emulator.mutate({ count: 25, shopId: harness.shopId, seed: 3 });
    const changedIds = new Set(changed.map((order) => order.id));
    expect(changedIds.size).toBeGreaterThan(15);
    harness.advance(1);
    const second = await harness.runtime.incremental(harness.shopId);
    if (second.status !== "completed") throw new Error(`unexpected ${second.status}`);
    expect(second.lastRun.updated).toBe(changedIds.size);
    expect(second.lastRun.inserted).toBe(0);
    expect(second.lastRun.api_calls).toBe(1);
    await expectEqualToTruth(harness);

    const meta = await harness.runtime.state.getMeta(harness.shopId);
    expect(meta).toMatchObject({
      sync_type: "incremental",
      is_full_sync: false,
      records_synced: changedIds.size,
    });
    expect(meta?.cursor).toBe(second.lastRun.window_end);
    expect(second.lastRun.window_start).toBe(
      (first.status === "completed" ? first.lastRun.window_end : 0) - 300,
    );
  });

  it("offset page tokens: an order updated mid-run never makes an unchanged order be skipped", async () => {
    harness = await startSyncHarness({
      emulator: { tokenMode: "offset", shops: [{ id: "shop-1", orders: 450 }] },
    });
    await seedCursor(harness);
    const shop = await harness.runtime.shops.open(harness.shopId);
    const movedIds = new Set<string>();
    const deps = {
      ...harness.runtime.incrementalDeps(shop),
      tiktok: interceptPages(shop, (page) => {
        // After each early page, one already-read order is updated and jumps to the end of the window.
        if (page <= 3) {
          const oldest = harness.emulator
            .truthSummary(harness.shopId)
            .filter((order) => !movedIds.has(order.id))
            .sort((a, b) => a.update_time - b.update_time)[0];
          if (oldest) {
            movedIds.add(oldest.id);
            harness.emulator.mutate({ orderIds: [oldest.id] });
          }
        }
      }),
    };
    const outcome = await runIncrementalSync(deps, shop.ref);
    expect(outcome.status).toBe("completed");
    const diff = await harness.diff();
    // Only the moved orders may be behind (their new update_time is past this run's windowEnd) ...
    expect(diff.missing).toEqual([]);
    expect(diff.stale.every((id) => movedIds.has(id))).toBe(true);
    // ... and the next run brings them in.
    harness.advance(2);
    await harness.runtime.incremental(harness.shopId);
    await expectEqualToTruth(harness);
  });

  it("more than a page of orders in one update_time second, across a page boundary", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 300 }], bursts: { fraction: 0 } },
    });
    await seedCursor(harness);
    expect((await harness.runtime.incremental(harness.shopId)).status).toBe("completed");
    harness.advance(30);
    // 250 orders updated in the same second: two and a half pages inside one second.
    const ids = harness.emulator
      .truthSummary(harness.shopId)
      .slice(0, 250)
      .map((order) => order.id);
    harness.emulator.mutate({ orderIds: ids });
    const sameSecond = new Set(
      harness.emulator
        .truthSummary(harness.shopId)
        .filter((o) => ids.includes(o.id))
        .map((o) => o.update_time),
    );
    expect(sameSecond.size).toBe(1);
    harness.advance(1);
    const run = await harness.runtime.incremental(harness.shopId);
    if (run.status !== "completed") throw new Error(run.status);
    expect(run.lastRun.updated).toBe(250);
    await expectEqualToTruth(harness);
  });

  it("a query cut short by the result cap inside a same-second group does not end the run (chaos seed 202)", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 400 }], bursts: { fraction: 0 } },
    });
    await seedCursor(harness);
    expect((await harness.runtime.incremental(harness.shopId)).status).toBe("completed");
    harness.advance(30);
    const ids = harness.emulator
      .truthSummary(harness.shopId)
      .map((order) => order.id)
      .slice(0, 300);
    // 250 orders in one second, then 50 more a second later: the query starting at the burst serves
    // 100 + 100 + 80 orders and stops at the cap (280) without a token, before its total_count.
    harness.emulator.mutate({ orderIds: ids.slice(0, 250) });
    harness.advance(1);
    harness.emulator.mutate({ orderIds: ids.slice(250) });
    harness.emulator.configure({ resultCap: 280 });
    harness.advance(1);
    const run = await harness.runtime.incremental(harness.shopId);
    if (run.status !== "completed") throw new Error(run.status);
    expect(run.lastRun.updated).toBe(300);
    await expectEqualToTruth(harness);
  });

  // Issue 16 item 5 changed this on purpose: it used to stop with ResultCapExceededError on every tick.
  // The second is now split by create_time; what no filter can split (one create_time second and one
  // status beyond the cap) still stops the run: edge-behaviours.test.ts, "item 5: … in one status".
  it("more orders in one second than the result cap are read whole, split by create_time", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 300 }], bursts: { fraction: 0 } },
    });
    await seedCursor(harness);
    expect((await harness.runtime.incremental(harness.shopId)).status).toBe("completed");
    harness.advance(30);
    const ids = harness.emulator
      .truthSummary(harness.shopId)
      .map((order) => order.id)
      .slice(0, 250);
    harness.emulator.mutate({ orderIds: ids });
    harness.emulator.configure({ resultCap: 200 });
    harness.advance(1);
    const run = await harness.runtime.incremental(harness.shopId);
    if (run.status !== "completed") throw new Error(run.status);
    expect(run.lastRun.updated).toBe(250);
    await expectEqualToTruth(harness);
    expect((await harness.runtime.state.getMeta(harness.shopId))?.cursor).toBe(run.lastRun.window_end);
  });

  it("a run that dies mid-way resumes from its checkpoint and loses nothing", async () => {
    harness = await startSyncHarness({ emulator: { shops: [{ id: "shop-1", orders: 500 }] } });
    await seedCursor(harness);
    const shop = await harness.runtime.shops.open(harness.shopId);
    const crashing = {
      ...harness.runtime.incrementalDeps(shop),
      newRunId: () => "doomed-run",
      tiktok: interceptPages(shop, (page) => {
        if (page === 4) throw new Error("simulated crash");
      }),
    };
    await expect(runIncrementalSync(crashing, shop.ref)).rejects.toThrow("simulated crash");
    const checkpoint = await harness.runtime.state.getCheckpoint(harness.shopId);
    expect(checkpoint?.runId).toBe("doomed-run");
    const metaBefore = await harness.runtime.state.getMeta(harness.shopId);
    expect(metaBefore?.cursor).toBe(0);

    const resumed = await harness.runtime.incremental(harness.shopId);
    if (resumed.status !== "completed") throw new Error(resumed.status);
    expect(resumed.lastRun.window_start).toBe(checkpoint?.position);
    expect(await harness.runtime.state.getCheckpoint(harness.shopId)).toBeUndefined();
    await expectEqualToTruth(harness);
  });

  it("a lock left by a dead run blocks until its lease expires, then is taken over", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 100 }] },
      env: { SYNC_LOCK_LEASE_SECONDS: "60" },
    });
    await seedCursor(harness);
    expect(await harness.runtime.state.acquireLock(harness.shopId, "dead-lambda", 60_000)).toBe(true);
    const blocked = await harness.runtime.incremental(harness.shopId);
    expect(blocked.status).toBe("locked");
    harness.advance(61);
    const taken = await harness.runtime.incremental(harness.shopId);
    expect(taken.status).toBe("completed");
    await expectEqualToTruth(harness);
  });

  it("two concurrent ticks: one runs, the other exits quietly and still reports lag", async () => {
    // A few pages: the first run still holds the lock when the other tries to take it.
    harness = await startSyncHarness({ emulator: { shops: [{ id: "shop-1", orders: 300 }] } });
    await seedCursor(harness);
    const other = harness.newRuntime();
    const outcomes = await Promise.all([
      harness.runtime.incremental(harness.shopId),
      other.incremental(harness.shopId),
    ]);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(["completed", "locked"]);
    const lagPoints = harness.metrics.points.filter((point) => point.name === "SyncLagSeconds");
    expect(lagPoints).toHaveLength(2);
    await expectEqualToTruth(harness);
  });

  it("retries injected 5xx, malformed JSON and 429 and still ends equal to the truth", async () => {
    harness = await startSyncHarness({ emulator: { shops: [{ id: "shop-1", orders: 200 }] } });
    await seedCursor(harness);
    harness.emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "http500" });
    harness.emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "malformedJson" });
    harness.emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "rateLimit" });
    const run = await harness.runtime.incremental(harness.shopId);
    if (run.status !== "completed") throw new Error(run.status);
    expect(run.lastRun.api_calls).toBe(run.lastRun.successful_api_calls + 3);
    expect(run.lastRun.throttled_api_calls).toBe(1);
    await expectEqualToTruth(harness);
  });

  it("an access token expiring mid-run is refreshed once, rotated and stored", async () => {
    // Three pages: the token expires after the second.
    harness = await startSyncHarness({ emulator: { shops: [{ id: "shop-1", orders: 300 }] } });
    await seedCursor(harness);
    const shop = await harness.runtime.shops.open(harness.shopId);
    let before: Awaited<ReturnType<typeof harness.runtime.tokenRepository.get>>;
    const deps = {
      ...harness.runtime.incrementalDeps(shop),
      tiktok: interceptPages(shop, async (page) => {
        if (page === 2) {
          before = await harness.runtime.tokenRepository.get("default");
          harness.emulator.expireAccessTokens();
        }
      }),
    };
    const run = await runIncrementalSync(deps, shop.ref);
    expect(run.status).toBe("completed");
    const after = await harness.runtime.tokenRepository.get("default");
    expect(before).toBeDefined();
    expect(after?.version).toBe((before?.version ?? Number.NaN) + 1);
    expect(after?.accessToken).not.toBe(before?.accessToken);
    expect(after?.refreshToken).not.toBe(before?.refreshToken);
    await expectEqualToTruth(harness);
    const { Item } = await harness.resources.documents.send(
      new GetCommand({
        TableName: harness.resources.stateTable,
        Key: { pk: "AUTH#default", sk: "TOKEN" },
      }),
    );
    expect(Item?.version).toBe(after?.version);
  });

  it("quarantines orders without the fields the sync relies on and counts them", async () => {
    harness = await startSyncHarness({ emulator: { shops: [{ id: "shop-1", orders: 100 }] } });
    await seedCursor(harness);
    const shop = await harness.runtime.shops.open(harness.shopId);
    const deps = {
      ...harness.runtime.incrementalDeps(shop),
      tiktok: {
        async searchOrders(request: Parameters<OrderSearchPort["searchOrders"]>[0]) {
          const page = await shop.client.searchOrders(request);
          return { ...page, orders: [...page.orders, { id: "broken-1", status: "UNPAID" }] };
        },
      },
    };
    const run = await runIncrementalSync(deps, shop.ref);
    if (run.status !== "completed") throw new Error(run.status);
    expect(run.lastRun.quarantined).toBeGreaterThanOrEqual(1);
    expect(await harness.runtime.state.countQuarantined(harness.shopId)).toBe(1);
    await expectEqualToTruth(harness);
  });
});
