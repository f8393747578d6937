/** Typed errors: API refusals carry the HTTP status and TikTok code the emulator answers with. */
import { API_CODES } from "../../../shared/tiktok/api-types";

/** An error answered in TikTok's envelope `{code, message, request_id, data: null}`. */
export class TikTokApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "TikTokApiError";
  }
}

/** A bad request to the `/__admin/` interface, answered as `{error: {code, message}}`. */
export class AdminRequestError extends Error {
  constructor(
    readonly httpStatus: number,
    message: string,
  ) {
    super(message);
    this.name = "AdminRequestError";
  }
}

/** Invalid emulator options (programming or CLI error). */
export class EmulatorConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EmulatorConfigError";
  }
}

/**
 * How a refused page token (expired, forged, from another run) is answered. TikTok documents no code:
 * `pageToken` is 400 / 36009004 naming page_token; `generic` is 400 / 36009004 naming nothing;
 * `otherCode` is 400 with a code of its own (see `PAGE_TOKEN_REFUSAL_OTHER_CODE`). Declared here, with
 * the wordings it selects, so that config.ts (which validates it) depends on api-refusals.ts and not back.
 */
export type PageTokenRefusal = "pageToken" | "generic" | "otherCode";
export const PAGE_TOKEN_REFUSALS: readonly PageTokenRefusal[] = ["pageToken", "generic", "otherCode"];

/** The message the emulator uses for refused page tokens; TikTok documents no code for this case. */
export const PAGE_TOKEN_REFUSED = "page_token is invalid or expired";
/** `pageTokenRefusal: "generic"`: TikTok's catch-all parameter error, naming no parameter. */
export const PAGE_TOKEN_REFUSED_GENERIC = "Invalid parameter: the request is invalid";
/**
 * `pageTokenRefusal: "otherCode"`: a code of its own (invented: TikTok documents none) with a wording
 * that names no parameter the client knows.
 */
export const PAGE_TOKEN_REFUSAL_OTHER_CODE = 21_011_017;
export const PAGE_TOKEN_REFUSED_OTHER_CODE = "The search cursor has expired, please search again";

export const apiErrors = {
  badPath: () => new TikTokApiError(404, API_CODES.badPath, "Invalid path: no such API"),
  parameter: (message: string) => new TikTokApiError(400, API_CODES.parameterOrAuthError, message),
  invalidSign: () => new TikTokApiError(401, API_CODES.invalidSign, "Invalid credentials: sign is invalid"),
  accessTokenExpired: () =>
    new TikTokApiError(401, API_CODES.accessTokenExpired, "Expired credentials: access_token has expired"),
  accessTokenInvalid: () =>
    new TikTokApiError(
      401,
      API_CODES.parameterOrAuthError,
      "Invalid credentials: access_token header is invalid",
    ),
  missingShopCipher: () =>
    new TikTokApiError(400, API_CODES.missingShopCipher, "Missing parameter: shop_cipher is required"),
  pageTokenRefused: (style: PageTokenRefusal = "pageToken") => {
    switch (style) {
      case "pageToken":
        return new TikTokApiError(400, API_CODES.parameterOrAuthError, PAGE_TOKEN_REFUSED);
      case "generic":
        return new TikTokApiError(400, API_CODES.parameterOrAuthError, PAGE_TOKEN_REFUSED_GENERIC);
      case "otherCode":
        return new TikTokApiError(400, PAGE_TOKEN_REFUSAL_OTHER_CODE, PAGE_TOKEN_REFUSED_OTHER_CODE);
    }
  },
  rateLimited: (retryAfterSeconds: number | undefined) =>
    new TikTokApiError(
      429,
      API_CODES.rateLimited,
      "Too many requests: the rate limit of this app and shop is exceeded",
      retryAfterSeconds === undefined ? {} : { "Retry-After": String(retryAfterSeconds) },
    ),
  internal: () => new TikTokApiError(500, API_CODES.internalError, "Internal error: please retry later"),
  gatewayTimeout: () =>
    new TikTokApiError(504, API_CODES.gatewayTimeout, "Gateway timeout: please retry later"),
} as const;
