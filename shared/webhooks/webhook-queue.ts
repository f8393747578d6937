/** The webhook queue as the receiver (one event per request) and the consumer (hand-backs) write it. */
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { chunk } from "../concurrency";
import type { WebhookQueuePort } from "./consumer";
import { encodeWebhookMessage, type WebhookMessage } from "./events";

export class WebhookEnqueueError extends Error {
  constructor(
    readonly unsent: number,
    options?: { cause?: unknown },
  ) {
    super(`${unsent} webhook message(s) could not be sent to the webhook queue`, options);
    this.name = "WebhookEnqueueError";
  }
}

/** The receiver's one message per verified event. */
export function webhookSender(sqs: SQSClient, queueUrl: string): (message: WebhookMessage) => Promise<void> {
  return async (message) => {
    await sqs.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: encodeWebhookMessage(message) }),
    );
  };
}

const ATTEMPTS = 3;

/** The consumer's hand-backs: SendMessageBatch by tens, refused entries retried, then an error. */
export function webhookQueuePort(sqs: SQSClient, queueUrl: string): WebhookQueuePort {
  return {
    async send(messages) {
      let unsent = 0;
      let lastError: unknown;
      for (const group of chunk(messages, 10)) {
        let entries: SendMessageBatchRequestEntry[] = group.map((message, index) => ({
          Id: String(index),
          MessageBody: message.body,
          ...(message.delaySeconds ? { DelaySeconds: message.delaySeconds } : {}),
        }));
        for (let attempt = 1; entries.length > 0 && attempt <= ATTEMPTS; attempt += 1) {
          if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
          try {
            const response = await sqs.send(
              new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
            );
            const failed = new Set((response.Failed ?? []).map((entry) => entry.Id));
            entries = entries.filter((entry) => failed.has(entry.Id));
          } catch (error) {
            lastError = error;
          }
        }
        unsent += entries.length;
      }
      if (unsent > 0) throw new WebhookEnqueueError(unsent, { cause: lastError });
    },
  };
}
