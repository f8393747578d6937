/** The full resync's work queue and dead-letter queue on SQS (ports: shared/sync/full-resync/work-queue.ts). */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { encodeWorkMessage, parseWorkMessage, type WorkMessage } from "../sync/full-resync/messages";
import { EnqueueError } from "../sync/full-resync/resync-errors";
import type { DeadLetterPort, WorkQueuePort } from "../sync/full-resync/work-queue";
import { sendInBatches } from "./sqs-send";

const SEND_ATTEMPTS = 4;
/** Receive rounds of a dead-letter cleanup at most (10 messages each). */
const CLEANUP_ROUNDS = 50;

export function sqsWorkQueue(sqs: SQSClient, queueUrl: string): WorkQueuePort {
  return {
    async send(work) {
      const messages = work.map((item) => ({
        body: encodeWorkMessage(item.message),
        delaySeconds: item.delaySeconds,
      }));
      const { unsent, lastError } = await sendInBatches(sqs, queueUrl, messages, SEND_ATTEMPTS);
      if (unsent > 0) throw new EnqueueError(unsent, { cause: lastError });
    },
  };
}

/** ApproximateNumberOfMessages of a queue. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
}

/**
 * The DLQ. Removing a job's dead letters receives and deletes them (the local SQS emulator has no
 * StartMessageMoveTask); the others it received are released at once.
 */
export function sqsDeadLetters(sqs: SQSClient, queueUrl: string): DeadLetterPort {
  const release = async (messages: readonly Message[]) => {
    if (messages.length === 0) return;
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle as string,
          VisibilityTimeout: 0,
        })),
      }),
    );
  };
  return {
    depth: () => queueDepth(sqs, queueUrl),
    async remove(matches) {
      const seen = new Set<string>();
      let removed = 0;
      for (let round = 0; round < CLEANUP_ROUNDS; round += 1) {
        const { Messages: messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }),
        );
        const fresh = messages.filter((message) => message.MessageId && !seen.has(message.MessageId));
        if (fresh.length === 0) {
          await release(messages);
          break;
        }
        const selected: Message[] = [];
        const others: Message[] = [];
        for (const message of messages) {
          seen.add(message.MessageId as string);
          let parsed: WorkMessage | undefined;
          try {
            parsed = parseWorkMessage(message.Body ?? "");
          } catch {
            parsed = undefined;
          }
          (parsed && matches(parsed) ? selected : others).push(message);
        }
        if (selected.length > 0) {
          const response = await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: selected.map((message, index) => ({
                Id: String(index),
                ReceiptHandle: message.ReceiptHandle as string,
              })),
            }),
          );
          removed += response.Successful?.length ?? 0;
        }
        await release(others);
      }
      return removed;
    },
  };
}
