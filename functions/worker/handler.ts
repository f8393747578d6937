/** Full-resync worker (SQS event source, ReportBatchItemFailures): one page per message, window protocol. */
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { lambdaRuntime } from "../../shared/app/lambda";
import { makeWorkerHandler, type WorkerHandler } from "./handler-core";

// Each concurrent worker gets TIKTOK_MAX_RPS / WORKER_CONCURRENCY: together they stay within the shop's budget.
const app = lambdaRuntime("tiktok-shop-sync-worker", { budgetShare: (config) => config.WORKER_CONCURRENCY });
let worker: WorkerHandler | undefined;

export async function handler(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
  worker ??= makeWorkerHandler((await app.wired()).fullResync);
  return worker(event, context);
}
