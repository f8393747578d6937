/**
 * The HTTP API's routes (DESIGN "HTTP API", contract), declared once. The API handler and the webhook
 * receiver match requests against this table, the CDK stack creates one API Gateway route per entry, and
 * the local server routes by it. Plain data: the Lambda bundles import this module, so it must not pull
 * in aws-cdk-lib.
 */

/**
 * Who may call a route: an operator signing with IAM (SigV4), or TikTok, whose webhook signature the
 * receiver checks instead (TikTok cannot sign with SigV4).
 */
export type RouteAuthorization = "iam" | "tiktok-signature";

export interface RouteDefinition {
  readonly name: string;
  readonly method: "GET" | "POST";
  /** API Gateway's path template: a `{name}` segment matches any one non-empty path segment. */
  readonly path: string;
  readonly authorization: RouteAuthorization;
}

export const ROUTES = [
  { name: "syncOrders", method: "POST", path: "/api/sync/orders", authorization: "iam" },
  { name: "fullResync", method: "POST", path: "/api/sync/orders/full", authorization: "iam" },
  { name: "status", method: "GET", path: "/api/sync/status", authorization: "iam" },
  { name: "cancelJob", method: "POST", path: "/api/sync/jobs/{job_id}/cancel", authorization: "iam" },
  { name: "resumeJob", method: "POST", path: "/api/sync/jobs/{job_id}/resume", authorization: "iam" },
  { name: "reconcile", method: "POST", path: "/api/sync/reconcile", authorization: "iam" },
  {
    name: "tiktokWebhook",
    method: "POST",
    path: "/api/webhooks/tiktok",
    authorization: "tiktok-signature",
  },
] as const satisfies readonly RouteDefinition[];

export type Route = (typeof ROUTES)[number];
export type RouteName = Route["name"];
/** The routes the API function serves (every IAM-authorized one). */
export type SyncApiRoute = Extract<Route, { authorization: "iam" }>;

export const SYNC_API_ROUTES: readonly SyncApiRoute[] = ROUTES.filter(
  (route): route is SyncApiRoute => route.authorization === "iam",
);

type RouteNamed<Name extends RouteName> = Extract<Route, { name: Name }>;

/** A route by name, e.g. to build a request path or a status URL. */
export function routeNamed<Name extends RouteName>(name: Name): RouteNamed<Name> {
  const route = ROUTES.find((candidate): candidate is RouteNamed<Name> => candidate.name === name);
  if (!route) throw new Error(`no route named ${name}`);
  return route;
}

/** TikTok's webhook receiver (DESIGN "Push and reconciliation"): the one route without IAM. */
export const WEBHOOK_ROUTE = routeNamed("tiktokWebhook");
export const WEBHOOK_PATH = WEBHOOK_ROUTE.path;

/** API Gateway's route key, `METHOD /path/{param}`: what routes and stage route settings are keyed by. */
export function routeKey(route: RouteDefinition): string {
  return `${route.method} ${route.path}`;
}

/**
 * The path parameters (still percent-encoded) when `path` fits the template, else undefined. Matched
 * segment by segment, as API Gateway does: a parameter never spans a `/`, literal segments compare
 * case-sensitively.
 */
export function matchPathTemplate(template: string, path: string): Record<string, string> | undefined {
  const expected = template.split("/");
  const actual = path.split("/");
  if (actual.length !== expected.length) return undefined;
  const parameters: Record<string, string> = {};
  for (const [index, segment] of expected.entries()) {
    const value = actual[index] ?? "";
    const parameter = /^\{(\w+)\}$/.exec(segment)?.[1];
    if (parameter === undefined) {
      if (value !== segment) return undefined;
    } else {
      if (value === "") return undefined;
      parameters[parameter] = value;
    }
  }
  return parameters;
}
