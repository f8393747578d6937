/**
 * Full resync end to end on DynamoDB Local + the SQS emulator + the TikTok emulator (real HTTP, the
 * real client, the worker handler behind the local SQS poller): exact equality with the emulator's
 * truth, the API-call bound, the result cap, splits, one job per shop, backfills and first sync with
 * incremental ticks and mutations during the job. Sizes are small (DynamoDB Local writes ~100–600
 * orders/s on 2 shared cores); the benchmark checks the same at scale.
 */
import { MetricName } from "../../shared/observability/metric-names";
import { queueDepth } from "../../shared/queues/sqs-work-queue";
import type { FullResyncSettings } from "../../shared/sync/full-resync/deps";
import { cancelJob } from "../../shared/sync/full-resync/lifecycle";
import { startFullResync } from "../../shared/sync/full-resync/planner";
import { getJobProgress } from "../../shared/sync/full-resync/progress";
import { JobAlreadyRunningError } from "../../shared/sync/full-resync/resync-errors";
import { runIncrementalSync } from "../../shared/sync/incremental";
import { ApiCallMeter } from "../../shared/sync/ports";
import { createHarness, diffOrders, type Harness, isFinished } from "./full-resync-harness";

/**
 * Successful search calls allowed for a job of `orders` orders: the floor ceil(orders / 100), one
 * partial last page per window beyond the first, and the planner's probes and the workers' splits
 * (each split costs the first page it looked at). Exact: each window of n orders takes ceil(n / 100)
 * pages (one for an empty window), which sum to at most the floor + (windows − 1).
 */
function callBound(orders: number, windows: number, probes: number, splits: number) {
  return Math.ceil(orders / 100) + windows - 1 + probes + splits;
}

// What size adds (the call ratio at 20,000 and 283,300 orders: 1.03× the floor plus probes and splits)
// is measured by `npm run bench -- --orders 20000`, which fails unless that bound holds (bench/verify.ts).
describe("full resync of 2,000 orders in many windows", () => {
  const N = 2_000;
  let harness: Harness;
  beforeAll(async () => {
    // The emulator's "now" lies 10 minutes back, so every order is older than the job's windowEnd.
    harness = await createHarness({
      label: "many",
      orders: N,
      historyDays: 90,
      emulatorClockOffsetSeconds: -600,
      // Windows of 300 orders (3 pages), and too few probes to size them all: the planner cuts several
      // windows, the workers split the rest on their first page. The history starts shortly before the
      // shop's first order, so no probe is spent on empty years.
      settings: {
        pageBudget: 3,
        maxProbes: 8,
        historyStart: Math.floor(Date.now() / 1000) - 100 * 86_400,
      },
      // Redelivery is tested elsewhere; here a slow DynamoDB Local must not cause any.
      visibilityTimeoutSeconds: 30,
    });
  });
  afterAll(() => harness.close());

  it("stores exactly the emulator's truth, within the API-call bound", async () => {
    const started = Date.now();
    const job = await startFullResync(harness.deps, harness.shop.shopId);
    expect(job).toMatchObject({ status: "RUNNING", expectedOrders: N });
    expect(job.windows).toBeGreaterThanOrEqual(4);
    harness.startWorkers();
    const progress = await harness.waitForJob(job.jobId, isFinished);
    const elapsedMs = Date.now() - started;

    expect(progress.status).toBe("COMPLETED");
    const diff = diffOrders(await harness.stored(), harness.truth());
    expect(diff).toEqual({ missing: [], extra: [], different: [] });
    expect(progress).toMatchObject({
      orders: N,
      windows: { open: 0, failed: 0, done: progress.windows.total },
      quarantined: 0,
      eta: null,
    });
    // Workers split what the planner could not size: more windows were paged than were planned.
    expect(progress.splits).toBeGreaterThanOrEqual(1);
    expect(progress.windows.total).toBeGreaterThan(job.windows);
    // Each order counted once; a page redelivered under load may see its orders already inserted.
    expect(progress.inserted + progress.unchanged).toBe(N);
    const searches = harness.emulator.counters().successfulSearchCalls;
    expect(progress.successful_search_calls).toBe(searches);
    expect(searches).toBeLessThanOrEqual(
      callBound(N, progress.windows.total, progress.probes, progress.splits),
    );

    const meta = await harness.deps.state.getMeta(harness.shop.shopId);
    expect(meta).toMatchObject({
      sync_type: "full",
      is_full_sync: true,
      records_synced: N,
      last_job_id: job.jobId,
      cursor: job.windowEnd,
    });
    expect(meta?.last_sync_time).toBe(progress.finished);
    expect(harness.metrics.sum(MetricName.JobOrders)).toBe(N);
    expect(harness.metrics.last(MetricName.JobWindowsOpen)).toBe(0);
    expect(await queueDepth(harness.resources.sqs, harness.resources.deadLetterQueueUrl)).toBe(0);
    console.info(
      `full resync of ${N} orders: ${elapsedMs} ms, ${job.windows} windows planned, ` +
        `${progress.windows.total} paged, ${searches} searches ` +
        `(floor ${Math.ceil(N / 100)}, probes ${progress.probes}, splits ${progress.splits}), ` +
        `${progress.api_calls} API calls, ${progress.rate} orders/s`,
    );
  });
});

describe("with the emulator's result cap at 200 per query", () => {
  const N = 600;
  let harness: Harness;
  /** Ids each job's pages returned (a job over an already-filled table is checked by what it read). */
  let seen: Set<string>;
  beforeAll(async () => {
    harness = await createHarness({
      label: "cap",
      orders: N,
      emulatorClockOffsetSeconds: -600,
      emulator: { resultCap: 200 },
    });
    const resolve = harness.deps.resolveShop;
    harness.deps = {
      ...harness.deps,
      resolveShop: async (shopId) => {
        const access = await resolve(shopId);
        return {
          shop: access.shop,
          tiktok: {
            searchOrders: async (request) => {
              const page = await access.tiktok.searchOrders(request);
              if (request.query.page_size > 1)
                for (const order of page.orders) seen.add((order as { id: string }).id);
              return page;
            },
          },
        };
      },
    };
  });
  afterAll(() => harness.close());
  beforeEach(() => {
    seen = new Set();
    harness.emulator.resetCounters();
  });

  /** Planner and workers with the same settings, as one deployment would have. */
  async function runJob(settings: Partial<FullResyncSettings>) {
    const deps = { ...harness.deps, settings: { ...harness.deps.settings, ...settings } };
    const job = await startFullResync(deps, harness.shop.shopId);
    const poller = harness.startWorkers({ deps });
    try {
      return { job, progress: await harness.waitForJob(job.jobId, isFinished) };
    } finally {
      await poller.stop({ abortPolls: false });
    }
  }

  it("loses nothing when the cap is not configured: capped queries restart by value", async () => {
    // TIKTOK_RESULT_CAP left at 5,000: one 600-order window, cut at 200 twice by the emulator.
    const { job, progress } = await runJob({});
    expect(job.windows).toBe(1);
    expect(progress).toMatchObject({ status: "COMPLETED", orders: N, splits: 0 });
    expect(progress.inserted + progress.unchanged).toBe(N);
    expect(progress.restarts).toBeGreaterThanOrEqual(2);
    expect(diffOrders(await harness.stored(), harness.truth())).toEqual({
      missing: [],
      extra: [],
      different: [],
    });
    expect(seen.size).toBe(N);
  });

  it("by default sizes the one planned window by its first page: split there, the page kept", async () => {
    const { job, progress } = await runJob({ resultCap: 200 });
    // The planner made no call: one window over the whole range.
    expect(job).toMatchObject({ windows: 1, probes: 0 });
    expect(progress).toMatchObject({ status: "COMPLETED", orders: N, unchanged: N, restarts: 0, probes: 0 });
    expect(progress.splits).toBeGreaterThanOrEqual(1);
    expect(progress.windows.total).toBeGreaterThanOrEqual(3);
    // The root's first page announced the job's total.
    expect((await harness.deps.jobs.getJob(harness.shop.shopId, job.jobId))?.expectedOrders).toBe(N);
    expect(seen).toEqual(new Set(harness.truth().keys()));
    const searches = harness.emulator.counters().successfulSearchCalls;
    expect(searches).toBe(progress.successful_search_calls);
    // No page is read for sizing alone: the floor, a partial page per extra window, and per split at most
    // the re-read of the kept page's newest second (its first child goes on by value from there).
    expect(searches).toBeLessThanOrEqual(Math.ceil(N / 100) + progress.windows.total - 1 + progress.splits);
  });

  it("sizes windows below a configured cap with probes (no restart; floor + one partial page per window)", async () => {
    const { job, progress } = await runJob({ resultCap: 200, maxProbes: 200 });
    expect(job.windows).toBeGreaterThanOrEqual(3);
    // Every order read once: the table already held them, so all come back unchanged.
    expect(progress).toMatchObject({ status: "COMPLETED", orders: N, unchanged: N, restarts: 0, splits: 0 });
    expect(seen).toEqual(new Set(harness.truth().keys()));
    const searches = harness.emulator.counters().successfulSearchCalls;
    expect(searches).toBe(progress.successful_search_calls);
    // 3 % slack is under one page at this size: the bound is one partial page per extra window.
    expect(searches).toBeLessThanOrEqual(Math.ceil(N / 100) + job.windows - 1 + progress.probes);
  });

  it("splits oversized windows on their first page when planning had no probes to spare", async () => {
    const { job, progress } = await runJob({ resultCap: 200, maxProbes: 1 });
    expect(job).toMatchObject({ windows: 1, probes: 1 });
    expect(progress).toMatchObject({ status: "COMPLETED", orders: N, unchanged: N, restarts: 0 });
    expect(progress.splits).toBeGreaterThanOrEqual(1);
    expect(progress.windows.total).toBeGreaterThanOrEqual(3);
    expect(seen).toEqual(new Set(harness.truth().keys()));
    const searches = harness.emulator.counters().successfulSearchCalls;
    expect(searches).toBeLessThanOrEqual(
      Math.ceil(N / 100) + progress.windows.total - 1 + progress.probes + progress.splits,
    );
  });
});

describe("one job per shop, date-range backfill and cancel", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await createHarness({
      label: "range",
      orders: 1_000,
      emulatorClockOffsetSeconds: -600,
      settings: { pageBudget: 2 },
    });
  });
  afterAll(() => harness.close());

  it("refuses a second job while one runs, and a backfill touches only its range", async () => {
    const shopId = harness.shop.shopId;
    const times = [...harness.truth().values()].map((order) => order.createTime).sort((a, b) => a - b);
    const from = times[250] as number;
    const to = times[600] as number;
    const backfill = await startFullResync(harness.deps, shopId, { from, to });
    expect(backfill).toMatchObject({ status: "RUNNING", rangeStart: from, rangeEnd: to });
    const second = startFullResync(harness.deps, shopId);
    await expect(second).rejects.toBeInstanceOf(JobAlreadyRunningError);
    await expect(second).rejects.toMatchObject({ runningJobId: backfill.jobId });

    const poller = harness.startWorkers();
    const progress = await harness.waitForJob(backfill.jobId, isFinished);
    expect(progress.status).toBe("COMPLETED");
    const truth = harness.truth({ from, to });
    expect(diffOrders(await harness.stored(), truth)).toEqual({ missing: [], extra: [], different: [] });
    // A backfill is no first sync: it leaves the cursor alone.
    const meta = await harness.deps.state.getMeta(shopId);
    expect(meta?.cursor).toBeUndefined();
    expect(meta).toMatchObject({
      last_job_id: backfill.jobId,
      records_synced: truth.size,
      sync_type: "full",
    });
    await poller.stop({ abortPolls: false });
  });

  it("cancel frees the slot and workers drop the cancelled job's messages", async () => {
    const shopId = harness.shop.shopId;
    const before = await harness.stored();
    const job = await startFullResync(harness.deps, shopId);
    expect(await cancelJob(harness.deps, shopId, job.jobId)).toEqual({
      jobId: job.jobId,
      status: "CANCELLED",
    });
    const poller = harness.startWorkers();
    await waitUntil(() => poller.stats.records >= job.windows, 30_000);
    expect(poller.stats.succeeded).toBe(poller.stats.records);
    expect((await getJobProgress(harness.deps, shopId, job.jobId))?.status).toBe("CANCELLED");
    expect((await harness.stored()).size).toBe(before.size);
    // The slot is free again.
    const next = await startFullResync(harness.deps, shopId, { from: 0, to: 1 });
    // The planner makes no call: the empty range is one window, which the workers find empty.
    expect(next).toMatchObject({ status: "RUNNING", windows: 1 });
    expect(await harness.waitForJob(next.jobId, isFinished)).toMatchObject({
      status: "COMPLETED",
      orders: 0,
    });
  });
});

describe("first sync with incremental ticks and mutations during the job", () => {
  let harness: Harness;
  beforeAll(async () => {
    // Real-time emulator clock: mutations are stamped "now", after the job's windowEnd.
    harness = await createHarness({ label: "first", orders: 600, settings: { pageBudget: 2 } });
  });
  afterAll(() => harness.close());

  it("is correct after the job plus one incremental run, and finalize leaves the cursor alone", async () => {
    const shopId = harness.shop.shopId;
    // Incremental settles 1 s here so the final run needs no long wait; the job keeps its 30 s.
    const base = harness.incrementalDeps();
    const incremental = {
      ...base,
      apiCalls: new ApiCallMeter(),
      settings: { ...base.settings, settleSeconds: 1 },
    };
    const first = await runIncrementalSync(incremental, harness.shop);
    expect(first.status).toBe("full-sync-started");
    const jobId = (first as { jobId: string }).jobId;
    const cursorAtStart = (await harness.deps.state.getMeta(shopId))?.cursor;
    const job = await harness.deps.jobs.getJob(shopId, jobId);
    expect(cursorAtStart).toBe(job?.windowEnd);

    harness.startWorkers();
    let ticks = 0;
    let progress = await getJobProgress(harness.deps, shopId, jobId);
    while (progress?.status === "RUNNING") {
      if (ticks < 3) {
        harness.emulator.mutate({ count: 25, shopId });
        harness.emulator.createOrders({ count: 5, shopId });
      }
      const tick = await runIncrementalSync(incremental, harness.shop);
      expect(tick.status).toBe("completed");
      ticks += 1;
      progress = await getJobProgress(harness.deps, shopId, jobId);
    }
    expect(progress?.status).toBe("COMPLETED");
    expect(ticks).toBeGreaterThan(0);
    const cursorAfterJob = (await harness.deps.state.getMeta(shopId))?.cursor as number;
    expect(cursorAfterJob).toBeGreaterThanOrEqual(cursorAtStart as number);

    // One more incremental run once the last mutation's second has passed the settle delay.
    const lastMutation = harness.emulator.now();
    await waitUntil(() => Math.floor(Date.now() / 1000) - 1 > lastMutation, 10_000);
    expect((await runIncrementalSync(incremental, harness.shop)).status).toBe("completed");
    expect(diffOrders(await harness.stored(), harness.truth())).toEqual({
      missing: [],
      extra: [],
      different: [],
    });
  });
});

async function waitUntil(condition: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
