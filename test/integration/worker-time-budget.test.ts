/**
 * The worker inside its remaining time (DESIGN "Lambda execution model"): fake Lambda contexts with
 * little time left, against the TikTok emulator's slow answers and long Retry-Afters over real HTTP,
 * DynamoDB Local and the SQS emulator. Nothing may be lost, no record reported as failed (so no
 * receive is spent on time), nothing dead-lettered, and no invocation may outlive its context.
 */
import type { SqsBatchHandler } from "../../infra/local/sqs-poller";
import { LogRecorder } from "../../shared/observability/telemetry";
import { startFullResync } from "../../shared/sync/full-resync/planner";
import { getDlqDepth } from "../../shared/sync/full-resync/progress";
import { TIME_BUDGET } from "../../shared/time-budget";
import { createHarness, diffOrders, type Harness, isFinished } from "./full-resync-harness";

/** Times each invocation against its context: what was left when it returned, and how long it took. */
function timed(invocations: { leftMs: number; tookMs: number; records: number }[]) {
  return (handler: SqsBatchHandler): SqsBatchHandler =>
    async (event, context) => {
      const started = Date.now();
      try {
        return await handler(event, context);
      } finally {
        invocations.push({
          leftMs: context.getRemainingTimeInMillis(),
          tookMs: Date.now() - started,
          records: event.Records.length,
        });
      }
    };
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
      orders: 200,
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

  it("processes what fits, hands the other records back, and loses nothing", async () => {
    const shopId = harness.shop.shopId;
    const job = await startFullResync(harness.deps, shopId);
    // Every answer takes 2.5 s: with 12.5 s in a context one page fits, a second no longer does.
    harness.emulator.configure({ latencyMs: 2_500 });
    const invocations: { leftMs: number; tookMs: number; records: number }[] = [];
    const poller = harness.startWorkers({
      concurrency: 2,
      batchSize: 5,
      functionTimeoutMs: TIME_BUDGET.pageStartMs + TIME_BUDGET.handlerEndMarginMs.worker + 2_500,
      wrap: timed(invocations),
    });
    const progress = await harness.waitForJob(job.jobId, isFinished, 240_000);
    expect(progress).toMatchObject({ status: "COMPLETED", orders: 200, windows: { failed: 0 } });
    expect(diffOrders(await harness.stored(), harness.truth())).toEqual({
      missing: [],
      extra: [],
      different: [],
    });
    // Records were left unstarted for lack of time, and handed back rather than failed.
    const handedBack = log.lines.filter((line) => line.message.includes("handed back")).length;
    expect(handedBack).toBeGreaterThan(0);
    expect(poller.stats.failed).toBe(0);
    expect(poller.stats.overruns).toBe(0);
    expect(invocations.every((invocation) => invocation.leftMs > 0)).toBe(true);
    expect(invocations.some((invocation) => invocation.records > 1)).toBe(true);
    expect(await getDlqDepth(harness.resources.sqs, harness.resources.deadLetterQueueUrl)).toBe(0);
  });
});

describe("a Retry-After longer than the time left", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await createHarness({
      label: "retryafter",
      orders: 300,
      emulatorClockOffsetSeconds: -600,
      maxReceiveCount: 2,
      visibilityTimeoutSeconds: 20,
    });
  });
  afterAll(() => harness.close());

  it("is not slept: the page goes back to the queue with its delay, never to the DLQ", async () => {
    const shopId = harness.shop.shopId;
    const job = await startFullResync(harness.deps, shopId);
    // One request per 10 s per shop: a 429 then says Retry-After: 10.
    harness.emulator.configure({ qps: 0.1, burst: 1 });
    harness.emulator.resetCounters();
    const invocations: { leftMs: number; tookMs: number; records: number }[] = [];
    const functionTimeoutMs = 12_000;
    const poller = harness.startWorkers({
      concurrency: 2,
      batchSize: 1,
      functionTimeoutMs,
      wrap: timed(invocations),
    });
    await waitUntil(
      () => harness.emulator.counters().byOutcome.rateLimited >= 2,
      60_000,
      "two throttled pages",
    );
    // Lift the limit so the re-sent pages finish the job.
    harness.emulator.configure({ qps: null });
    const progress = await harness.waitForJob(job.jobId, isFinished, 120_000);
    expect(progress).toMatchObject({ status: "COMPLETED", orders: 300, windows: { failed: 0 } });
    expect(progress.throttled).toBeGreaterThanOrEqual(2);
    expect(diffOrders(await harness.stored(), harness.truth())).toEqual({
      missing: [],
      extra: [],
      different: [],
    });
    expect(poller.stats.failed).toBe(0);
    expect(poller.stats.overruns).toBe(0);
    // A 10 s Retry-After slept inside a 12 s invocation would show here.
    expect(Math.max(...invocations.map((invocation) => invocation.tookMs))).toBeLessThan(8_000);
    expect(invocations.every((invocation) => invocation.leftMs > 0)).toBe(true);
    expect(await getDlqDepth(harness.resources.sqs, harness.resources.deadLetterQueueUrl)).toBe(0);
  });
});
