/**
 * The worker inside its remaining time (DESIGN "Lambda execution model"): fake Lambda contexts with
 * little time left, against the TikTok emulator's slow answers and long Retry-Afters over real HTTP,
 * DynamoDB Local and the SQS emulator. Nothing may be lost, no record reported as failed (so no
 * receive is spent on time), nothing dead-lettered, and no invocation may outlive its context.
 *
 * The contexts are only a little longer than the worker's minimum (TIME_BUDGET.pageStartMs plus its
 * end margin), so the answers and Retry-Afters that do not fit stay short and the tests fast.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Context } from "aws-lambda";
import { makeWorkerHandler } from "../../functions/worker/handler-core";
import type { SqsBatchHandler } from "../../infra/local/sqs-poller";
import { LogRecorder } from "../../shared/observability/telemetry";
import { queueDepth } from "../../shared/queues/sqs-work-queue";
import { startFullResync } from "../../shared/sync/full-resync/planner";
import { TIME_BUDGET } from "../../shared/time-budget";
import { createHarness, diffOrders, type Harness, isFinished } from "./full-resync-harness";

/** One worker invocation, timed against its context. */
interface Invocation {
  readonly context: Context;
  readonly startedAt: number;
  readonly records: number;
  endedAt: number;
  /** What the context had left when the handler returned. */
  leftMs: number;
  tookMs: number;
  /** What the worker logged during this invocation. */
  readonly logged: { message: string; fields?: Record<string, unknown> }[];
}

/** The invocation the current code runs in (the local poller runs several at once). */
const invocationScope = new AsyncLocalStorage<Invocation>();

/**
 * Times each invocation against its context (listed in `invocations` once it returned), and makes it
 * the scope of what it calls.
 */
function timed(invocations: Invocation[]) {
  return (handler: SqsBatchHandler): SqsBatchHandler =>
    async (event, context) => {
      const invocation: Invocation = {
        context,
        startedAt: Date.now(),
        records: event.Records.length,
        endedAt: Number.NaN,
        leftMs: Number.NaN,
        tookMs: Number.NaN,
        logged: [],
      };
      try {
        return await invocationScope.run(invocation, () => handler(event, context));
      } finally {
        invocation.endedAt = Date.now();
        invocation.leftMs = context.getRemainingTimeInMillis();
        invocation.tookMs = invocation.endedAt - invocation.startedAt;
        invocations.push(invocation);
      }
    };
}

/** A LogRecorder that also files each line under the invocation that logged it. */
class ScopedLog extends LogRecorder {
  override info(message: string, fields?: Record<string, unknown>) {
    super.info(message, fields);
    invocationScope.getStore()?.logged.push({ message, ...(fields ? { fields } : {}) });
  }
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("slow TikTok answers with little time left", () => {
  let harness: Harness;
  const log = new LogRecorder();
  beforeAll(async () => {
    harness = await createHarness({
      label: "slowtime",
      orders: 120,
      emulatorClockOffsetSeconds: -600,
      // Small pages: the commit reserve is sized for DynamoDB on AWS, a loaded runner's DynamoDB Local
      // can take seconds for 100 conditional writes. The time arithmetic is the same.
      settings: { pageBudget: 2, pageSize: 20 },
      // A record reported as failed twice would be dead-lettered: time must never spend a receive.
      maxReceiveCount: 2,
      visibilityTimeoutSeconds: 20,
      deps: { log },
    });
  });
  afterAll(() => harness.close());

  it("pages no further than the time allows, sends the rest on, and loses nothing", async () => {
    const shopId = harness.shop.shopId;
    const job = await startFullResync(harness.deps, shopId);
    // Every answer takes 0.5 s, and a context holds 10.5 s (9.5 s of deadline after the end margin):
    // a record starts (≥ 9 s left) and writes its page, but a run needs time for that page's commit
    // and a whole next page (15 s), so each record sends its continuation instead of going on.
    harness.emulator.configure({ latencyMs: 500 });
    const invocations: Invocation[] = [];
    const poller = harness.startWorkers({
      concurrency: 2,
      batchSize: 5,
      functionTimeoutMs: TIME_BUDGET.pageStartMs + TIME_BUDGET.handlerEndMarginMs.worker + 500,
      wrap: timed(invocations),
    });
    const progress = await harness.waitForJob(job.jobId, isFinished, 240_000);
    expect(progress).toMatchObject({ status: "COMPLETED", orders: 120, windows: { failed: 0 } });
    expect(diffOrders(await harness.stored(), harness.truth())).toEqual({
      missing: [],
      extra: [],
      different: [],
    });
    // One page per record: as many records succeeded as pages were committed (splits add records).
    expect(poller.stats.succeeded).toBeGreaterThanOrEqual(progress.pages);
    expect(poller.stats.failed).toBe(0);
    expect(poller.stats.overruns).toBe(0);
    expect(invocations.every((invocation) => invocation.leftMs > 0)).toBe(true);
    expect(invocations.some((invocation) => invocation.records > 1)).toBe(true);
    expect(await queueDepth(harness.resources.sqs, harness.resources.deadLetterQueueUrl)).toBe(0);
    await poller.stop();
  });

  it("hands records back unstarted when the invocation has less than a page's time", async () => {
    const job = await startFullResync(harness.deps, harness.shop.shopId);
    const handler = makeWorkerHandler(harness.deps);
    const records = [0, 1].map((index) => ({
      messageId: `short-${index}`,
      receiptHandle: `short-${index}`,
      body: JSON.stringify({ shopId: harness.shop.shopId, jobId: job.jobId, window: 0, sequence: 0 }),
      attributes: { ApproximateReceiveCount: "1" },
    }));
    const searchesBefore = harness.emulator.counters().successfulSearchCalls;
    const context = {
      getRemainingTimeInMillis: () => TIME_BUDGET.pageStartMs + TIME_BUDGET.handlerEndMarginMs.worker - 1,
    };
    const response = await handler({ Records: records } as never, context as never);
    // Acknowledged (no receive spent), nothing fetched, and each record is back on the queue.
    expect(response.batchItemFailures).toEqual([]);
    expect(harness.emulator.counters().successfulSearchCalls).toBe(searchesBefore);
    const handedBack = log.lines.filter(
      (line) => line.message.includes("handed back") && line.fields?.jobId === job.jobId,
    );
    expect(handedBack).toHaveLength(2);
    // Workers with time take the handed-back copies (and the planner's message), and the job ends.
    const poller = harness.startWorkers({ concurrency: 1 });
    expect(await harness.waitForJob(job.jobId, isFinished, 120_000)).toMatchObject({ status: "COMPLETED" });
    await poller.stop();
  });
});

describe("a Retry-After longer than the time left", () => {
  let harness: Harness;
  const log = new ScopedLog();
  /** Every 429 the workers received: its Retry-After and what its invocation had left then. */
  const throttles: { invocation: Invocation; at: number; retryAfterMs: number; leftMs: number }[] = [];
  /** A 429 whose Retry-After and one more attempt do not fit in the fetch's part of the time left. */
  const doesNotFit = ({ retryAfterMs, leftMs }: { retryAfterMs: number; leftMs: number }) =>
    retryAfterMs + TIME_BUDGET.minAttemptMs >
    leftMs - TIME_BUDGET.handlerEndMarginMs.worker - TIME_BUDGET.pageCommitReserveMs;
  beforeAll(async () => {
    harness = await createHarness({
      label: "retryafter",
      orders: 200,
      emulatorClockOffsetSeconds: -600,
      // Three windows of at most two 50-order pages: both workers page at once, commits stay short.
      settings: { pageBudget: 2, pageSize: 50 },
      maxReceiveCount: 2,
      visibilityTimeoutSeconds: 20,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        const invocation = invocationScope.getStore();
        if (response.status === 429 && invocation) {
          throttles.push({
            invocation,
            at: Date.now(),
            retryAfterMs: Number(response.headers.get("retry-after")) * 1000,
            leftMs: invocation.context.getRemainingTimeInMillis(),
          });
        }
        return response;
      },
      deps: { log },
    });
  });
  afterAll(() => harness.close());

  it("is not slept: the page goes back to the queue with its delay, never to the DLQ", async () => {
    const shopId = harness.shop.shopId;
    const job = await startFullResync(harness.deps, shopId);
    // One request per 3 s per shop: a 429 then says Retry-After: 3 (less once the bucket refills).
    harness.emulator.configure({ qps: 1 / 3, burst: 1 });
    harness.emulator.resetCounters();
    const invocations: Invocation[] = [];
    // 10.5 s: a record starts (≥ 9 s left after the 1 s end margin), its fetch gets what the 6 s
    // commit reserve leaves (< 3.5 s): a 3 s Retry-After plus an attempt's 1.5 s no longer fits.
    const functionTimeoutMs = TIME_BUDGET.pageStartMs + TIME_BUDGET.handlerEndMarginMs.worker + 500;
    const poller = harness.startWorkers({
      concurrency: 2,
      batchSize: 1,
      functionTimeoutMs,
      wrap: timed(invocations),
    });
    await waitUntil(
      () => harness.emulator.counters().byOutcome.rateLimited >= 2 && throttles.some(doesNotFit),
      60_000,
      "two throttled pages, one with a Retry-After that does not fit",
    );
    // Lift the limit so the re-sent pages finish the job.
    harness.emulator.configure({ qps: null });
    const progress = await harness.waitForJob(job.jobId, isFinished, 120_000);
    expect(progress).toMatchObject({ status: "COMPLETED", orders: 200, windows: { failed: 0 } });
    expect(progress.throttled).toBeGreaterThanOrEqual(2);
    expect(diffOrders(await harness.stored(), harness.truth())).toEqual({
      missing: [],
      extra: [],
      different: [],
    });
    expect(poller.stats.failed).toBe(0);
    expect(poller.stats.overruns).toBe(0);
    // Each Retry-After that did not fit was not slept: its invocation ended before it was over, having
    // re-sent its page with at least that delay.
    const tooLong = throttles.filter(doesNotFit);
    expect(tooLong.length).toBeGreaterThan(0);
    for (const { invocation, at, retryAfterMs } of tooLong) {
      expect(invocation.endedAt - at).toBeLessThan(retryAfterMs);
      const resent = invocation.logged.filter(
        (line) => line.message === "page throttled; re-sent with a delay",
      );
      expect(resent).toHaveLength(1);
      expect(Number(resent[0]?.fields?.delaySeconds) * 1000).toBeGreaterThanOrEqual(retryAfterMs);
    }
    expect(invocations.every((invocation) => invocation.leftMs > 0)).toBe(true);
    expect(await queueDepth(harness.resources.sqs, harness.resources.deadLetterQueueUrl)).toBe(0);
  });
});
