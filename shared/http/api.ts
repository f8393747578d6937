/**
 * The HTTP API (DESIGN "HTTP API", contract) as a pure function of an API Gateway HTTP API v2 event:
 * parse and validate the request, call the sync service, shape the JSON response. Bad input of any kind
 * gets a 4xx `{ "error": { "code", "message" } }` before anything changes; no stack trace ever leaves.
 * Used by the Lambda handler (through middy) and the local HTTP server alike.
 *
 * Time: a request's deadline is its Lambda context's remaining time (29 s, API Gateway's limit) less
 * TIME_BUDGET.handlerEndMarginMs.api for the response. Sync routes acting on several shops start a
 * shop only while a page still fits; the rest are answered `not_reached`, and a shop whose run ran
 * out of time is `continuing` (its checkpoint kept): the answer is a 202 in time, never a 504.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { z } from "zod";
import { mapWithConcurrency } from "../concurrency";
import type { LogPort } from "../observability/telemetry";
import {
  Deadline,
  DeadlineExceededError,
  type Now,
  type RemainingTime,
  TIME_BUDGET,
  type TimedOptions,
} from "../time-budget";
import { badRequest, HttpError } from "./http-error";
import { matchPathTemplate, routeNamed, SYNC_API_ROUTES } from "./routes";

export const MAX_BODY_BYTES = 16 * 1024;

export interface SyncService {
  /** Whether the TikTok app credentials are configured; when not, why (sync routes answer 503). */
  configuration(): { readonly configured: boolean; readonly reason?: string };
  /** Known shop ids (configured or discovered); with one shop, `shop_id` may be omitted. */
  listShopIds(): Promise<string[]>;
  syncNow(shopId: string, options?: TimedOptions): Promise<Record<string, unknown>>;
  startFullResync(
    shopId: string,
    range: { from?: number; to?: number },
    options?: TimedOptions,
  ): Promise<Record<string, unknown>>;
  status(shopIds: string[]): Promise<Record<string, unknown>[]>;
  cancelJob(shopId: string, jobId: string): Promise<Record<string, unknown>>;
  resumeJob(shopId: string, jobId: string): Promise<Record<string, unknown>>;
  /** Webhook events that belong to no synced shop (status `webhooks`); undefined before the first. */
  webhookSummary?(): Promise<Record<string, unknown> | undefined>;
  /** Reconciliation (issue 18): compare TikTok's counts with the stored ones, heal what differs. */
  reconcile(shopId: string, options?: TimedOptions): Promise<Record<string, unknown>>;
}

type Query = Record<string, string | undefined>;

const shopIdParam = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, "shop_id must be 1-64 letters, digits, '_' or '-'");
const jobIdParam = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, "job_id must be 1-64 letters, digits, '_' or '-'");
const booleanParam = z.enum(["true", "false"], { message: "must be true or false" });

/**
 * A backfill bound: an ISO 8601 date-time with a time zone (`Z` or an offset). Without one, JavaScript
 * reads a date-time in the server's local time (a laptop's zone on `npm start`, UTC on Lambda), so the
 * same request would mean different ranges: it is refused with `invalid_date` (issue 16 item 10).
 */
const isoInstant = z
  .string()
  .max(64)
  .refine((value) => /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value), {
    message: "must be an ISO 8601 date-time with a time zone, e.g. 2024-05-01T00:00:00Z",
    abort: true,
  })
  .refine((value) => /T[\d:.]+(Z|[+-]\d{2}:?\d{2})$/.test(value), {
    message:
      "must carry a time zone (Z or an offset such as +02:00); without one it would be read in the " +
      "server's local time",
    params: { code: "invalid_date" },
    abort: true,
  })
  .refine((value) => !Number.isNaN(Date.parse(value)) && isRealCalendarDate(value), {
    message: "is not a valid date",
  })
  .transform((value) => Math.floor(Date.parse(value) / 1000));

/** Date.parse rolls 2024-02-31 over to March; a real date survives the round trip. */
function isRealCalendarDate(value: string): boolean {
  const [year, month, day] = value.slice(0, 10).split("-").map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

const syncOrdersBody = z.strictObject({ force_full: z.boolean().optional() });
const fullResyncBody = z
  .strictObject({ from: isoInstant.optional(), to: isoInstant.optional() })
  .refine((range) => range.from === undefined || range.to === undefined || range.from < range.to, {
    message: "from must be before to",
    path: ["from"],
  });
const emptyBody = z.strictObject({});

function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.join(".");
      if (issue.code === "unrecognized_keys") return `unknown field(s): ${issue.keys.join(", ")}`;
      return where ? `${where} ${issue.message}` : issue.message;
    })
    .join("; ");
}

/** An issue's own error code (a refinement's `params.code`), if it names one. */
function issueCode(issue: z.core.$ZodIssue): string | undefined {
  const code = issue.code === "custom" ? (issue.params as { code?: unknown } | undefined)?.code : undefined;
  return typeof code === "string" ? code : undefined;
}

/** Bad input → 400 with `code`, or with the issues' own code when every issue names the same one. */
function parseWith<T>(schema: z.ZodType<T>, value: unknown, code: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const own = new Set(result.error.issues.map(issueCode));
    const [only] = own;
    throw badRequest(own.size === 1 && only !== undefined ? only : code, describeZodError(result.error));
  }
  return result.data;
}

function readBody(event: APIGatewayProxyEventV2): unknown {
  if (event.body === undefined || event.body === null || event.body === "") return undefined;
  // readBody returns undefined only for an absent body; JSON `null` comes back as null.
  const text = event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
  if (Buffer.byteLength(text, "utf8") > MAX_BODY_BYTES) {
    throw new HttpError(413, "body_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);
  }
  const contentType = Object.entries(event.headers ?? {}).find(
    ([name]) => name.toLowerCase() === "content-type",
  )?.[1];
  if (contentType && !/^application\/json\b/i.test(contentType)) {
    throw new HttpError(415, "unsupported_media_type", "request body must be application/json");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest("malformed_json", "request body is not valid JSON");
  }
}

/** An absent body means "no options"; a JSON null is a wrong type, like any other non-object. */
function bodyOrEmpty(event: APIGatewayProxyEventV2): unknown {
  const body = readBody(event);
  return body === undefined ? {} : body;
}

function allowOnly(query: Query, allowed: readonly string[]) {
  const unknown = Object.keys(query).filter((name) => !allowed.includes(name));
  if (unknown.length > 0)
    throw badRequest("unknown_parameter", `unknown query parameter(s): ${unknown.join(", ")}`);
}

type SyncType = "incremental" | "full" | "reconciliation";

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw badRequest("invalid_parameter", "path parameter is not valid percent-encoding");
  }
}

function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
    body: JSON.stringify(body),
  };
}

export function errorResponse(error: unknown, log: LogPort): APIGatewayProxyStructuredResultV2 {
  if (error instanceof HttpError) {
    return json(error.statusCode, { error: { code: error.code, message: error.message, ...error.details } });
  }
  log.error("unhandled error in API", {
    error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
  });
  return json(500, { error: { code: "internal_error", message: "internal error; see the function's logs" } });
}

/** The request's deadline: its context's remaining time less the response's margin (none without one). */
export function apiDeadline(context: RemainingTime | undefined, now?: Now): Deadline {
  if (!context) return Deadline.none(now);
  return Deadline.fromContext(context, now).minus(TIME_BUDGET.handlerEndMarginMs.api);
}

const STATUS_PATH = routeNamed("status").path;

/** A shop the request had no time left for: nothing was done, the next tick (or request) does it. */
function notReached(shopId: string, syncType: SyncType): Record<string, unknown> {
  return {
    sync_type: syncType,
    status: "not_reached",
    status_url: `${STATUS_PATH}?shop_id=${encodeURIComponent(shopId)}`,
  };
}

export function makeApiHandler(deps: { service: SyncService; log: LogPort; now?: Now }) {
  const { service } = deps;

  /**
   * Shops a sync request targets: `shop_id`, the only shop, or (several shops, no `shop_id`) all of them,
   * answered as `{shops: [...]}` — one entry per shop, the single-shop answer plus `shop_id`, or
   * `{shop_id, error}` for a shop that refused (e.g. a full resync already running). A shop whose turn
   * comes with less than a page's time left is answered `not_reached` without being touched.
   */
  async function forEachTargetShop(
    query: Query,
    deadline: Deadline,
    syncType: SyncType,
    work: (shopId: string) => Promise<Record<string, unknown>>,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    const attempt = async (shopId: string) => {
      if (!deadline.allows(TIME_BUDGET.pageStartMs)) return notReached(shopId, syncType);
      try {
        return await work(shopId);
      } catch (error) {
        // Planning a full resync found too little time left before it created anything.
        if (error instanceof DeadlineExceededError) return notReached(shopId, syncType);
        throw error;
      }
    };
    const shops = await service.listShopIds();
    if (query.shop_id !== undefined || shops.length <= 1)
      return json(202, await attempt(await resolveShop(query)));
    const entries = await mapWithConcurrency(shops, 4, async (shopId) => {
      try {
        return { shop_id: shopId, ...(await attempt(shopId)) };
      } catch (error) {
        if (error instanceof HttpError) {
          return {
            shop_id: shopId,
            error: { status: error.statusCode, code: error.code, message: error.message, ...error.details },
          };
        }
        deps.log.error("sync request failed for shop", {
          shopId,
          error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
        });
        return {
          shop_id: shopId,
          error: { status: 500, code: "internal_error", message: "internal error; see the function's logs" },
        };
      }
    });
    return json(202, { shops: entries });
  }

  /** Routes that call TikTok (or set workers on it) need the app credentials. */
  function requireConfigured(): void {
    const configuration = service.configuration();
    if (configuration.configured) return;
    throw new HttpError(
      503,
      "not_configured",
      `the TikTok app credentials are not configured: ${configuration.reason ?? "see the status route"}`,
    );
  }

  async function resolveShop(query: Query): Promise<string> {
    const shops = await service.listShopIds();
    if (query.shop_id === undefined) {
      const [first] = shops;
      if (!first) throw new HttpError(503, "no_shops", "no shop is configured yet");
      return first;
    }
    const shopId = parseWith(shopIdParam, query.shop_id, "invalid_parameter");
    if (!shops.includes(shopId)) throw new HttpError(404, "unknown_shop", `shop ${shopId} is not configured`);
    return shopId;
  }

  return async function handleApiEvent(
    event: APIGatewayProxyEventV2,
    context?: RemainingTime,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    const deadline = apiDeadline(context, deps.now);
    try {
      const method = event.requestContext?.http?.method?.toUpperCase() ?? "GET";
      const path = (event.rawPath ?? event.requestContext?.http?.path ?? "/").replace(/\/+$/, "") || "/";
      // The webhook route is not among these: API Gateway sends it to the receiver, never here.
      const candidates = SYNC_API_ROUTES.flatMap((route) => {
        const parameters = matchPathTemplate(route.path, path);
        return parameters ? [{ route, parameters }] : [];
      });
      if (candidates.length === 0) throw new HttpError(404, "route_not_found", `no route for ${path}`);
      const matched = candidates.find((candidate) => candidate.route.method === method);
      if (!matched) {
        throw new HttpError(405, "method_not_allowed", `${method} is not allowed on ${path}`, {
          allowed: candidates.map((candidate) => candidate.route.method),
        });
      }
      const { route, parameters: pathParameters } = matched;
      const query: Query = event.queryStringParameters ?? {};
      if (Object.values(query).some((value) => value?.includes(","))) {
        throw badRequest("invalid_parameter", "query parameters must not repeat");
      }
      switch (route.name) {
        case "syncOrders": {
          allowOnly(query, ["shop_id", "force_full"]);
          const body = parseWith(syncOrdersBody, bodyOrEmpty(event), "invalid_body");
          const forceFullQuery =
            query.force_full === undefined
              ? undefined
              : parseWith(booleanParam, query.force_full, "invalid_parameter");
          const forceFull = forceFullQuery === "true" || body.force_full === true;
          requireConfigured();
          return await forEachTargetShop(query, deadline, forceFull ? "full" : "incremental", (shopId) =>
            forceFull
              ? service.startFullResync(shopId, {}, { deadline })
              : service.syncNow(shopId, { deadline }),
          );
        }
        case "fullResync": {
          allowOnly(query, ["shop_id"]);
          const range = parseWith(fullResyncBody, bodyOrEmpty(event), "invalid_body");
          requireConfigured();
          return await forEachTargetShop(query, deadline, "full", (shopId) =>
            service.startFullResync(shopId, range, { deadline }),
          );
        }
        case "status": {
          allowOnly(query, ["shop_id"]);
          if (readBody(event) !== undefined) throw badRequest("unexpected_body", "GET takes no body");
          const shopIds =
            query.shop_id === undefined ? await service.listShopIds() : [await resolveShop(query)];
          const configuration = service.configuration();
          const webhooks = await service.webhookSummary?.();
          return json(200, {
            shops: await service.status(shopIds),
            ...(webhooks ? { webhooks } : {}),
            // Also when no shop is known yet (shops are discovered with the credentials).
            ...(configuration.configured
              ? {}
              : { configured: false, not_configured_reason: configuration.reason ?? null }),
          });
        }
        case "reconcile": {
          allowOnly(query, ["shop_id"]);
          parseWith(emptyBody, bodyOrEmpty(event), "invalid_body");
          requireConfigured();
          return await forEachTargetShop(query, deadline, "reconciliation", (shopId) =>
            service.reconcile(shopId, { deadline }),
          );
        }
        case "cancelJob":
        case "resumeJob": {
          allowOnly(query, ["shop_id"]);
          parseWith(emptyBody, bodyOrEmpty(event), "invalid_body");
          const jobId = parseWith(jobIdParam, safeDecode(pathParameters.job_id ?? ""), "invalid_parameter");
          if (query.shop_id === undefined && (await service.listShopIds()).length > 1) {
            throw badRequest(
              "shop_id_required",
              "several shops are synced: name the job's shop with ?shop_id=",
            );
          }
          const shopId = await resolveShop(query);
          // Cancelling needs no TikTok; resuming sets workers on it.
          if (route.name === "resumeJob") requireConfigured();
          const result =
            route.name === "cancelJob"
              ? await service.cancelJob(shopId, jobId)
              : await service.resumeJob(shopId, jobId);
          return json(200, result);
        }
      }
    } catch (error) {
      return errorResponse(error, deps.log);
    }
  };
}
