/**
 * TikTok Shop request signing (HMAC-SHA256), as documented in TIKTOK_API.md "Signing".
 * Shared by the client and the emulator: it is a fact of the API, not a choice of ours.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Query parameters that never take part in the signature. */
const UNSIGNED_PARAMS = new Set(["sign", "access_token"]);

export interface SignInput {
  readonly appSecret: string;
  /** URL path, e.g. `/order/202309/orders/search`. */
  readonly path: string;
  /** Decoded query parameter values, exactly those sent (without `sign`). */
  readonly query: Readonly<Record<string, string>>;
  /** The exact JSON text sent; empty for GET. */
  readonly body?: string;
}

/** The string the HMAC is computed over: secret + path + sorted key/value pairs + body + secret. */
export function stringToSign({ appSecret, path, query, body = "" }: SignInput): string {
  const pairs = Object.keys(query)
    .filter((key) => !UNSIGNED_PARAMS.has(key))
    .sort()
    .map((key) => `${key}${query[key]}`)
    .join("");
  return `${appSecret}${path}${pairs}${body}${appSecret}`;
}

/** Lowercase hex HMAC-SHA256 keyed by the app secret. */
export function sign(input: SignInput): string {
  return createHmac("sha256", input.appSecret).update(stringToSign(input)).digest("hex");
}

/** Constant-time comparison of a received signature with the expected one. */
export function verifySignature(input: SignInput, received: string): boolean {
  const expected = Buffer.from(sign(input), "utf8");
  const actual = Buffer.from(received, "utf8");
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * The `Authorization` header of a TikTok Shop webhook (TIKTOK_API.md "Webhooks"): lowercase hex
 * HMAC-SHA256, keyed by the app secret, over the app key followed by the exact raw body bytes.
 */
export function signWebhook(appKey: string, appSecret: string, rawBody: string | Buffer): string {
  return createHmac("sha256", appSecret).update(appKey).update(rawBody).digest("hex");
}

/** An app whose webhooks are accepted: its key and secret (several during a secret rotation). */
export interface WebhookApp {
  readonly appKey: string;
  readonly appSecret: string;
}

/**
 * The app whose secret produced `received` over `rawBody`, or undefined. Every app is checked (no early
 * exit on a match), each comparison in constant time, so the time taken says nothing about which app
 * or how much of the signature matched. A received value that is not 64 hex characters is refused
 * before any comparison (its length is no secret).
 */
export function verifyWebhookSignature(
  apps: readonly WebhookApp[],
  rawBody: string | Buffer,
  received: string | undefined,
): WebhookApp | undefined {
  const normalized = received?.trim().toLowerCase() ?? "";
  if (!/^[0-9a-f]{64}$/.test(normalized)) return undefined;
  const actual = Buffer.from(normalized, "hex");
  let match: WebhookApp | undefined;
  for (const app of apps) {
    const expected = Buffer.from(signWebhook(app.appKey, app.appSecret, rawBody), "hex");
    if (timingSafeEqual(expected, actual) && !match) match = app;
  }
  return match;
}
