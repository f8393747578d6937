/**
 * The webhook consumer as an SQS batch handler (Lambda with a batching window and
 * ReportBatchItemFailures, or the local poller). Unlike the full-resync worker it takes the batch as a
 * whole, not record by record (Powertools' BatchProcessor's model): coalescing the orders of many events
 * into one Get Order Detail call is the point. It answers in the same partial-batch format: the records
 * of a shop that failed are batch item failures, everything else is acknowledged (shared/webhooks/consumer.ts).
 */
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { Deadline, type Now, TIME_BUDGET } from "../../shared/time-budget";
import { processWebhookBatch, type WebhookConsumerDeps } from "../../shared/webhooks/consumer";

export type WebhookConsumerHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

/** The invocation's deadline: what the context says is left, less the end margin. */
export function consumerDeadline(context: Context | undefined, now?: Now): Deadline {
  if (!context) return Deadline.none(now);
  return Deadline.fromContext(context, now).minus(TIME_BUDGET.handlerEndMarginMs.push);
}

export function makeWebhookConsumerHandler(
  deps: WebhookConsumerDeps,
  options: { readonly now?: Now } = {},
): WebhookConsumerHandler {
  return async (event, context) => {
    const outcome = await processWebhookBatch(
      deps,
      event.Records.map((record) => ({ messageId: record.messageId, body: record.body })),
      { deadline: consumerDeadline(context, options.now) },
    );
    return { batchItemFailures: outcome.failedMessageIds.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}
