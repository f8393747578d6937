/**
 * Full resync under failure: duplicate deliveries, a worker killed at each crash point, a message
 * that always fails (DLQ, status, redrive), a restarted SQS emulator recovered by the reconciler,
 * throttling and refused page tokens. Every run must end equal to the emulator's truth, with each
 * order counted exactly once.
 */
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { makeWorkerHandler } from "../../functions/worker/handler-core";
import { startSqsEmulator } from "../../infra/local/emulators";
import { createQueues } from "../../infra/local/provision";
import { startSqsPoller } from "../../infra/local/sqs-poller";
import { createSqsClient } from "../../shared/aws-clients";
import { MetricName } from "../../shared/observability/metric-names";
import { silentLog } from "../../shared/observability/telemetry";
import { queueDepth, sqsDeadLetters, sqsWorkQueue } from "../../shared/queues/sqs-work-queue";
import type { CrashPoint, FullResyncDeps } from "../../shared/sync/full-resync/deps";
import { resumeJob, settleJob } from "../../shared/sync/full-resync/lifecycle";
import { startFullResync } from "../../shared/sync/full-resync/planner";
import { getJobProgress } from "../../shared/sync/full-resync/progress";
import { reconcileJobs } from "../../shared/sync/full-resync/reconciler";
import { uniqueNamespace } from "../support/local-aws";
import { createHarness, diffOrders, type Harness, isFinished } from "./full-resync-harness";

jest.setTimeout(600_000);

class SimulatedCrash extends Error {
  constructor(point: CrashPoint) {
    super(`simulated crash ${point}`);
    this.name = "SimulatedCrash";
  }
}

/** Every SendMessageBatch is sent twice: each work message is delivered (at least) twice. */
function duplicatingSqs(sqs: SQSClient): SQSClient {
  return new Proxy(sqs, {
    get(target, property, receiver) {
      if (property !== "send") return Reflect.get(target, property, receiver);
      return async (command: never, options?: never) => {
        const result = await target.send(command, options);
        if ((command as unknown) instanceof SendMessageBatchCommand) {
          const input = (command as SendMessageBatchCommand).input;
          await target.send(
            new SendMessageBatchCommand({
              ...input,
              Entries: (input.Entries ?? []).map((entry) => ({ ...entry, Id: `${entry.Id}-dup` })),
            }),
          );
        }
        return result;
      };
    },
  });
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in time`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("duplicate deliveries and a worker killed at each crash point", () => {
  const points: CrashPoint[] = ["after-upsert", "after-window-transaction", "after-send"];
  const crashes = new Map<CrashPoint, number>(points.map((point) => [point, 0]));
  /** Crashes inside a split that keeps its page (the window's first page, written, then split). */
  const splitCrashes = new Map<CrashPoint, number>(points.map((point) => [point, 0]));
  /** The point each split window crashes at: the splits take the three points in turn. */
  const splitPoint = new Map<number, CrashPoint>();
  let harness: Harness;
  beforeAll(async () => {
    harness = await createHarness({
      label: "crash",
      orders: 1_000,
      emulatorClockOffsetSeconds: -600,
      visibilityTimeoutSeconds: 4,
      // Windows of 300 orders at most, split in two at a time: the whole-range window's first page and
      // then its children's split again (three splits at least), each keeping the page it read.
      settings: { pageBudget: 3, maxSplitFanout: 2 },
      wrapSqs: duplicatingSqs,
      deps: {
        // First receive only, a third of the steps per point: the redelivery must repair each one.
        crashAt: (point, context) => {
          if (context.receiveCount !== 1) return;
          if (context.split) {
            if (!splitPoint.has(context.window)) {
              splitPoint.set(context.window, points[splitPoint.size % points.length] as CrashPoint);
            }
            if (splitPoint.get(context.window) !== point) return;
            splitCrashes.set(point, (splitCrashes.get(point) ?? 0) + 1);
          } else if ((context.window * 7 + context.sequence) % 3 !== points.indexOf(point)) {
            return;
          }
          crashes.set(point, (crashes.get(point) ?? 0) + 1);
          throw new SimulatedCrash(point);
        },
      },
    });
  });
  afterAll(() => harness.close());

  it("ends equal to the truth with every order counted once", async () => {
    const job = await startFullResync(harness.deps, harness.shop.shopId);
    harness.startWorkers({ concurrency: 3 });
    const progress = await harness.waitForJob(job.jobId, isFinished, 300_000);
    expect(progress.status).toBe("COMPLETED");
    for (const point of points) expect(crashes.get(point)).toBeGreaterThan(0);
    // Splits kept their page through a crash at each point; the calls show no page read for nothing.
    expect(progress.splits).toBeGreaterThanOrEqual(3);
    for (const point of points) expect(splitCrashes.get(point)).toBeGreaterThan(0);
    const windows = await harness.deps.windows.listWindows(harness.shop.shopId, job.jobId);
    const carrying = windows.filter((window) => (window.carried ?? 0) > 0);
    expect(carrying.length).toBe(progress.splits);
    expect(diffOrders(await harness.stored(), harness.truth())).toEqual({
      missing: [],
      extra: [],
      different: [],
    });
    // Exactly once despite duplicates and crashes: counts commit only with the window's step.
    expect(progress).toMatchObject({ orders: 1_000, windows: { failed: 0, open: 0 } });
    expect(progress.inserted + progress.unchanged).toBe(1_000);
    expect((await harness.deps.state.getMeta(harness.shop.shopId))?.records_synced).toBe(1_000);
    expect(await queueDepth(harness.resources.sqs, harness.resources.deadLetterQueueUrl)).toBe(0);
  });
});

describe("a message that always fails", () => {
  let failing = true;
  let harness: Harness;
  beforeAll(async () => {
    harness = await createHarness({
      label: "dlq",
      orders: 600,
      emulatorClockOffsetSeconds: -600,
      // Long enough that a healthy batch on a loaded 2-core runner is not received a second time
      // (with maxReceiveCount 2, two slow receives would dead-letter it after the redrive).
      visibilityTimeoutSeconds: 5,
      maxReceiveCount: 2,
      settings: { pageBudget: 2 },
      deps: {
        crashAt: (point, context) => {
          if (failing && context.window === 1 && point === "after-upsert") throw new SimulatedCrash(point);
        },
      },
    });
  });
  afterAll(() => harness.close());

  it("reaches the DLQ, shows in status, and a redrive (resumeJob) completes the job", async () => {
    const shopId = harness.shop.shopId;
    const job = await startFullResync(harness.deps, shopId);
    // One planned window (0), split on its first page: window 1 is its first child, carrying that page.
    expect(job.windows).toBe(1);
    harness.startWorkers({ concurrency: 2 });
    const failed = await harness.waitForJob(job.jobId, isFinished, 240_000);
    expect(failed).toMatchObject({ status: "FAILED", windows: { failed: 1, open: 0 } });
    expect(failed.failed_windows?.[0]).toMatchObject({ window: 1 });
    expect(failed.failed_windows?.[0]?.reason).toMatch(/failed 2 times.*SimulatedCrash/);
    expect((await harness.deps.windows.getWindow(shopId, job.jobId, 1))?.carried).toBeGreaterThan(0);
    expect(failed.windows.total).toBeGreaterThanOrEqual(3);
    const dlq = harness.resources.deadLetterQueueUrl;
    // SQS moves the message on the receive after its last attempt: the poller keeps polling.
    await waitUntil(async () => (await queueDepth(harness.resources.sqs, dlq)) === 1, 30_000, "DLQ depth 1");
    // A FAILED job releases the shop's slot.
    expect((await harness.deps.jobs.getJobPointers(shopId)).runningJobId).toBeUndefined();

    failing = false;
    const resumed = await resumeJob(harness.deps, shopId, job.jobId);
    expect(resumed).toMatchObject({ status: "RUNNING", reopened: 1, requeued: 1, deadLettersRemoved: 1 });
    const done = await harness.waitForJob(job.jobId, isFinished, 180_000);
    expect(done).toMatchObject({ status: "COMPLETED", orders: 600, windows: { failed: 0, open: 0 } });
    expect(diffOrders(await harness.stored(), harness.truth())).toEqual({
      missing: [],
      extra: [],
      different: [],
    });
    expect(await queueDepth(harness.resources.sqs, dlq)).toBe(0);
  });
});

describe("the SQS emulator restarted mid-job", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await createHarness({ label: "restart", orders: 1_000, emulatorClockOffsetSeconds: -600 });
  });
  afterAll(() => harness.close());

  it("loses the queue's messages; the reconciler re-enqueues the windows and finishes the job", async () => {
    const shopId = harness.shop.shopId;
    let sqsService = await startSqsEmulator();
    const sqs = createSqsClient({ sqsEndpoint: sqsService.endpoint });
    const namespace = uniqueNamespace("restart");
    // Stall detection is 2× visibility: keep it well above a page's time on a loaded DynamoDB Local, so
    // only the windows the restart really orphaned are re-enqueued (and none exhausts its re-queues).
    const overrides = { visibilityTimeoutSeconds: 10, maxReceiveCount: 5 };
    const queues = await createQueues(sqs, namespace, overrides);
    const deps: FullResyncDeps = {
      ...harness.deps,
      workQueue: sqsWorkQueue(sqs, queues.workQueueUrl),
      deadLetters: sqsDeadLetters(sqs, queues.deadLetterQueueUrl),
      settings: { ...harness.deps.settings, visibilityTimeoutSeconds: 10, pageBudget: 2, maxRequeues: 20 },
    };
    const poller = startSqsPoller({
      sqs,
      queueUrl: queues.workQueueUrl,
      handler: makeWorkerHandler(deps),
      batchSize: 1,
      concurrency: 2,
      waitTimeSeconds: 1,
      log: silentLog,
    });
    try {
      const job = await startFullResync(deps, shopId);
      // One planned window, split by its first page into windows of at most 200 orders.
      expect(job.windows).toBe(1);
      await waitUntil(
        async () => ((await getJobProgress(deps, shopId, job.jobId))?.orders ?? 0) >= 200,
        60_000,
        "first pages",
      );
      expect((await getJobProgress(deps, shopId, job.jobId))?.windows.total).toBeGreaterThanOrEqual(4);
      await sqsService.stop();
      sqsService = await startSqsEmulator({ port: sqsService.port });
      expect(await createQueues(sqs, namespace, overrides)).toEqual(queues);

      let requeued = 0;
      await waitUntil(
        async () => {
          requeued += (await reconcileJobs(deps, shopId)).requeued;
          return isFinished(
            (await getJobProgress(deps, shopId, job.jobId)) ?? ({ status: "RUNNING" } as never),
          );
        },
        300_000,
        "job finished after the restart",
      );
      const progress = await getJobProgress(deps, shopId, job.jobId);
      expect(progress).toMatchObject({ status: "COMPLETED", orders: 1_000 });
      expect(requeued).toBeGreaterThan(0);
      expect(harness.metrics.sum(MetricName.JobStalled)).toBe(requeued);
      expect(diffOrders(await harness.stored(), harness.truth())).toEqual({
        missing: [],
        extra: [],
        different: [],
      });
    } finally {
      await poller.stop();
      sqs.destroy();
      await sqsService.stop();
    }
  });
});

describe("throttling and refused page tokens", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await createHarness({
      label: "faults",
      orders: 800,
      emulatorClockOffsetSeconds: -600,
      settings: { pageBudget: 4 },
      // No client retries: every 429 reaches the worker.
      retry: { maxAttempts: 1 },
    });
  });
  afterAll(() => harness.close());

  it("re-sends throttled pages with a delay (no DLQ); restarts windows from their checkpoint", async () => {
    const shopId = harness.shop.shopId;
    const job = await startFullResync(harness.deps, shopId);
    harness.emulator.failNext({ count: 4, endpoint: "searchOrders", fault: "rateLimit" });
    harness.emulator.failNext({ count: 3, endpoint: "searchOrders", fault: "expiredPageToken" });
    harness.startWorkers({ concurrency: 2 });
    const progress = await harness.waitForJob(job.jobId, isFinished, 240_000);
    expect(progress).toMatchObject({
      status: "COMPLETED",
      orders: 800,
      throttled: 4,
      windows: { failed: 0 },
    });
    expect(progress.restarts).toBe(3);
    expect(harness.metrics.sum(MetricName.ApiThrottled)).toBe(4);
    expect(diffOrders(await harness.stored(), harness.truth())).toEqual({
      missing: [],
      extra: [],
      different: [],
    });
    expect(await queueDepth(harness.resources.sqs, harness.resources.deadLetterQueueUrl)).toBe(0);
  });
});

describe("finalize", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await createHarness({
      label: "final",
      orders: 150,
      emulatorClockOffsetSeconds: -600,
      // Long enough that the crashed message cannot come back (and finalize) while the test looks.
      visibilityTimeoutSeconds: 120,
      deps: {
        // The window's last step (its second page) commits, then the worker dies before finalizing.
        crashAt: (point, context) => {
          if (point === "after-window-transaction" && context.sequence === 1 && context.receiveCount === 1) {
            throw new SimulatedCrash(point);
          }
        },
      },
    });
  });
  afterAll(() => harness.close());

  it("happens exactly once, even when many try at the same time", async () => {
    const shopId = harness.shop.shopId;
    const job = await startFullResync(harness.deps, shopId);
    expect(job.windows).toBe(1);
    const poller = harness.startWorkers({ concurrency: 1 });
    await waitUntil(
      async () => (await getJobProgress(harness.deps, shopId, job.jobId))?.windows.done === 1,
      60_000,
      "last window closed",
    );
    // The crashed message stays invisible for the visibility timeout: nobody has finalized yet.
    await poller.stop({ abortPolls: false });
    expect(await getJobProgress(harness.deps, shopId, job.jobId)).toMatchObject({ status: "RUNNING" });

    const outcomes = await Promise.all(
      Array.from({ length: 6 }, () => settleJob(harness.deps, shopId, job.jobId)),
    );
    expect(outcomes.filter((outcome) => outcome === "finalized")).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome !== "finalized")).toEqual(Array(5).fill("not-running"));
    const after = await getJobProgress(harness.deps, shopId, job.jobId);
    expect(after).toMatchObject({ status: "COMPLETED", orders: 150 });
    expect(harness.metrics.last(MetricName.JobWindowsOpen)).toBe(0);
    expect(await harness.deps.state.getMeta(shopId)).toMatchObject({
      sync_type: "full",
      records_synced: 150,
      last_sync_time: after?.finished,
    });
    expect((await harness.deps.jobs.getJobPointers(shopId)).runningJobId).toBeUndefined();
  });
});
