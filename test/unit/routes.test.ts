/**
 * The route table (shared/http/routes.ts) is the one definition of the HTTP API's routes: the CDK stack
 * and the handlers derive theirs from it. Here: the table is the contract, its templates match as API
 * Gateway's do, and no route of it is left without a handler that serves it.
 */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { localLambdaContext } from "../../infra/local/lambda-context";
import { localApiRoutes } from "../../infra/local/local-stack";
import { makeApiHandler, type SyncService } from "../../shared/http/api";
import {
  matchPathTemplate,
  ROUTES,
  routeKey,
  routeNamed,
  SYNC_API_ROUTES,
  type SyncApiRoute,
  WEBHOOK_PATH,
  WEBHOOK_ROUTE,
} from "../../shared/http/routes";
import { MetricsRecorder, silentLog } from "../../shared/observability/telemetry";
import { signWebhook } from "../../shared/tiktok/signing";
import type { WebhookMessage } from "../../shared/webhooks/events";
import { makeWebhookReceiver } from "../../shared/webhooks/receiver";

const SHOP = "shop-1";
const JOB = "job-1";

function event(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    rawQueryString: "",
    headers,
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: false,
    requestContext: { http: { method, path } },
  } as unknown as APIGatewayProxyEventV2;
}

/** A route's template with its parameters filled in, as a client would request it. */
function concretePath(template: string): string {
  return template.replace(/\{job_id\}/g, JOB);
}

/** The service call each API route ends in: a route added to the table without one fails to compile. */
const SERVICE_CALL: Readonly<Record<SyncApiRoute["name"], keyof SyncService>> = {
  syncOrders: "syncNow",
  fullResync: "startFullResync",
  status: "status",
  cancelJob: "cancelJob",
  resumeJob: "resumeJob",
  reconcile: "reconcile",
};

/** A configured one-shop service that records which of its calls a request reached, with what. */
function recordingService() {
  const calls: { name: keyof SyncService; args: unknown[] }[] = [];
  const answer =
    (name: keyof SyncService) =>
    async (...args: unknown[]) => {
      calls.push({ name, args });
      return { status: "ok" };
    };
  const service: SyncService = {
    configuration: () => ({ configured: true }),
    listShopIds: async () => [SHOP],
    syncNow: answer("syncNow"),
    startFullResync: answer("startFullResync"),
    status: async (shopIds) => {
      calls.push({ name: "status", args: [shopIds] });
      return [];
    },
    cancelJob: answer("cancelJob"),
    resumeJob: answer("resumeJob"),
    reconcile: answer("reconcile"),
  };
  return { service, calls };
}

describe("the route table", () => {
  it("is the HTTP API contract (docs/operations.md 'HTTP API'): changing it changes the deployed API", () => {
    expect(ROUTES.map((route) => [routeKey(route), route.authorization])).toEqual([
      ["POST /api/sync/orders", "iam"],
      ["POST /api/sync/orders/full", "iam"],
      ["GET /api/sync/status", "iam"],
      ["POST /api/sync/jobs/{job_id}/cancel", "iam"],
      ["POST /api/sync/jobs/{job_id}/resume", "iam"],
      ["POST /api/sync/reconcile", "iam"],
      ["POST /api/webhooks/tiktok", "tiktok-signature"],
    ]);
  });

  it("names each route once and gives API Gateway distinct route keys", () => {
    expect(new Set(ROUTES.map((route) => route.name)).size).toBe(ROUTES.length);
    expect(new Set(ROUTES.map(routeKey)).size).toBe(ROUTES.length);
  });

  it("splits into the API function's IAM routes and the one webhook route", () => {
    expect([...SYNC_API_ROUTES, WEBHOOK_ROUTE].sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      [...ROUTES].sort((a, b) => a.name.localeCompare(b.name)),
    );
    expect(WEBHOOK_PATH).toBe(WEBHOOK_ROUTE.path);
    expect(routeNamed("status").path).toBe("/api/sync/status");
  });
});

describe("matchPathTemplate", () => {
  it.each([
    ["/api/sync/status", "/api/sync/status", {}],
    ["/api/sync/jobs/{job_id}/cancel", "/api/sync/jobs/abc/cancel", { job_id: "abc" }],
    // Parameters stay percent-encoded: the handler decodes and validates them.
    ["/api/sync/jobs/{job_id}/cancel", "/api/sync/jobs/a%2Fb/cancel", { job_id: "a%2Fb" }],
  ])("%s matches %s with parameters %j", (template, path, parameters) => {
    expect(matchPathTemplate(template, path)).toEqual(parameters);
  });

  it.each([
    ["/api/sync/status", "/api/sync/statuses"],
    ["/api/sync/status", "/api/sync/status/extra"],
    ["/api/sync/status", "/API/sync/status"],
    ["/api/sync/orders/full", "/api/sync/orders"],
    ["/api/sync/jobs/{job_id}/cancel", "/api/sync/jobs/abc"],
    ["/api/sync/jobs/{job_id}/cancel", "/api/sync/jobs//cancel"],
    ["/api/sync/jobs/{job_id}/cancel", "/api/sync/jobs/a/b/cancel"],
  ])("%s does not match %s", (template, path) => {
    expect(matchPathTemplate(template, path)).toBeUndefined();
  });
});

describe("every route of the table is served", () => {
  it.each(SYNC_API_ROUTES.map((route) => [routeKey(route), route] as const))(
    "%s: the API handler serves it and reaches its service call",
    async (_key, route) => {
      const { service, calls } = recordingService();
      const handle = makeApiHandler({ service, log: silentLog });
      const response = await handle(event(route.method, concretePath(route.path)));
      expect(response.statusCode).toBeGreaterThanOrEqual(200);
      expect(response.statusCode).toBeLessThan(300);
      expect(calls.map((call) => call.name)).toEqual([SERVICE_CALL[route.name]]);
      if (route.path.includes("{job_id}")) expect(calls[0]?.args).toEqual([SHOP, JOB]);
    },
  );

  it.each(SYNC_API_ROUTES.map((route) => [routeKey(route), route] as const))(
    "%s: another method gets 405 naming the table's method",
    async (_key, route) => {
      const { service, calls } = recordingService();
      const handle = makeApiHandler({ service, log: silentLog });
      const otherMethod = route.method === "GET" ? "POST" : "GET";
      const response = await handle(event(otherMethod, concretePath(route.path)));
      expect(response.statusCode).toBe(405);
      expect(JSON.parse(response.body ?? "{}").error).toMatchObject({
        code: "method_not_allowed",
        allowed: [route.method],
      });
      expect(calls).toEqual([]);
    },
  );

  it(`${routeKey(WEBHOOK_ROUTE)}: the receiver serves it, the API handler does not (API Gateway never sends it there)`, async () => {
    const app = { appKey: "app-key", appSecret: "app-secret" };
    const queued: WebhookMessage[] = [];
    const receive = makeWebhookReceiver({
      apps: async () => ({ configured: true, apps: [app] }),
      enqueue: async (message) => {
        queued.push(message);
      },
      metrics: new MetricsRecorder(),
      log: silentLog,
    });
    const body = JSON.stringify({
      type: 1,
      shop_id: SHOP,
      timestamp: 1_700_000_000,
      data: { order_id: "o-1" },
    });
    const headers = {
      "content-type": "application/json",
      authorization: signWebhook(app.appKey, app.appSecret, body),
    };
    const received = await receive(event(WEBHOOK_ROUTE.method, WEBHOOK_ROUTE.path, body, headers));
    expect(received.statusCode).toBe(200);
    expect(queued).toHaveLength(1);

    const { service } = recordingService();
    const api = await makeApiHandler({ service, log: silentLog })(
      event(WEBHOOK_ROUTE.method, WEBHOOK_ROUTE.path, body, headers),
    );
    expect(api.statusCode).toBe(404);
  });

  it("the local server sends the webhook route to the receiver and every other route to the API", async () => {
    const served: string[] = [];
    const route = localApiRoutes({
      api: async () => {
        served.push("api");
        return { statusCode: 200 };
      },
      webhook: async () => {
        served.push("webhook-receiver");
        return { statusCode: 200 };
      },
    });
    const context = localLambdaContext("api", 29_000);
    for (const entry of ROUTES) await route(event(entry.method, concretePath(entry.path)), context);
    expect(served).toEqual(
      ROUTES.map((entry) => (entry.authorization === "tiktok-signature" ? "webhook-receiver" : "api")),
    );
  });
});
