/**
 * The local twin of Lambda's SQS event source mapping, against the SQS emulator: SQSEvent shape,
 * batching, partial batch failures with redelivery after the visibility timeout, the DLQ after
 * maxReceiveCount, whole-batch failure on a throw, bounded concurrency and a draining stop.
 */
import { GetQueueAttributesCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { type SqsBatchHandler, type SqsPoller, startSqsPoller } from "../../infra/local/sqs-poller";
import { silentLog } from "../../shared/observability/telemetry";
import { createTestResources, type TestResources } from "../support/local-aws";

jest.setTimeout(240_000);

let resources: TestResources | undefined;
let poller: SqsPoller | undefined;
afterEach(async () => {
  await poller?.stop();
  resources?.destroy();
  poller = undefined;
  resources = undefined;
});

async function setup(queues: { visibilityTimeoutSeconds: number; maxReceiveCount: number }) {
  resources = await createTestResources({ label: "poller", queues });
  return resources;
}

async function send(res: TestResources, bodies: readonly string[]) {
  for (let start = 0; start < bodies.length; start += 10) {
    await res.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: res.workQueueUrl,
        Entries: bodies
          .slice(start, start + 10)
          .map((body, index) => ({ Id: String(index), MessageBody: body })),
      }),
    );
  }
}

async function depth(res: TestResources, url: string) {
  const { Attributes } = await res.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "QueueArn"],
    }),
  );
  return {
    visible: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
    arn: Attributes?.QueueArn,
  };
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function start(
  res: TestResources,
  handler: SqsBatchHandler,
  options: { batchSize?: number; concurrency?: number },
) {
  poller = startSqsPoller({
    sqs: res.sqs,
    queueUrl: res.workQueueUrl,
    handler,
    batchSize: options.batchSize ?? 10,
    concurrency: options.concurrency ?? 1,
    waitTimeSeconds: 1,
    log: silentLog,
  });
  return poller;
}

it("hands batches to the handler as Lambda SQS events and deletes what succeeded", async () => {
  const res = await setup({ visibilityTimeoutSeconds: 5, maxReceiveCount: 3 });
  const events: SQSEvent[] = [];
  await send(res, ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
  const running = start(
    res,
    async (event) => {
      events.push(event);
      return { batchItemFailures: [] };
    },
    { batchSize: 3 },
  );
  await waitFor(() => running.stats.succeeded === 7);
  const records = events.flatMap((event) => event.Records);
  expect(records.map((record) => record.body).sort()).toEqual(["m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
  for (const event of events) expect(event.Records.length).toBeLessThanOrEqual(3);
  const { arn } = await depth(res, res.workQueueUrl);
  expect(records[0]).toMatchObject<Partial<SQSRecord>>({
    eventSource: "aws:sqs",
    eventSourceARN: arn as string,
    attributes: expect.objectContaining({ ApproximateReceiveCount: "1" }),
  });
  expect(records[0]?.messageId).toMatch(/\S/);
  expect(records[0]?.receiptHandle).toMatch(/\S/);
  await running.stop({ abortPolls: false });
  expect(await depth(res, res.workQueueUrl)).toMatchObject({ visible: 0, inFlight: 0 });
});

it("retries only the failed records, after the visibility timeout, with a higher receive count", async () => {
  const res = await setup({ visibilityTimeoutSeconds: 2, maxReceiveCount: 5 });
  const seen: { body: string; receiveCount: string; at: number }[] = [];
  await send(res, ["ok", "fail-once"]);
  start(
    res,
    async (event): Promise<SQSBatchResponse> => {
      const failures: SQSBatchResponse["batchItemFailures"] = [];
      for (const record of event.Records) {
        seen.push({
          body: record.body,
          receiveCount: record.attributes.ApproximateReceiveCount,
          at: Date.now(),
        });
        if (record.body === "fail-once" && record.attributes.ApproximateReceiveCount === "1") {
          failures.push({ itemIdentifier: record.messageId });
        }
      }
      return { batchItemFailures: failures };
    },
    {},
  );
  await waitFor(() => seen.some((entry) => entry.body === "fail-once" && entry.receiveCount === "2"));
  const attempts = seen.filter((entry) => entry.body === "fail-once");
  expect(attempts.map((entry) => entry.receiveCount)).toEqual(["1", "2"]);
  expect((attempts[1]?.at ?? 0) - (attempts[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_500);
  expect(seen.filter((entry) => entry.body === "ok")).toHaveLength(1);
});

it("moves a record that always fails to the DLQ after maxReceiveCount receives", async () => {
  const res = await setup({ visibilityTimeoutSeconds: 1, maxReceiveCount: 2 });
  let attempts = 0;
  await send(res, ["poison"]);
  start(
    res,
    async (event) => {
      attempts += event.Records.length;
      return { batchItemFailures: event.Records.map((record) => ({ itemIdentifier: record.messageId })) };
    },
    {},
  );
  await waitFor(async () => (await depth(res, res.deadLetterQueueUrl)).visible === 1);
  expect(attempts).toBe(2);
});

it("fails the whole batch when the handler throws", async () => {
  const res = await setup({ visibilityTimeoutSeconds: 1, maxReceiveCount: 5 });
  const counts = new Map<string, string[]>();
  let calls = 0;
  await send(res, ["a", "b", "c"]);
  start(
    res,
    async (event) => {
      calls += 1;
      for (const record of event.Records) {
        counts.set(record.body, [
          ...(counts.get(record.body) ?? []),
          record.attributes.ApproximateReceiveCount,
        ]);
      }
      if (calls === 1) throw new Error("boom");
      return { batchItemFailures: [] };
    },
    {},
  );
  await waitFor(() => ["a", "b", "c"].every((body) => (counts.get(body) ?? []).length >= 1));
  const first = [...counts.entries()].filter(([, receives]) => receives[0] === "1").map(([body]) => body);
  // Every record of the thrown batch is delivered again with receive count 2.
  await waitFor(() => first.every((body) => (counts.get(body) ?? []).includes("2")));
});

it("bounds concurrency and drains in-flight batches on stop", async () => {
  const res = await setup({ visibilityTimeoutSeconds: 30, maxReceiveCount: 5 });
  await send(res, ["1", "2", "3", "4", "5", "6"]);
  let inFlight = 0;
  let maxInFlight = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const running = start(
    res,
    async () => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await gate;
      inFlight -= 1;
      return { batchItemFailures: [] };
    },
    { batchSize: 1, concurrency: 2 },
  );
  await waitFor(() => inFlight === 2);
  let stopped = false;
  const stopping = running.stop({ abortPolls: false }).then(() => {
    stopped = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(stopped).toBe(false);
  release();
  await stopping;
  expect(maxInFlight).toBe(2);
  expect(running.stats).toMatchObject({ batches: 2, succeeded: 2, failed: 0 });
  // The two handled messages were deleted; the other four are back in the queue, visible.
  await waitFor(async () => (await depth(res, res.workQueueUrl)).visible === 4);
  expect((await depth(res, res.workQueueUrl)).inFlight).toBe(0);
});
