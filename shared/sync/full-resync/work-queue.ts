/** Sending work messages: SendMessageBatch in groups of 10, failed entries retried a few times. */
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { chunk } from "../../concurrency";
import { realSleep } from "../../tiktok/retry";
import { EnqueueError } from "./errors";
import { encodeWorkMessage, type WorkMessage } from "./messages";

/** SQS caps DelaySeconds at 15 minutes. */
export const MAX_DELAY_SECONDS = 900;

export interface WorkQueue {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
}

export interface OutgoingWork {
  readonly message: WorkMessage;
  readonly delaySeconds?: number;
}

const ATTEMPTS = 4;

/** Sends every message or throws EnqueueError naming how many could not be sent. */
export async function sendWork(queue: WorkQueue, work: readonly OutgoingWork[]): Promise<void> {
  let failed = 0;
  let lastError: unknown;
  for (const group of chunk(work, 10)) {
    let entries: SendMessageBatchRequestEntry[] = group.map((item, index) => ({
      Id: String(index),
      MessageBody: encodeWorkMessage(item.message),
      ...(item.delaySeconds
        ? { DelaySeconds: Math.min(MAX_DELAY_SECONDS, Math.ceil(item.delaySeconds)) }
        : {}),
    }));
    for (let attempt = 1; entries.length > 0 && attempt <= ATTEMPTS; attempt += 1) {
      if (attempt > 1) await realSleep(100 * 2 ** attempt);
      try {
        const response = await queue.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: queue.queueUrl, Entries: entries }),
        );
        const failedIds = new Set((response.Failed ?? []).map((entry) => entry.Id));
        entries = entries.filter((entry) => failedIds.has(entry.Id));
      } catch (error) {
        lastError = error;
      }
    }
    failed += entries.length;
  }
  if (failed > 0) throw new EnqueueError(failed, { cause: lastError });
}
