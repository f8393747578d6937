/**
 * The full-resync worker as an SQS batch handler (Lambda with ReportBatchItemFailures, or the local
 * poller): records are processed one after another (they may share a window chain and all share the
 * shop's request budget), each paging its window on for its share of the invocation's time (see
 * processWindowMessage: the time left, less a page's start margin, split evenly over the records not
 * yet started), then sending its continuation — so no record holds the others back, and a batch keeps
 * one page in flight plus the next one requested ahead, as many as DynamoDB takes without slowing every
 * page past the time budget. Each failing record becomes a batch item failure, so only it is retried
 * after the visibility timeout and, after maxReceiveCount receives, lands in the DLQ.
 *
 * Time: the invocation's deadline comes from the Lambda context, less an end margin (the response,
 * the metrics flush). A record is started only while a whole page still fits
 * (TIME_BUDGET.pageStartMs); the records left are handed back to the queue as fresh messages and
 * acknowledged, so running short of time never spends a receive (see `handBack`).
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { FullResyncDeps } from "../../shared/sync/full-resync/deps";
import { handBack, processWindowMessage } from "../../shared/sync/full-resync/worker";
import { Deadline, type Now, TIME_BUDGET } from "../../shared/time-budget";

export type WorkerHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

export interface WorkerHandlerOptions {
  /** Real time for the deadline arithmetic (tests drive it). */
  readonly now?: Now;
}

/** The invocation's deadline: what the context says is left, less the end margin. */
export function workerDeadline(context: Context | undefined, now?: Now): Deadline {
  if (!context) return Deadline.none(now);
  return Deadline.fromContext(context, now).minus(TIME_BUDGET.handlerEndMarginMs.worker);
}

export function makeWorkerHandler(deps: FullResyncDeps, options: WorkerHandlerOptions = {}): WorkerHandler {
  return async (event, context) => {
    const deadline = workerDeadline(context, options.now);
    let recordsLeft = event.Records.length;
    const recordHandler = async (record: SQSRecord) => {
      const share = recordsLeft;
      recordsLeft -= 1;
      if (!deadline.allows(TIME_BUDGET.pageStartMs)) return handBack(deps, record);
      const runMs = (deadline.remainingMs() - TIME_BUDGET.pageStartMs) / Math.max(1, share);
      try {
        return await processWindowMessage(deps, record, { deadline, runMs });
      } catch (error) {
        deps.log.warn("work message failed; SQS will redeliver it", {
          messageId: record.messageId,
          receiveCount: record.attributes.ApproximateReceiveCount,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
        throw error;
      }
    };
    // A processor per invocation: it keeps per-batch state, and the local poller invokes concurrently.
    const processor = new BatchProcessor(EventType.SQS);
    return processPartialResponse(event, recordHandler, processor, {
      ...(context ? { context } : {}),
      processInParallel: false,
      // Every record failed: report them all rather than throw (same redelivery, no Lambda error).
      throwOnFullBatchFailure: false,
    });
  };
}
