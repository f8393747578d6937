/**
 * Issue 16, "No order lost on TikTok's edge behaviours": the sync against the TikTok emulator behaving
 * as TikTok might (short pages with tokens, out-of-window orders, other refusal wordings, same-second
 * floods beyond the result cap), over real HTTP and DynamoDB Local.
 *
 * `it.failing` marks a test that reproduces a bug not fixed yet: it passes while the bug exists. The fix
 * flips it to `it`. Plain `it` tests are guards that already hold.
 */
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import type { PageTokenRefusal } from "../../infra/local/tiktok-emulator";
import { createSyncService } from "../../shared/app/service";
import { normalizeOrder } from "../../shared/orders/normalize";
import { OrderStore } from "../../shared/store/order-store";
import { resumeJob } from "../../shared/sync/full-resync/lifecycle";
import { startFullResync } from "../../shared/sync/full-resync/planner";
import {
  ResultCapExceededError,
  runIncrementalSync,
  SearchStalledError,
} from "../../shared/sync/incremental";
import type { OrderSearchPort } from "../../shared/sync/ports";
import { classifyResponse } from "../../shared/tiktok/api-errors";
import { API_PATHS } from "../../shared/tiktok/api-types";
import { type SyncHarness, startSyncHarness } from "../support/sync-harness";
import { createHarness, diffOrders, type Harness, isFinished } from "./full-resync-harness";

jest.setTimeout(60_000);

/** Starts a shop "already synced up to the beginning of time": the first run reads its whole history. */
async function seedCursor(harness: SyncHarness, cursor = 0) {
  await harness.runtime.state.setCursorIfMissing(harness.shopId, cursor);
}

async function expectEqualToTruth(harness: SyncHarness) {
  const diff = await harness.diff();
  expect({ missing: diff.missing.length, stale: diff.stale.length, extra: diff.extra.length }).toEqual({
    missing: 0,
    stale: 0,
    extra: 0,
  });
}

async function completedRun(harness: SyncHarness) {
  const run = await harness.runtime.incremental(harness.shopId);
  if (run.status !== "completed") throw new Error(`incremental run ended ${run.status}`);
  return run.lastRun;
}

/** Search requests the emulator has answered (whatever the outcome). */
function searchCalls(harness: SyncHarness): number {
  return harness.emulator.counters().byEndpoint.searchOrders?.total ?? 0;
}

function warnings(harness: SyncHarness, containing: string) {
  return harness.log.lines.filter((line) => line.level === "warn" && line.message.includes(containing));
}

const OTHER_REFUSALS: readonly PageTokenRefusal[] = ["generic", "otherCode"];

describe("incremental sync on TikTok's edge behaviours", () => {
  let harness: SyncHarness;
  afterEach(async () => {
    await harness?.close();
  });

  // Issue 16 item 1: a short page with a next token ends the run (`orders < pageSize` is taken for the
  // end) and the cursor jumps to windowEnd over the orders not yet read.
  it("item 1: a silent page-size cap (50 of 100, with tokens) loses no order; a quiet tick stays one call", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 150 }], bursts: { fraction: 0 }, maxPageSize: 50 },
    });
    await seedCursor(harness);
    await completedRun(harness);
    await expectEqualToTruth(harness);

    harness.advance(60);
    harness.emulator.mutate({ count: 10, shopId: harness.shopId, seed: 5 });
    harness.advance(1);
    const searchesBefore = searchCalls(harness);
    const quiet = await completedRun(harness);
    // Ten changes fit one short page without a next token: that is the end, in one call.
    expect(quiet.api_calls).toBe(1);
    expect(searchCalls(harness) - searchesBefore).toBe(1);
    await expectEqualToTruth(harness);
  });

  // Issue 16 item 1, as a client sees it over several syncs: randomly cut pages, changes spread over
  // more than the overlap, manual syncs afterwards.
  it("item 1: randomly cut pages with tokens over several rounds of changes lose nothing", async () => {
    harness = await startSyncHarness({
      emulator: {
        shops: [{ id: "shop-1", orders: 200 }],
        bursts: { fraction: 0 },
        faults: { shortPage: 0.5 },
      },
    });
    await seedCursor(harness);
    await completedRun(harness);
    for (let round = 0; round < 2; round++) {
      harness.advance(200);
      harness.emulator.mutate({ count: 40, shopId: harness.shopId, seed: 10 + round });
      harness.emulator.createOrders({ count: 15, shopId: harness.shopId, seed: 20 + round });
      harness.advance(1);
      await completedRun(harness);
    }
    await expectEqualToTruth(harness);
  });

  // Issue 16 item 2: the restart point is the page's highest update_time, unchecked. One order served
  // at or past windowEnd (a lagging search index) moves it past everything not yet read.
  it("item 2: an order served past the window's end does not move the restart point", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 150 }], bursts: { fraction: 0 } },
    });
    await seedCursor(harness);
    harness.emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "outOfWindowOrder" });
    const first = await completedRun(harness);
    // The first run already read every order of its window (the one served late is stored as served).
    expect(first.inserted).toBe(150);
    const [outside] = warnings(harness, "outside the query's range");
    expect(outside?.fields).toEqual({
      shopId: harness.shopId,
      lower: expect.any(Number),
      windowEnd: first.window_end,
      orderIds: [expect.any(String)],
    });
    harness.advance(2);
    await completedRun(harness);
    await expectEqualToTruth(harness);
  });

  // Guard for item 2's "pages not sorted": the restart point is the page's maximum, whatever the order.
  it("unsorted pages lose nothing", async () => {
    harness = await startSyncHarness({
      emulator: {
        shops: [{ id: "shop-1", orders: 150 }],
        bursts: { fraction: 0 },
        faults: { unsortedPage: 1 },
      },
    });
    await seedCursor(harness);
    await completedRun(harness);
    await expectEqualToTruth(harness);
    expect(harness.emulator.counters().faultsInjected).toBeGreaterThanOrEqual(2);
    // Logged with ids only.
    const unsorted = warnings(harness, "not sorted by update_time");
    expect(unsorted.length).toBeGreaterThanOrEqual(2);
    expect(Object.keys(unsorted[0]?.fields ?? {}).sort()).toEqual([
      "lower",
      "orderIds",
      "shopId",
      "windowEnd",
    ]);
  });

  /** 150 orders changed in one second: more than a page, so the run follows a page token inside it. */
  async function sameSecondGroup(refusal: PageTokenRefusal) {
    harness = await startSyncHarness({
      emulator: {
        shops: [{ id: "shop-1", orders: 180 }],
        bursts: { fraction: 0 },
        pageTokenRefusal: refusal,
      },
    });
    await seedCursor(harness);
    await completedRun(harness);
    harness.advance(30);
    harness.emulator.flood({ count: 150, shopId: harness.shopId, seed: 3 });
    harness.advance(1);
    // Refuses the first request that carries a token.
    harness.emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "expiredPageToken" });
  }

  it("item 3 control: a refusal worded with page_token restarts from the checkpoint", async () => {
    await sameSecondGroup("pageToken");
    expect((await completedRun(harness)).updated).toBe(150);
    expect(harness.emulator.counters().faultsInjected).toBe(1);
    await expectEqualToTruth(harness);
  });

  // Issue 16 item 3: only 36009004 + "page_token" is taken for a refused token; another wording of the
  // same refusal fails the run.
  it.each(OTHER_REFUSALS)(
    "item 3: a token refusal worded %s restarts from the checkpoint too",
    async (refusal) => {
      await sameSecondGroup(refusal);
      expect((await completedRun(harness)).updated).toBe(150);
      expect(harness.emulator.counters().faultsInjected).toBe(1);
      await expectEqualToTruth(harness);
    },
  );

  // Issue 16 item 3, the bound: more than a page of orders in one second while every token is refused.
  // Each restart by value re-reads that second and needs a token again, which used to loop until the
  // deadline on every tick. A create flood shares one update_time, one create_time and one status, so
  // no query can get past it without a token: the run stops with a typed error and keeps its checkpoint.
  it("item 3: every token refused inside a same-second group beyond a page: the run stops, never loops", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 50 }], bursts: { fraction: 0 }, pageTokenTtlSeconds: 0 },
    });
    await seedCursor(harness);
    await completedRun(harness);
    harness.advance(30);
    const [flooded] = harness.emulator.flood({ count: 150, shopId: harness.shopId, source: "create" });
    harness.advance(1);
    const cursorBefore = (await harness.runtime.state.getMeta(harness.shopId))?.cursor;
    const searchesBefore = searchCalls(harness);
    const stopped = harness.runtime.incremental(harness.shopId);
    await expect(stopped).rejects.toThrow(SearchStalledError);
    await expect(stopped).rejects.toMatchObject({ second: flooded?.update_time, cause: expect.any(Error) });
    // Bounded: a handful of requests per way of reading the second, not a loop until the deadline.
    expect(searchCalls(harness) - searchesBefore).toBeLessThan(30);
    expect((await harness.runtime.state.getMeta(harness.shopId))?.cursor).toBe(cursorBefore);
    expect((await harness.runtime.state.getCheckpoint(harness.shopId))?.position).toBe(flooded?.update_time);
    expect(harness.log.lines).toContainEqual(
      expect.objectContaining({
        level: "error",
        fields: expect.objectContaining({
          second: flooded?.update_time,
          error: expect.objectContaining({ name: "SearchStalledError" }),
        }),
      }),
    );
    // The lock was released: the next tick tries again (and stops the same way while tokens keep dying).
    await expect(harness.runtime.incremental(harness.shopId)).rejects.toThrow(SearchStalledError);
  });

  // Issue 16 item 5: more orders in one update_time second than one query may page through throws
  // ResultCapExceededError on every tick. Their create_times differ: split the second by create_time.
  it("item 5: a same-second flood beyond the result cap is read whole", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 200 }], bursts: { fraction: 0 }, resultCap: 120 },
    });
    await seedCursor(harness);
    await completedRun(harness);
    harness.advance(30);
    const flooded = harness.emulator.flood({ count: 150, shopId: harness.shopId, seed: 8 });
    expect(new Set(flooded.map((order) => order.update_time)).size).toBe(1);
    harness.advance(1);
    expect((await completedRun(harness)).updated).toBe(150);
    await expectEqualToTruth(harness);
    expect(warnings(harness, "reading it by create_time")).toHaveLength(1);
  });

  // Issue 16 item 5, the other reading of "every token refused": the same update flood (create_times
  // spread) with tokens that die at once is read by create_time, by value, without a token.
  it("item 5: every token refused inside an update flood beyond a page: read by create_time, nothing lost", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 200 }], bursts: { fraction: 0 }, pageTokenTtlSeconds: 0 },
    });
    await seedCursor(harness);
    await completedRun(harness);
    harness.advance(30);
    harness.emulator.flood({ count: 150, shopId: harness.shopId, seed: 4 });
    harness.advance(1);
    const searchesBefore = searchCalls(harness);
    expect((await completedRun(harness)).updated).toBe(150);
    await expectEqualToTruth(harness);
    expect(searchCalls(harness) - searchesBefore).toBeLessThan(15);
  });

  // Issue 16 item 5, the other reading of the cap: instead of ending the query without a token, TikTok
  // refuses the request that pages past it (a 4xx). Taken for a refused token, bounded, then the second
  // is read by create_time. The refusal is played over the emulator's own cap by a thin wrapper.
  it("item 5: a cap that refuses the request past it (4xx) instead of ending the query loses nothing", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 200 }], bursts: { fraction: 0 }, resultCap: 120 },
    });
    await seedCursor(harness);
    await completedRun(harness);
    harness.advance(30);
    harness.emulator.flood({ count: 150, shopId: harness.shopId, seed: 8 });
    harness.advance(1);
    const shop = await harness.runtime.shops.open(harness.shopId);
    let servedInQuery = 0;
    let refused = 0;
    const tiktok: OrderSearchPort = {
      async searchOrders(request) {
        const page = await shop.client.searchOrders(request);
        servedInQuery = (request.query.page_token ? servedInQuery : 0) + page.orders.length;
        if (!page.nextPageToken && servedInQuery < page.totalCount) {
          refused += 1;
          throw classifyResponse(
            400,
            { code: 36009004, message: "Invalid parameter: the result window is too large", request_id: "r" },
            API_PATHS.searchOrders,
          );
        }
        return page;
      },
    };
    const run = await runIncrementalSync({ ...harness.runtime.incrementalDeps(shop), tiktok }, shop.ref);
    if (run.status !== "completed") throw new Error(run.status);
    expect(run.lastRun.updated).toBe(150);
    expect(refused).toBeGreaterThanOrEqual(2);
    await expectEqualToTruth(harness);
    expect(warnings(harness, "makes no progress")).toHaveLength(1);
  });

  // A run stopped while it reads a second in parts (a crash, the deadline) resumes inside that second:
  // a tick too short for the whole second still makes progress.
  it("item 5: a run stopped inside a split second resumes at its create_time checkpoint", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 300 }], bursts: { fraction: 0 }, resultCap: 120 },
    });
    await seedCursor(harness);
    await completedRun(harness);
    harness.advance(30);
    const [flooded] = harness.emulator.flood({ count: 250, shopId: harness.shopId, seed: 9 });
    const second = flooded?.update_time as number;
    harness.advance(1);
    const shop = await harness.runtime.shops.open(harness.shopId);
    const sent: Parameters<OrderSearchPort["searchOrders"]>[0][] = [];
    let crashAtCreateSearch: number | undefined = 2;
    const tiktok: OrderSearchPort = {
      async searchOrders(request) {
        sent.push(request);
        const createSearches = sent.filter((one) => one.query.sort_field === "create_time").length;
        if (createSearches === crashAtCreateSearch) throw new Error("simulated crash");
        return shop.client.searchOrders(request);
      },
    };
    const deps = { ...harness.runtime.incrementalDeps(shop), tiktok };
    await expect(runIncrementalSync(deps, shop.ref)).rejects.toThrow("simulated crash");
    const checkpoint = await harness.runtime.state.getCheckpoint(harness.shopId);
    expect(checkpoint).toMatchObject({ position: second, createFrom: expect.any(Number) });
    expect(checkpoint?.createFrom).toBeGreaterThan(0);

    crashAtCreateSearch = undefined;
    sent.length = 0;
    const resumed = await runIncrementalSync(deps, shop.ref);
    expect(resumed.status).toBe("completed");
    // The first request continues inside the second, after what is committed.
    expect(sent[0]?.body).toEqual({
      update_time_ge: second,
      update_time_lt: second + 1,
      create_time_ge: checkpoint?.createFrom,
    });
    await expectEqualToTruth(harness);
  });

  /**
   * `count` orders created in one frozen second, `changed` of them advanced in that same second: they
   * share update_time and create_time, with mixed statuses.
   */
  function createFloodWithStatuses(count: number, changed: number): number {
    const second = harness.emulator.setClock(harness.emulator.now(), { frozen: true });
    const created = harness.emulator.flood({ count, shopId: harness.shopId, source: "create" });
    harness.emulator.mutate({ orderIds: created.slice(0, changed).map((order) => order.id), seed: 6 });
    harness.emulator.setClock(second, { frozen: false });
    const truth = harness.emulator
      .truthSummary(harness.shopId)
      .filter((order) => order.update_time === second);
    expect(truth).toHaveLength(count);
    expect(truth.every((order) => order.create_time === second)).toBe(true);
    return second;
  }

  // Issue 16 item 5: a create flood (create_time = update_time) beyond the cap cannot be split by time;
  // `order_status` (a documented filter) splits it when its statuses differ.
  it("item 5: a create flood beyond the result cap with mixed statuses is read status by status", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 50 }], bursts: { fraction: 0 }, resultCap: 120 },
    });
    await seedCursor(harness);
    await completedRun(harness);
    harness.advance(30);
    createFloodWithStatuses(150, 80);
    const statuses = new Set(harness.emulator.truthSummary(harness.shopId).map((order) => order.status));
    expect(statuses.size).toBeGreaterThan(2);
    harness.advance(1);
    const run = await completedRun(harness);
    expect(run.inserted).toBe(150);
    await expectEqualToTruth(harness);
    expect(warnings(harness, "reading it status by status")).toHaveLength(1);
  });

  // Issue 16 item 5, what no filter splits: one (update_time, create_time, status) beyond the cap.
  it("item 5: a create flood beyond the result cap in one status stops the run with a clear error", async () => {
    harness = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 50 }], bursts: { fraction: 0 }, resultCap: 120 },
    });
    await seedCursor(harness);
    await completedRun(harness);
    harness.advance(30);
    const second = createFloodWithStatuses(150, 0);
    harness.advance(1);
    const cursorBefore = (await harness.runtime.state.getMeta(harness.shopId))?.cursor;
    const stopped = harness.runtime.incremental(harness.shopId);
    await expect(stopped).rejects.toThrow(ResultCapExceededError);
    await expect(stopped).rejects.toMatchObject({
      second,
      part: { createTime: second, status: "UNPAID" },
      totalCount: 150,
      served: 120,
    });
    expect((await harness.runtime.state.getMeta(harness.shopId))?.cursor).toBe(cursorBefore);
    expect((await harness.runtime.state.getCheckpoint(harness.shopId))?.position).toBe(second);
    // Visible in status until a run completes.
    const service = createSyncService(harness.runtime);
    const [status] = await service.status([harness.shopId]);
    expect(status?.incremental_stopped).toEqual({
      run_id: expect.any(String),
      at: expect.any(String),
      error: "ResultCapExceededError",
      message: expect.stringContaining("no search filter splits them further"),
      second,
    });
    harness.emulator.configure({ resultCap: null });
    // The stopped run had committed the 120 the capped query served.
    expect((await completedRun(harness)).inserted).toBe(30);
    await expectEqualToTruth(harness);
    expect((await service.status([harness.shopId]))[0]?.incremental_stopped).toBeNull();
  });
});

describe("full resync on TikTok's edge behaviours", () => {
  let harness: Harness;
  afterEach(async () => {
    await harness?.close();
  });

  async function start(label: string, options: Partial<Parameters<typeof createHarness>[0]> = {}) {
    harness = await createHarness({
      label,
      orders: 250,
      historyDays: 5,
      // Every order is older than the job's windowEnd (now − settle).
      emulatorClockOffsetSeconds: -600,
      visibilityTimeoutSeconds: 2,
      maxReceiveCount: 2,
      ...options,
      // No same-second create_time groups: a window restarted inside one larger than a page while every
      // token dies at once could never get past it.
      emulator: { bursts: { fraction: 0 }, ...options.emulator },
    });
    return startFullResync(harness.deps, harness.shop.shopId);
  }

  async function expectCompletedAndEqual(jobId: string) {
    const progress = await harness.waitForJob(jobId, isFinished, 45_000);
    expect(progress.status).toBe("COMPLETED");
    expect(diffOrders(await harness.stored(), harness.truth())).toEqual({
      missing: [],
      extra: [],
      different: [],
    });
  }

  // Guard: windows follow tokens to the end, so short pages and a page-size cap lose nothing.
  it("short pages with tokens (a cap and random cuts) lose nothing", async () => {
    const job = await start("short", { emulator: { maxPageSize: 40, faults: { shortPage: 0.5 } } });
    harness.startWorkers();
    await expectCompletedAndEqual(job.jobId);
  });

  // Issue 16 item 3: a dead token refused in another wording used to fail every receive: window FAILED.
  it.each(OTHER_REFUSALS)(
    "item 3: tokens refused at once, worded %s, restart windows from their checkpoints",
    async (refusal) => {
      const job = await start(`refuse-${refusal}`, {
        emulator: { pageTokenTtlSeconds: 0, pageTokenRefusal: refusal },
      });
      harness.startWorkers();
      await expectCompletedAndEqual(job.jobId);
    },
  );

  /**
   * Every receive of a window's second page dies after its upsert, so the window fails holding its
   * first page's token; the token then expires, and the job is resumed (the redrive).
   */
  async function resumeAfterTokenDied(refusal: PageTokenRefusal) {
    let crashing = true;
    const job = await start(`resume-${refusal}`, {
      emulator: { pageTokenRefusal: refusal },
      deps: {
        crashAt: (point, context) => {
          if (crashing && point === "after-upsert" && context.sequence === 1)
            throw new Error("simulated crash");
        },
      },
    });
    harness.startWorkers();
    const failed = await harness.waitForJob(job.jobId, isFinished, 45_000);
    expect(failed.status).toBe("FAILED");
    crashing = false;
    harness.emulator.advance(harness.emulator.config().pageTokenTtlSeconds + 1);
    await resumeJob(harness.deps, harness.shop.shopId, job.jobId);
    await expectCompletedAndEqual(job.jobId);
  }

  it("item 3 control: resuming a window that failed holding a since expired token (worded page_token)", () =>
    resumeAfterTokenDied("pageToken"));

  // Issue 16 item 3: reopening a FAILED window kept its dead token, so /resume failed again when the
  // refusal was worded otherwise.
  it.each(OTHER_REFUSALS)(
    "item 3: resuming a window that failed holding a since expired token (worded %s)",
    (refusal) => resumeAfterTokenDied(refusal),
  );
});

/** DynamoDB's largest item. */
const ITEM_LIMIT_BYTES = 400 * 1024;
/**
 * Line items that make an order's stored item larger than that: ~10 MB of JSON, ~515 KB compressed as
 * the store writes orders (2,000, the emulator's default bulk order, now fits in ~53 KB).
 */
const OVERSIZED_LINE_ITEMS = 20_000;

describe("oversized orders (issue 16 item 4)", () => {
  let harness: SyncHarness | undefined;
  let resync: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    await resync?.close();
    harness = undefined;
    resync = undefined;
  });

  async function quarantineItem(
    documents: SyncHarness["resources"]["documents"],
    table: string,
    shopId: string,
    orderId: string,
  ) {
    const { Item } = await documents.send(
      new GetCommand({ TableName: table, Key: { pk: `SHOP#${shopId}`, sk: `QUARANTINE#${orderId}` } }),
    );
    return Item;
  }

  // Issue 16 item 4: a bulk order (thousands of line items) exceeds DynamoDB's item limit and fails its
  // page with a ValidationException on every tick.
  it("incremental: an order larger than an item is quarantined with its size, the page is not failed", async () => {
    const active = await startSyncHarness({
      emulator: { shops: [{ id: "shop-1", orders: 150 }], bursts: { fraction: 0 } },
    });
    harness = active;
    await seedCursor(active);
    const [bulk] = active.emulator.oversizeOrders({
      orderIds: [active.emulator.truthSummary(active.shopId)[70]?.id as string],
      lineItems: OVERSIZED_LINE_ITEMS,
    });
    const bulkId = bulk?.id as string;
    const first = await completedRun(active);
    expect(first.quarantined).toBe(1);
    expect(await active.runtime.state.countQuarantined(active.shopId)).toBe(1);
    const item = await quarantineItem(
      active.resources.documents,
      active.resources.stateTable,
      active.shopId,
      bulkId,
    );
    expect(item).toMatchObject({
      orderId: bulkId,
      sizeBytes: expect.any(Number),
      reason: expect.stringMatching(/size/i),
    });
    expect(item?.sizeBytes).toBeGreaterThan(ITEM_LIMIT_BYTES);
    const diff = await active.diff();
    expect({ missing: diff.missing, stale: diff.stale, extra: diff.extra }).toEqual({
      missing: [bulkId],
      stale: [],
      extra: [],
    });

    // It changes again: re-read, quarantined again in place (still one item), and the run completes.
    active.advance(30);
    active.emulator.mutate({ orderIds: [bulkId] });
    active.advance(1);
    expect((await completedRun(active)).quarantined).toBe(1);
    expect(await active.runtime.state.countQuarantined(active.shopId)).toBe(1);
  });

  it("full resync: an order larger than an item is quarantined, the window completes", async () => {
    resync = await createHarness({
      label: "oversize",
      orders: 250,
      historyDays: 5,
      emulatorClockOffsetSeconds: -600,
      visibilityTimeoutSeconds: 2,
      maxReceiveCount: 2,
      emulator: { bursts: { fraction: 0 } },
    });
    const active = resync;
    const bulkId = active.emulator.truthSummary(active.shop.shopId)[120]?.id as string;
    active.emulator.oversizeOrders({ orderIds: [bulkId], lineItems: OVERSIZED_LINE_ITEMS });
    const job = await startFullResync(active.deps, active.shop.shopId);
    active.startWorkers();
    const progress = await active.waitForJob(job.jobId, isFinished, 45_000);
    expect(progress).toMatchObject({ status: "COMPLETED", quarantined: 1 });
    expect(await active.deps.state.countQuarantined(active.shop.shopId)).toBe(1);
    expect(diffOrders(await active.stored(), active.truth())).toEqual({
      missing: [bulkId],
      extra: [],
      different: [],
    });
  });

  // The fallback: an order DynamoDB refuses as too large is reported, never fails the other writes.
  it("the order store reports an order DynamoDB refuses as too large and writes the rest", async () => {
    const active = await startSyncHarness({ emulator: { shops: [{ id: "shop-1", orders: 5 }] } });
    harness = active;
    const [big] = active.emulator.truthSummary(active.shopId);
    active.emulator.oversizeOrders({ orderIds: [big?.id as string], lineItems: OVERSIZED_LINE_ITEMS });
    const normalized = active.emulator.truth(active.shopId).map((raw) => {
      const order = normalizeOrder(raw, { storeRecipientData: true });
      if ("quarantineId" in order) throw new Error(order.reason);
      return order;
    });
    for (const strategy of ["read-then-write", "conditional-put"] as const) {
      const store = new OrderStore({
        documents: active.resources.documents,
        tableName: active.resources.ordersTable,
        strategy,
      });
      const result = await store.upsert(`${strategy}-shop`, normalized, Date.now());
      expect(result).toMatchObject({
        inserted: normalized.length - 1,
        tooLarge: [expect.objectContaining({ orderId: big?.id })],
      });
    }
  });
});
