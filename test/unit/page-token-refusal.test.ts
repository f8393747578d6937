/**
 * Which failed searches restart from the checkpoint as a refused page token (issue 16 item 3): TikTok's
 * wording of a refusal is not documented, so any non-retryable 4xx on a request that carried a token
 * qualifies, except failures that are about something else.
 */

import { classifyResponse, isPageTokenRefusal, TikTokApiError } from "../../shared/tiktok/api-errors";
import { API_CODES } from "../../shared/tiktok/api-types";
import { DeadlineExceededError } from "../../shared/time-budget";

const SEARCH = "/order/202309/orders/search";

function answer(httpStatus: number, code: number, message: string): TikTokApiError {
  const error = classifyResponse(httpStatus, { code, message, request_id: "req-1", data: null }, SEARCH);
  if (!(error instanceof TikTokApiError)) throw new Error("expected an error");
  return error;
}

describe("isPageTokenRefusal", () => {
  const refusals: [string, TikTokApiError][] = [
    [
      "36009004 naming page_token",
      answer(400, API_CODES.parameterOrAuthError, "page_token is invalid or expired"),
    ],
    [
      "36009004 worded generically",
      answer(400, API_CODES.parameterOrAuthError, "Invalid parameter: the request is invalid"),
    ],
    ["another code (400)", answer(400, 21011017, "The search cursor has expired, please search again")],
    ["a 404 without a known code", answer(404, 12345, "cursor not found")],
    ["an invalid signature (403)", answer(403, API_CODES.invalidSign, "Invalid sign")],
  ];
  it.each(refusals)("a request with a token, refused with %s: restart", (_label, error) => {
    expect(isPageTokenRefusal(error, true)).toBe(true);
  });
  it.each(refusals)(
    "the same answer (%s) to a request without a token: not a token refusal",
    (_label, error) => {
      expect(isPageTokenRefusal(error, false)).toBe(false);
    },
  );

  const otherFailures: [string, unknown][] = [
    ["rate limited (429)", answer(429, API_CODES.rateLimited, "Too many requests")],
    ["the sandbox hourly cap", answer(429, API_CODES.sandboxHourlyCap, "hourly limit reached")],
    ["an access token rejected", answer(401, API_CODES.accessTokenExpired, "access token expired")],
    ["an access token header refused", answer(401, API_CODES.parameterOrAuthError, "invalid access_token")],
    ["our clock refused", answer(400, API_CODES.parameterOrAuthError, "Invalid timestamp")],
    ["the seller's authorization gone", answer(400, API_CODES.refreshTokenExpired, "refresh token expired")],
    ["a server error", answer(500, API_CODES.internalError, "internal error")],
    ["a 5xx without a known code", answer(503, 99999, "unavailable")],
    ["out of time", new DeadlineExceededError("no time left", 0)],
    ["not a TikTok error", new Error("boom")],
  ];
  it.each(otherFailures)(
    "a request with a token that failed with %s: not a token refusal",
    (_label, error) => {
      expect(isPageTokenRefusal(error, true)).toBe(false);
    },
  );
});
