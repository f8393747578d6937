/**
 * Typed TikTok Shop API errors and the one place that maps an HTTP status + envelope code to them
 * (TIKTOK_API.md "Response envelope"). Callers branch on the class (or `retryable`), never on codes.
 * Messages carry TikTok's own message and the endpoint path, never URLs, tokens or signatures.
 */
import { API_CODES } from "./api-types";

export interface TikTokErrorDetails {
  /** The envelope's `code`; undefined when no envelope was received (network error, bad JSON). */
  readonly code?: number | undefined;
  /** HTTP status; undefined when no response was received. */
  readonly httpStatus?: number | undefined;
  readonly requestId?: string | undefined;
  /** The API path, e.g. `/order/202309/orders/search` (never the full URL: it may hold a secret). */
  readonly endpoint: string;
  readonly cause?: unknown;
}

export class TikTokApiError extends Error {
  readonly code: number | undefined;
  readonly httpStatus: number | undefined;
  readonly requestId: string | undefined;
  readonly endpoint: string;
  /** True when the same request may succeed later (bounded retry with backoff). */
  readonly retryable: boolean;

  constructor(message: string, details: TikTokErrorDetails, retryable = false) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = details.code;
    this.httpStatus = details.httpStatus;
    this.requestId = details.requestId;
    this.endpoint = details.endpoint;
    this.retryable = retryable;
  }
}

/** Invalid signature or app key: a configuration error, retrying cannot help. */
export class TikTokAuthError extends TikTokApiError {
  constructor(message: string, details: TikTokErrorDetails) {
    super(message, details, false);
  }
}

/** The access token was rejected (expired or invalid header): refresh once, then retry once. */
export class TikTokTokenExpiredError extends TikTokApiError {
  constructor(message: string, details: TikTokErrorDetails) {
    super(message, details, false);
  }
}

/** Parameter errors, missing shop_cipher, bad path, timestamp skew: fix the request, don't retry. */
export class TikTokInvalidRequestError extends TikTokApiError {
  /** The gateway refused our `timestamp`: the local clock (or a fake one) is off. */
  readonly timestampSkew: boolean;

  constructor(message: string, details: TikTokErrorDetails, timestampSkew = false) {
    super(message, details, false);
    this.timestampSkew = timestampSkew;
  }
}

export class TikTokRateLimitedError extends TikTokApiError {
  /** From `Retry-After`, when the response had one. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, details: TikTokErrorDetails, retryAfterMs?: number, retryable = true) {
    super(message, details, retryable);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * A continuation `page_token` was refused (expired or invalid). Not retryable as is: the caller
 * restarts the window from its last committed checkpoint (DESIGN.md rule 9).
 */
export class TikTokPageTokenRefusedError extends TikTokApiError {
  constructor(message: string, details: TikTokErrorDetails) {
    super(message, details, false);
  }
}

/** 5xx, network errors, timeouts, malformed responses: bounded retry with backoff. */
export class TikTokServerError extends TikTokApiError {
  constructor(message: string, details: TikTokErrorDetails) {
    super(message, details, true);
  }
}

/** The refresh token is expired or the authorization is gone: the seller must re-authorize. */
export class TikTokReauthRequiredError extends TikTokApiError {
  constructor(message: string, details: TikTokErrorDetails) {
    super(message, details, false);
  }
}

/** Refreshing the access token kept failing (after retries); the stored pair is left intact. */
export class TokenRefreshFailedError extends TikTokApiError {
  constructor(message: string, details: TikTokErrorDetails) {
    super(message, details, false);
  }
}

/**
 * Whether a failed search is taken for a refused continuation token, so the caller restarts from its
 * last committed checkpoint without the token (DESIGN rule 9). Only a request that carried a token
 * qualifies. TikTok words such refusals in more than one way (36009004 with or without "page_token",
 * other codes), so any non-retryable 4xx counts, except those about something else: rate limits and
 * the hourly cap, the access token, the seller's authorization, our clock. A refusal that is not about
 * the token shows again on the restart's first page, without a token, and fails there as itself.
 * Callers bound their restarts (a token that is refused every time must not loop).
 */
export function isPageTokenRefusal(error: unknown, requestHadToken: boolean): boolean {
  if (!requestHadToken || !(error instanceof TikTokApiError)) return false;
  if (error instanceof TikTokPageTokenRefusedError) return true;
  if (
    error.retryable ||
    error.httpStatus === undefined ||
    error.httpStatus < 400 ||
    error.httpStatus >= 500
  ) {
    return false;
  }
  if (
    error instanceof TikTokRateLimitedError ||
    error instanceof TikTokTokenExpiredError ||
    error instanceof TikTokReauthRequiredError ||
    error instanceof TokenRefreshFailedError
  ) {
    return false;
  }
  return !(error instanceof TikTokInvalidRequestError && error.timestampSkew);
}

export interface ClassifyOptions {
  /** Parsed `Retry-After`, attached to a rate-limited error. */
  readonly retryAfterMs?: number | undefined;
  /** Why the body could not be used (e.g. the JSON parse error), kept as the error's cause. */
  readonly cause?: unknown;
}

interface ParsedEnvelope {
  readonly code: number;
  readonly message: string;
  readonly requestId: string | undefined;
}

function parseEnvelope(envelope: unknown): ParsedEnvelope | undefined {
  if (typeof envelope !== "object" || envelope === null) return undefined;
  const record = envelope as Record<string, unknown>;
  if (typeof record.code !== "number") return undefined;
  return {
    code: record.code,
    message: typeof record.message === "string" ? record.message : "",
    requestId: typeof record.request_id === "string" ? record.request_id : undefined,
  };
}

/**
 * Maps an HTTP status and the parsed body (anything, possibly undefined when it was not JSON) to a
 * typed error, or `undefined` for success (2xx and code 0). `36009004` is reused by TikTok for many
 * failures, so it is split on message keywords: `page_token` → refused continuation, `timestamp` →
 * clock skew (no retry, no refresh), `app_key` → auth, 401 or `access_token` → token rejected.
 */
export function classifyResponse(
  httpStatus: number,
  envelope: unknown,
  endpoint: string,
  options: ClassifyOptions = {},
): TikTokApiError | undefined {
  const parsed = parseEnvelope(envelope);
  const ok2xx = httpStatus >= 200 && httpStatus < 300;
  if (parsed?.code === API_CODES.ok && ok2xx) return undefined;

  const details: TikTokErrorDetails = {
    code: parsed?.code,
    httpStatus,
    requestId: parsed?.requestId,
    endpoint,
    cause: options.cause,
  };
  const tiktokMessage = parsed?.message ?? "";
  const describe = (what: string) =>
    `TikTok ${endpoint}: ${what} (HTTP ${httpStatus}${parsed ? `, code ${parsed.code}` : ""}` +
    `${tiktokMessage ? `: ${tiktokMessage}` : ""})`;
  const lower = tiktokMessage.toLowerCase();

  if (parsed) {
    switch (parsed.code) {
      case API_CODES.rateLimited:
        return new TikTokRateLimitedError(describe("rate limited"), details, options.retryAfterMs);
      case API_CODES.sandboxHourlyCap:
        // An hourly cap: retrying within a run cannot help, the caller re-schedules the work.
        return new TikTokRateLimitedError(
          describe("hourly cap reached"),
          details,
          options.retryAfterMs,
          false,
        );
      case API_CODES.invalidSign:
        return new TikTokAuthError(describe("invalid sign"), details);
      case API_CODES.accessTokenExpired:
      case API_CODES.accessTokenInvalid:
        return new TikTokTokenExpiredError(describe("access token rejected"), details);
      case API_CODES.parameterOrAuthError:
        if (lower.includes("page_token"))
          return new TikTokPageTokenRefusedError(describe("page_token refused"), details);
        if (lower.includes("timestamp")) {
          return new TikTokInvalidRequestError(describe("timestamp refused (clock skew?)"), details, true);
        }
        if (lower.includes("app_key")) return new TikTokAuthError(describe("invalid app_key"), details);
        if (httpStatus === 401 || lower.includes("access_token")) {
          return new TikTokTokenExpiredError(describe("access token rejected"), details);
        }
        return new TikTokInvalidRequestError(describe("invalid request"), details);
      case API_CODES.missingShopCipher:
        return new TikTokInvalidRequestError(describe("missing shop_cipher"), details);
      case API_CODES.badPath:
        return new TikTokInvalidRequestError(describe("unknown path"), details);
      case API_CODES.internalError:
      case API_CODES.gatewayTimeout:
        return new TikTokServerError(describe("server error"), details);
      case API_CODES.refreshTokenExpired:
        return new TikTokReauthRequiredError(
          describe("refresh token expired: re-authorize the shop"),
          details,
        );
      case API_CODES.noAuthRecord:
        return new TikTokReauthRequiredError(
          describe("no authorization record: re-authorize the shop"),
          details,
        );
    }
  }

  // Unknown code or no envelope: fall back on the HTTP status.
  if (httpStatus === 429)
    return new TikTokRateLimitedError(describe("rate limited"), details, options.retryAfterMs);
  if (httpStatus >= 500) return new TikTokServerError(describe("server error"), details);
  if (!parsed) {
    if (ok2xx) return new TikTokServerError(describe("malformed response"), details);
    if (httpStatus === 401 || httpStatus === 403)
      return new TikTokAuthError(describe("unauthorized"), details);
    if (httpStatus === 408) return new TikTokServerError(describe("request timeout"), details);
    return new TikTokInvalidRequestError(describe("request refused"), details);
  }
  if (httpStatus === 401 || httpStatus === 403) return new TikTokAuthError(describe("unauthorized"), details);
  if (httpStatus === 408) return new TikTokServerError(describe("request timeout"), details);
  if (httpStatus >= 400) return new TikTokInvalidRequestError(describe("request refused"), details);
  return new TikTokApiError(describe("unexpected error code"), details, false);
}

/** A request that got no HTTP response (connection reset, DNS, timeout): retryable. */
export function transportError(endpoint: string, cause: unknown, timedOut: boolean): TikTokServerError {
  const what = timedOut ? "request timed out" : "network error";
  return new TikTokServerError(`TikTok ${endpoint}: ${what}`, { endpoint, cause });
}

/** A 2xx with code 0 whose body is not JSON or lacks the expected data: retryable. */
export function malformedResponseError(
  endpoint: string,
  httpStatus: number,
  requestId: string | undefined,
  what: string,
  cause?: unknown,
): TikTokServerError {
  return new TikTokServerError(`TikTok ${endpoint}: malformed response (${what}, HTTP ${httpStatus})`, {
    endpoint,
    httpStatus,
    requestId,
    cause,
  });
}
