/**
 * TikTok webhook receiver (API Gateway HTTP API, `POST /api/webhooks/tiktok`, no IAM: TikTok's
 * signature authenticates it): verify, enqueue, answer 200 (shared/webhooks/receiver.ts).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { webhookReceiverLambda } from "../../shared/app/webhook-lambda";
import { errorResponse } from "../../shared/http/api";

const app = webhookReceiverLambda("tiktok-shop-sync-webhook-receiver");

async function receive(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  return app.receive(event);
}

export const handler = app.powertools.instrument(receive).onError(async (request) => {
  // Anything that escaped the receiver: a JSON 500 (TikTok retries), never a stack trace.
  request.response = errorResponse(request.error, app.powertools.logPort);
});
