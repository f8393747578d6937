/**
 * The full-resync worker as an SQS batch handler (Lambda with ReportBatchItemFailures, or the local
 * poller): the records are processed side by side — each pages its own window on for as long as time
 * allows (see processWindowMessage), so one after another the first would hold the rest back; they
 * share the shop's request budget, and two copies of one window's message settle by the window's
 * conditional commits. Each failing record becomes a batch item failure, so only it is retried after
 * the visibility timeout and, after maxReceiveCount receives, lands in the DLQ.
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
    const recordHandler = async (record: SQSRecord) => {
      if (!deadline.allows(TIME_BUDGET.pageStartMs)) return handBack(deps, record);
      try {
        return await processWindowMessage(deps, record, { deadline });
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
      processInParallel: true,
      // Every record failed: report them all rather than throw (same redelivery, no Lambda error).
      throwOnFullBatchFailure: false,
    });
  };
}
