/**
 * `POST /api/webhooks/tiktok` (DESIGN "Push and reconciliation", contract): the one route API Gateway
 * serves without IAM, because TikTok's own signature authenticates it. The receiver only verifies and
 * hands on: it bounds the body, checks the `Authorization` signature over the raw bytes before anything
 * reads them, validates the envelope and sends the event to the webhook queue, then answers 200 at once
 * (TikTok retries anything else for up to 72 hours). It never calls TikTok and never touches DynamoDB.
 *
 * Answers: 200 queued; 401 bad or missing signature (nothing queued, WebhookRejected counted); 413 body
 * over MAX_WEBHOOK_BODY_BYTES (refused before the HMAC is computed: a large body costs nothing);
 * 415 a declared content type other than JSON; 400 malformed JSON or not a webhook envelope; 404/405
 * another path or method; 503 while the app credentials are not configured (no secret to verify with:
 * TikTok retries, and the events arrive once they are stored) or the queue refused the event. Every
 * error is `{ "error": { "code", "message" } }`; no stack trace, signature or secret is ever echoed.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { errorResponse } from "../http/api";
import { badRequest, HttpError } from "../http/http-error";
import { WEBHOOK_ROUTE } from "../http/routes";
import { MetricName } from "../observability/metric-names";
import type { LogPort, MetricsPort } from "../observability/telemetry";
import { verifyWebhookSignature, type WebhookApp } from "../tiktok/signing";
import { type WebhookMessage, webhookEventSchema } from "./events";

// Re-exported for the local server, the benches and the tests that post to it.
export { WEBHOOK_PATH } from "../http/routes";

/** TikTok's webhook bodies are a few hundred bytes; anything near this is not one of them. */
export const MAX_WEBHOOK_BODY_BYTES = 32 * 1024;

/** The apps whose webhooks are accepted, or why there are none yet. */
export type WebhookAppsState =
  | { readonly configured: true; readonly apps: readonly WebhookApp[] }
  | { readonly configured: false; readonly reason: string };

export interface WebhookReceiverDeps {
  /** Read per request (the secret's cache keeps that cheap), so a stored or rotated secret applies. */
  readonly apps: () => Promise<WebhookAppsState>;
  /** Sends the verified event to the webhook queue. */
  readonly enqueue: (message: WebhookMessage) => Promise<void>;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  readonly now?: () => number;
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return Object.entries(event.headers ?? {}).find(([key]) => key.toLowerCase() === wanted)?.[1];
}

function describeIssues(error: { issues: readonly { path: PropertyKey[]; message: string }[] }): string {
  return error.issues
    .map((issue) => `${issue.path.map(String).join(".") || "body"}: ${issue.message}`)
    .join("; ");
}

export function makeWebhookReceiver(deps: WebhookReceiverDeps) {
  const now = deps.now ?? Date.now;
  return async function receiveWebhook(
    event: APIGatewayProxyEventV2,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    try {
      const method = event.requestContext?.http?.method?.toUpperCase() ?? "GET";
      const path = (event.rawPath ?? event.requestContext?.http?.path ?? "/").replace(/\/+$/, "") || "/";
      if (path !== WEBHOOK_ROUTE.path) throw new HttpError(404, "route_not_found", `no route for ${path}`);
      if (method !== WEBHOOK_ROUTE.method) {
        throw new HttpError(405, "method_not_allowed", `${method} is not allowed on ${path}`, {
          allowed: [WEBHOOK_ROUTE.method],
        });
      }
      // The exact bytes TikTok signed: API Gateway base64-encodes bodies it does not take for text.
      const raw =
        event.body === undefined || event.body === null
          ? Buffer.alloc(0)
          : event.isBase64Encoded
            ? Buffer.from(event.body, "base64")
            : Buffer.from(event.body, "utf8");
      if (raw.length > MAX_WEBHOOK_BODY_BYTES) {
        throw new HttpError(413, "body_too_large", `request body exceeds ${MAX_WEBHOOK_BODY_BYTES} bytes`);
      }
      const apps = await deps.apps();
      if (!apps.configured) {
        deps.log.warn("webhook refused: the TikTok app credentials are not configured", {
          reason: apps.reason,
        });
        throw new HttpError(503, "not_configured", "the TikTok app credentials are not configured");
      }
      const app = verifyWebhookSignature(apps.apps, raw, header(event, "authorization"));
      if (!app) {
        deps.metrics.record("", MetricName.WebhookRejected, 1, "Count");
        deps.log.warn("webhook rejected: bad or missing signature", {
          sourceIp: event.requestContext?.http?.sourceIp,
          bytes: raw.length,
        });
        throw new HttpError(401, "invalid_signature", "the Authorization signature does not match");
      }
      const contentType = header(event, "content-type");
      if (contentType && !/^application\/json\b/i.test(contentType)) {
        throw new HttpError(415, "unsupported_media_type", "request body must be application/json");
      }
      let json: unknown;
      try {
        json = JSON.parse(raw.toString("utf8"));
      } catch {
        throw badRequest("malformed_json", "request body is not valid JSON");
      }
      const parsed = webhookEventSchema.safeParse(json);
      if (!parsed.success) throw badRequest("invalid_event", describeIssues(parsed.error));
      try {
        await deps.enqueue({ v: 1, received_at_ms: now(), app_key: app.appKey, event: parsed.data });
      } catch (error) {
        deps.log.error("webhook not queued; TikTok will retry it", {
          error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
        });
        throw new HttpError(503, "unavailable", "the event could not be queued; retry later");
      }
      return {
        statusCode: 200,
        headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
        body: JSON.stringify({ received: true }),
      };
    } catch (error) {
      return errorResponse(error, deps.log);
    }
  };
}
