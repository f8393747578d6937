/** Webhook consumer (SQS event source with a batching window, ReportBatchItemFailures): push refreshes. */
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { lambdaApp } from "../../shared/app/lambda";
import { webhookConsumerDeps } from "../../shared/app/webhook-wiring";
import { makeWebhookConsumerHandler, type WebhookConsumerHandler } from "./handler-core";

// Each consumer instance takes its part of the shop's push share (shared/tiktok/rate-budget.ts).
const app = lambdaApp("tiktok-shop-sync-webhook-consumer", { role: "push" });
let consumer: WebhookConsumerHandler | undefined;

async function consume(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  consumer ??= makeWebhookConsumerHandler(webhookConsumerDeps(await app.runtime()));
  return consumer(event, context);
}

export const handler = app.powertools.instrument(consume);
