/** SendMessageBatch by tens with refused entries retried: the one send path of both queue adapters. */

import { setTimeout as sleep } from "node:timers/promises";
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { chunk } from "../concurrency";

/** SQS caps DelaySeconds at 15 minutes; longer delays are sent capped. */
export const MAX_DELAY_SECONDS = 900;

export interface OutgoingMessage {
  readonly body: string;
  readonly delaySeconds?: number | undefined;
}

/** Sends `messages` in batches of ten, each batch's refused entries retried `attempts` times in all. */
export async function sendInBatches(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly OutgoingMessage[],
  attempts: number,
): Promise<{ readonly unsent: number; readonly lastError?: unknown }> {
  let unsent = 0;
  let lastError: unknown;
  for (const group of chunk(messages, 10)) {
    let entries: SendMessageBatchRequestEntry[] = group.map((message, index) => ({
      Id: String(index),
      MessageBody: message.body,
      ...(message.delaySeconds
        ? { DelaySeconds: Math.min(MAX_DELAY_SECONDS, Math.ceil(message.delaySeconds)) }
        : {}),
    }));
    for (let attempt = 1; entries.length > 0 && attempt <= attempts; attempt += 1) {
      if (attempt > 1) await sleep(100 * 2 ** attempt);
      try {
        const response = await sqs.send(
          new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
        );
        const refused = new Set((response.Failed ?? []).map((entry) => entry.Id));
        entries = entries.filter((entry) => refused.has(entry.Id));
      } catch (error) {
        lastError = error;
      }
    }
    unsent += entries.length;
  }
  return { unsent, ...(lastError !== undefined ? { lastError } : {}) };
}
