/** The webhook queue on SQS, as the receiver (one event per request) and the consumer (hand-backs) write it. */
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { WebhookQueuePort } from "../webhooks/consumer";
import { encodeWebhookMessage, type WebhookMessage } from "../webhooks/events";
import { sendInBatches } from "./sqs-send";

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

const SEND_ATTEMPTS = 3;

/** The consumer's hand-backs: refused entries retried, then a WebhookEnqueueError. */
export function webhookQueuePort(sqs: SQSClient, queueUrl: string): WebhookQueuePort {
  return {
    async send(messages) {
      const { unsent, lastError } = await sendInBatches(sqs, queueUrl, messages, SEND_ATTEMPTS);
      if (unsent > 0) throw new WebhookEnqueueError(unsent, { cause: lastError });
    },
  };
}
