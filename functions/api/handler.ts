/** HTTP API (API Gateway HTTP API v2, IAM-authorized): the routes of DESIGN "HTTP API", through middy. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { lambdaApp } from "../../shared/app/lambda";
import { createSyncService } from "../../shared/app/service";
import { errorResponse, makeApiHandler } from "../../shared/http/api";

// API Gateway gives a request 29 s: the request's deadline (from the context) bounds the runs and the
// planning probes; windows left unsized are split by the workers on their first page.
const app = lambdaApp("tiktok-shop-sync-api", { role: "api" });

async function route(
  event: APIGatewayProxyEventV2,
  context: Context,
): Promise<APIGatewayProxyStructuredResultV2> {
  const runtime = await app.runtime();
  return makeApiHandler({ service: createSyncService(runtime), log: runtime.log })(event, context);
}

export const handler = app.powertools.instrument(route).onError(async (request) => {
  // Anything that escaped the router (e.g. cold-start failure): a JSON 500, never a stack trace.
  request.response = errorResponse(request.error, app.powertools.logPort);
});
