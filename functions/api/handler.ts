/** HTTP API (API Gateway HTTP API v2, IAM-authorized): the routes of DESIGN "HTTP API", through middy. */
import middy from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { lambdaRuntime } from "../../shared/app/lambda";
import { createSyncService } from "../../shared/app/service";
import { errorResponse, makeApiHandler } from "../../shared/http/api";

// API Gateway gives a request 29 s: planning probes run at the shop's rate, so cap them to ~20 s of
// requests; windows still too big are split by the workers on their first page.
const app = lambdaRuntime("tiktok-shop-sync-api", {
  fullResyncSettings: (config) => ({ maxProbes: Math.max(5, Math.floor(20 * config.TIKTOK_MAX_RPS)) }),
});

async function route(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const runtime = await app.runtime();
  return makeApiHandler({ service: createSyncService(runtime), log: runtime.log })(event);
}

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(route).onError(
  async (request) => {
    // Anything that escaped the router (e.g. cold-start failure): a JSON 500, never a stack trace.
    request.response = errorResponse(request.error, app.powertools.logPort);
  },
);
