/**
 * The local twin of Lambda's SQS event source mapping: long-polls the queue, hands batches to the
 * SAME handler as an SQSEvent (messageId, receiptHandle, body, attributes.ApproximateReceiveCount,
 * eventSourceARN, …), honours partial batch responses (deletes only the records not reported as
 * failures; failed ones become visible again when their visibility timeout runs out, so SQS counts
 * receives and moves them to the DLQ after maxReceiveCount), and runs at most `concurrency` batches
 * at once. A handler that throws fails its whole batch, as on Lambda. `stop()` ends polling and
 * waits for the batches in flight. Each batch gets a Lambda-like context with the worker's timeout
 * (WORKER_TIMEOUT_SECONDS), so the handler sees the same remaining time as on AWS; a batch that
 * outlives it (Lambda would have killed it) is counted in `stats.overruns` and logged.
 */
import { randomUUID } from "node:crypto";
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from "aws-lambda";
import type { LogPort } from "../../shared/observability/telemetry";
import { WORKER_TIMEOUT_SECONDS } from "../../shared/resources";
import { localLambdaContext } from "./lambda-context";

export type SqsBatchHandler = (
  event: SQSEvent,
  context: Context,
) => Promise<SQSBatchResponse | undefined | undefined>;

export interface SqsPollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly handler: SqsBatchHandler;
  /** Records per batch, 1–10 (default 10); up to 10,000 with a batching window, as on Lambda. */
  readonly batchSize?: number;
  /**
   * Lambda's MaximumBatchingWindowInSeconds (here in ms): after the first message arrives, keep
   * receiving until `batchSize` records or this long, then invoke once. 0 (default): one receive.
   */
  readonly batchingWindowMs?: number;
  /** Batches in flight at once, like the function's maximum concurrency (default 4). */
  readonly concurrency?: number;
  /** Long-poll wait, 0–20 s (default 20). */
  readonly waitTimeSeconds?: number;
  /** Overrides the queue's visibility timeout on receive. */
  readonly visibilityTimeoutSeconds?: number;
  /** Reported to the handler as the remaining time (default WORKER_TIMEOUT_SECONDS, as on AWS). */
  readonly functionTimeoutMs?: number;
  readonly log: LogPort;
}

export interface SqsPollerStats {
  batches: number;
  records: number;
  succeeded: number;
  failed: number;
  receiveErrors: number;
  /** Batches whose handler returned after its context's time ran out (a Lambda timeout on AWS). */
  overruns: number;
}

export interface StopOptions {
  /**
   * Abort long polls in flight (default true: stops at once). A server may still hand messages to
   * an aborted receive; they reappear after their visibility timeout, as with a real SQS client.
   * With false, stop waits for the polls (up to waitTimeSeconds) and returns anything they
   * received to the queue at once (visibility 0), unprocessed.
   */
  readonly abortPolls?: boolean;
}

export interface SqsPoller {
  readonly stats: Readonly<SqsPollerStats>;
  /** Stops receiving and resolves once every batch in flight has been handled and acknowledged. */
  stop(options?: StopOptions): Promise<void>;
}

function toLambdaAttributes(message: Message): SQSRecord["attributes"] {
  const attributes = message.Attributes ?? {};
  return {
    ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? "1",
    SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
    SenderId: attributes.SenderId ?? "000000000000",
    ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
  };
}

function toLambdaMessageAttributes(message: Message): SQSMessageAttributes {
  const result: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    result[name] = {
      dataType: value.DataType ?? "String",
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined
        ? { binaryValue: Buffer.from(value.BinaryValue).toString("base64") }
        : {}),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((item) => Buffer.from(item).toString("base64")),
    };
  }
  return result;
}

export function toSqsEvent(messages: readonly Message[], eventSourceARN: string, region: string): SQSEvent {
  return {
    Records: messages.map(
      (message): SQSRecord => ({
        messageId: message.MessageId ?? randomUUID(),
        receiptHandle: message.ReceiptHandle ?? "",
        body: message.Body ?? "",
        attributes: toLambdaAttributes(message),
        messageAttributes: toLambdaMessageAttributes(message),
        md5OfBody: message.MD5OfBody ?? "",
        eventSource: "aws:sqs",
        eventSourceARN,
        awsRegion: region,
      }),
    ),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const batchingWindowMs = Math.max(0, options.batchingWindowMs ?? 0);
  const batchSize = Math.min(batchingWindowMs > 0 ? 10_000 : 10, Math.max(1, options.batchSize ?? 10));
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const waitTimeSeconds = Math.min(20, Math.max(0, options.waitTimeSeconds ?? 20));
  const timeoutMs = options.functionTimeoutMs ?? WORKER_TIMEOUT_SECONDS * 1000;
  const { sqs, queueUrl, log } = options;
  const stats: SqsPollerStats = {
    batches: 0,
    records: 0,
    succeeded: 0,
    failed: 0,
    receiveErrors: 0,
    overruns: 0,
  };
  const abort = new AbortController();
  let stopping = false;
  let arn: string | undefined;

  const queueArn = async (): Promise<string> => {
    if (arn) return arn;
    try {
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
      );
      arn = Attributes?.QueueArn;
    } catch {
      // Derived below; a later batch asks again.
    }
    return arn ?? `arn:aws:sqs:local:000000000000:${queueUrl.split("/").pop() ?? "queue"}`;
  };

  const acknowledge = async (messages: readonly Message[], failedIds: ReadonlySet<string>) => {
    const entries = messages
      .filter((message) => message.MessageId && !failedIds.has(message.MessageId) && message.ReceiptHandle)
      .map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle as string }));
    // SQS takes at most 10 entries per batch request (a batching window gathers more).
    for (let start = 0; start < entries.length; start += 10) {
      try {
        const response = await sqs.send(
          new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries.slice(start, start + 10) }),
        );
        if (response.Failed?.length)
          log.warn("sqs poller: some deletes failed", { failed: response.Failed.length });
      } catch (error) {
        // Not deleted: they come back after the visibility timeout and are handled as duplicates.
        log.warn("sqs poller: delete failed", {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  };

  const handle = async (messages: Message[]) => {
    const region = typeof sqs.config.region === "function" ? await sqs.config.region() : "local";
    const event = toSqsEvent(messages, await queueArn(), region ?? "local");
    let failedIds: Set<string>;
    const context = localLambdaContext("local-worker", timeoutMs);
    try {
      const response = await options.handler(event, context);
      failedIds = new Set((response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
      if (context.getRemainingTimeInMillis() <= 0) {
        stats.overruns += 1;
        log.warn("sqs poller: the worker outlived its Lambda timeout (AWS would have killed it)", {
          records: messages.length,
          timeoutMs,
        });
      }
    } catch (error) {
      // As on Lambda: a thrown handler fails the whole batch.
      failedIds = new Set(event.Records.map((record) => record.messageId));
      log.warn("sqs poller: handler threw; the whole batch will be retried", {
        records: messages.length,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    stats.batches += 1;
    stats.records += messages.length;
    stats.failed += failedIds.size;
    stats.succeeded += messages.length - failedIds.size;
    await acknowledge(messages, failedIds);
  };

  const receive = async (max: number, wait: number): Promise<Message[]> => {
    const response = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.min(10, max),
        WaitTimeSeconds: wait,
        MessageSystemAttributeNames: ["All"],
        MessageAttributeNames: ["All"],
        ...(options.visibilityTimeoutSeconds !== undefined
          ? { VisibilityTimeout: options.visibilityTimeoutSeconds }
          : {}),
      }),
      { abortSignal: abort.signal },
    );
    return response.Messages ?? [];
  };

  /** The batching window: more receives until the batch is full or the window has passed. */
  const fill = async (messages: Message[]): Promise<void> => {
    const closesAt = Date.now() + batchingWindowMs;
    while (!stopping && messages.length < batchSize && Date.now() < closesAt) {
      const more = await receive(batchSize - messages.length, 0);
      if (more.length > 0) messages.push(...more);
      else await sleep(Math.min(50, Math.max(0, closesAt - Date.now())));
    }
  };

  const lane = async () => {
    let errors = 0;
    while (!stopping) {
      let messages: Message[];
      try {
        messages = await receive(batchSize, waitTimeSeconds);
        if (messages.length > 0 && batchingWindowMs > 0) await fill(messages);
        errors = 0;
      } catch (error) {
        if (stopping) break;
        stats.receiveErrors += 1;
        errors += 1;
        // Log the first of a streak only: a stopped emulator would otherwise flood the log.
        if (errors === 1) {
          log.warn("sqs poller: receive failed; retrying", {
            error: error instanceof Error ? error.message : String(error),
          });
        }
        await sleep(Math.min(2_000, 100 * 2 ** Math.min(errors, 5)));
        continue;
      }
      if (messages.length === 0) continue;
      if (stopping) await release(messages);
      else await handle(messages);
    }
  };

  /** Received while stopping: back to the queue unprocessed, visible again at once. */
  const release = async (messages: readonly Message[]) => {
    for (let start = 0; start < messages.length; start += 10) {
      try {
        await sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrl,
            Entries: messages.slice(start, start + 10).map((message, index) => ({
              Id: String(index),
              ReceiptHandle: message.ReceiptHandle as string,
              VisibilityTimeout: 0,
            })),
          }),
        );
      } catch {
        // They reappear after their visibility timeout instead.
      }
    }
  };

  const lanes = Array.from({ length: concurrency }, () => lane());
  let stopped: Promise<void> | undefined;
  return {
    stats,
    stop(stopOptions = {}) {
      stopped ??= (async () => {
        stopping = true;
        if (stopOptions.abortPolls ?? true) abort.abort();
        await Promise.all(lanes);
      })();
      return stopped;
    },
  };
}
