/**
 * The full resync's work queue and its dead letters, as ports (the SQS adapter is
 * shared/queues/sqs-work-queue.ts; the queue's redrive moves a message failing too often to the DLQ).
 */
import type { WorkMessage } from "./messages";

export interface OutgoingWork {
  readonly message: WorkMessage;
  /** Delivered no sooner than this (capped at the queue's maximum delay). */
  readonly delaySeconds?: number;
}

export interface WorkQueuePort {
  /** Sends every message, or throws EnqueueError naming how many could not be sent. */
  send(work: readonly OutgoingWork[]): Promise<void>;
}

export interface DeadLetterPort {
  /** Messages waiting (approximate). */
  depth(): Promise<number>;
  /** Deletes the dead letters `matches` selects; the others are made visible again at once. */
  remove(matches: (message: WorkMessage) => boolean): Promise<number>;
}
