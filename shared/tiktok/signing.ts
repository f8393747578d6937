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
