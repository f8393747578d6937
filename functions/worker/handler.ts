/** Full-resync worker (SQS event source, ReportBatchItemFailures): one page per message, window protocol. */
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { lambdaApp } from "../../shared/app/lambda";
import { makeWorkerHandler, type WorkerHandler } from "./handler-core";

// Each worker instance takes its part of the shop's request budget (shared/tiktok/rate-budget.ts).
const app = lambdaApp("tiktok-shop-sync-worker", { role: "worker" });
let worker: WorkerHandler | undefined;

async function work(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  worker ??= makeWorkerHandler(await app.fullResync());
  return worker(event, context);
}

export const handler = app.powertools.instrument(work);
