/**
 * A work message pages its window on while time allows (a run), fetching each next page while the
 * current one is written; every step commits as a message of its own would. Covered here on the real
 * queue and tables: a whole window in one message, one page a message when runs are off, a later
 * step's failure handed off as a fresh message, and a crash inside a run re-sending the continuation.
 */
import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { OrderStore } from "../../shared/store/order-store";
import type { CrashPoint, FullResyncDeps } from "../../shared/sync/full-resync/deps";
import { parseWorkMessage } from "../../shared/sync/full-resync/messages";
import { startFullResync } from "../../shared/sync/full-resync/planner";
import { getJobProgress } from "../../shared/sync/full-resync/progress";
import { processWindowMessage, type WorkRecord } from "../../shared/sync/full-resync/worker";
import { createHarness, diffOrders, type Harness } from "./full-resync-harness";

jest.setTimeout(120_000);

const ORDERS = 450;
/** 450 orders, 100 a page: one window of five pages. */
const PAGES = 5;

class SimulatedCrash extends Error {
  constructor(point: CrashPoint) {
    super(`simulated crash ${point}`);
    this.name = "SimulatedCrash";
  }
}

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness({
    label: "runs",
    orders: ORDERS,
    emulatorClockOffsetSeconds: -600,
    // A 60 s visibility timeout lets a message run for 20 s: the whole window.
    visibilityTimeoutSeconds: 60,
  });
});
afterAll(() => harness.close());

/** The next work message on the queue (deleted: each test acknowledges by hand), or undefined. */
async function nextMessage(waitSeconds = 1): Promise<WorkRecord | undefined> {
  const { sqs, workQueueUrl } = harness.resources;
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: workQueueUrl,
      WaitTimeSeconds: waitSeconds,
      MaxNumberOfMessages: 1,
      MessageSystemAttributeNames: ["ApproximateReceiveCount"],
    }),
  );
  const message = received.Messages?.[0];
  if (!message?.MessageId || !message.Body) return undefined;
  await sqs.send(new DeleteMessageCommand({ QueueUrl: workQueueUrl, ReceiptHandle: message.ReceiptHandle }));
  return {
    messageId: message.MessageId,
    body: message.Body,
    attributes: { ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? "1" },
  };
}

async function startJob(): Promise<{ jobId: string; record: WorkRecord }> {
  const job = await startFullResync(harness.deps, harness.shop.shopId);
  expect(job.windows).toBe(1);
  const record = await nextMessage();
  if (!record) throw new Error("the planner enqueued no work message");
  return { jobId: job.jobId, record };
}

async function expectCompleteOnce(jobId: string) {
  const progress = await getJobProgress(harness.deps, harness.shop.shopId, jobId);
  expect(progress).toMatchObject({ status: "COMPLETED", orders: ORDERS, pages: PAGES });
  const diff = diffOrders(await harness.stored(), harness.truth());
  expect(diff).toEqual({ missing: [], extra: [], different: [] });
}

it("pages a whole window in one message when time allows, and sends no continuation", async () => {
  const { jobId, record } = await startJob();
  const searchesBefore = harness.emulator.counters().successfulSearchCalls;
  expect(await processWindowMessage(harness.deps, record)).toBe("done");
  await expectCompleteOnce(jobId);
  // Each page fetched once: the next one while the current one was written, none thrown away.
  expect(harness.emulator.counters().successfulSearchCalls - searchesBefore).toBe(PAGES);
  expect(await nextMessage(0)).toBeUndefined();
});

it("sends a continuation after each page when runs are off (maxRunMs 0)", async () => {
  const deps: FullResyncDeps = { ...harness.deps, settings: { ...harness.deps.settings, maxRunMs: 0 } };
  const first = await startJob();
  const { jobId } = first;
  let record: WorkRecord | undefined = first.record;
  const outcomes: string[] = [];
  while (record) {
    outcomes.push(await processWindowMessage(deps, record));
    record = await nextMessage(0);
  }
  expect(outcomes).toEqual([...Array(PAGES - 1).fill("advanced"), "done"]);
  await expectCompleteOnce(jobId);
});

it("hands a later step's failure off as a fresh message, and that message finishes the window", async () => {
  let upserts = 0;
  const failingOrders = new Proxy(harness.deps.orders, {
    get(target, property, receiver) {
      if (property !== "upsert") return Reflect.get(target, property, receiver);
      return (...args: Parameters<OrderStore["upsert"]>) => {
        upserts += 1;
        if (upserts === 3) throw new Error("DynamoDB unavailable (injected)");
        return target.upsert(...args);
      };
    },
  });
  const deps: FullResyncDeps = { ...harness.deps, orders: failingOrders };
  const { jobId, record } = await startJob();
  expect(await processWindowMessage(deps, record)).toBe("handed-back");
  const window = await harness.deps.windows.getWindow(harness.shop.shopId, jobId, 0);
  expect(window?.seq).toBe(2);
  const handedOff = await nextMessage();
  expect(handedOff && parseWorkMessage(handedOff.body)).toMatchObject({ window: 0, sequence: 2 });
  expect(handedOff?.attributes?.ApproximateReceiveCount).toBe("1");
  expect(await processWindowMessage(deps, handedOff as WorkRecord)).toBe("done");
  await expectCompleteOnce(jobId);
});

it("re-sends the continuation when the worker dies inside a run, and every order counts once", async () => {
  let crashed = false;
  const deps: FullResyncDeps = {
    ...harness.deps,
    crashAt: (point, context) => {
      if (!crashed && point === "after-window-transaction" && context.sequence === 2) {
        crashed = true;
        throw new SimulatedCrash(point);
      }
    },
  };
  const { jobId, record } = await startJob();
  await expect(processWindowMessage(deps, record)).rejects.toThrow("simulated crash");
  // SQS delivers the same message again: it committed steps 0–2, so it sends the window on from 3.
  const redelivery = { ...record, attributes: { ApproximateReceiveCount: "2" } };
  expect(await processWindowMessage(deps, redelivery)).toBe("resent");
  const continuation = await nextMessage();
  expect(continuation && parseWorkMessage(continuation.body)).toMatchObject({ window: 0, sequence: 3 });
  expect(await processWindowMessage(deps, continuation as WorkRecord)).toBe("done");
  await expectCompleteOnce(jobId);
});
