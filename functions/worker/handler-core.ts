/**
 * The full-resync worker as an SQS batch handler (Lambda with ReportBatchItemFailures, or the local
 * poller): records are processed one after another (they may share a window chain and all share
 * the shop's request budget); each failing record becomes a batch item failure, so only it is
 * retried after the visibility timeout and, after maxReceiveCount receives, lands in the DLQ.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { FullResyncDeps } from "../../shared/sync/full-resync/deps";
import { processWindowMessage } from "../../shared/sync/full-resync/worker";

export type WorkerHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

export function makeWorkerHandler(deps: FullResyncDeps): WorkerHandler {
  const recordHandler = async (record: SQSRecord) => {
    try {
      return await processWindowMessage(deps, record);
    } catch (error) {
      deps.log.warn("work message failed; SQS will redeliver it", {
        messageId: record.messageId,
        receiveCount: record.attributes.ApproximateReceiveCount,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      throw error;
    }
  };
  return async (event, context) => {
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
