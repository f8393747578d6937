/** The TikTok client against a scripted fetch: what it sends, signs, retries and reports. */

import {
  classifyResponse,
  TikTokApiError,
  TikTokAuthError,
  TikTokInvalidRequestError,
  TikTokPageTokenRefusedError,
  TikTokRateLimitedError,
  TikTokReauthRequiredError,
  TikTokServerError,
  TikTokTokenExpiredError,
} from "../../shared/tiktok/api-errors";
import { API_CODES, API_PATHS } from "../../shared/tiktok/api-types";
import { HttpTikTokAuthClient } from "../../shared/tiktok/auth-client";
import { type AccessTokenProvider, type ApiCallEvent, TikTokClient } from "../../shared/tiktok/client";
import type { RateLimiter } from "../../shared/tiktok/rate-limiter";
import { sign } from "../../shared/tiktok/signing";

const APP_KEY = "example_app_key";
const APP_SECRET = "example_app_secret";
const NOW_MS = 1_700_000_000_000;

interface SentRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
}

type Reply = () => Response | Promise<Response>;

function envelope(status: number, code: number, message: string, data: unknown = null, headers = {}): Reply {
  return () =>
    new Response(JSON.stringify({ code, message, request_id: `req-${code}`, data }), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });
}

const ok = (data: unknown) => envelope(200, 0, "Success", data);
const searchPage = (extra: Record<string, unknown> = {}) =>
  ok({ orders: [{ id: "o1" }], total_count: 1, ...extra });

function timeoutError(): Reply {
  return () => {
    throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
  };
}

function setup(replies: Reply[], options: { maxAttempts?: number; random?: () => number } = {}) {
  const sent: SentRequest[] = [];
  const events: ApiCallEvent[] = [];
  const delays: number[] = [];
  let token = "token-1";
  const tokens = {
    getAccessToken: jest.fn(async () => token),
    refreshAfterRejection: jest.fn(async (_rejected: string) => {
      token = "token-2";
      return token;
    }),
  } satisfies AccessTokenProvider;
  const rateLimiter = {
    acquire: jest.fn(async (_signal?: AbortSignal) => undefined),
    onThrottle: jest.fn(),
  } satisfies RateLimiter;
  const fakeFetch = jest.fn(async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    sent.push({
      url: new URL(String(input)),
      method: init?.method ?? "GET",
      headers,
      body: typeof init?.body === "string" ? init.body : undefined,
    });
    const reply = replies.shift();
    if (!reply) throw new Error("no scripted reply left");
    return reply();
  });
  const client = new TikTokClient({
    baseUrl: "https://open-api.example.test/",
    appKey: APP_KEY,
    appSecret: APP_SECRET,
    tokens,
    rateLimiter,
    clock: { nowMs: () => NOW_MS },
    fetch: fakeFetch as unknown as typeof fetch,
    timeoutMs: 5_000,
    retry: { maxAttempts: options.maxAttempts ?? 4, baseDelayMs: 100, maxDelayMs: 1_000 },
    sleep: async (ms) => {
      delays.push(ms);
    },
    random: options.random ?? (() => 0.5),
    onApiCall: (event) => events.push(event),
  });
  return { client, sent, events, delays, tokens, rateLimiter, fakeFetch };
}

/** The decoded query exactly as sent, without `sign`. */
function sentQuery(request: SentRequest): Record<string, string> {
  const query = Object.fromEntries(request.url.searchParams.entries());
  delete query.sign;
  return query;
}

function expectValidSignature(request: SentRequest): void {
  const expected = sign({
    appSecret: APP_SECRET,
    path: request.url.pathname,
    query: sentQuery(request),
    body: request.body ?? "",
  });
  expect(request.url.searchParams.get("sign")).toBe(expected);
}

const search = (client: TikTokClient, extra: { page_token?: string } = {}, body = {}) =>
  client.searchOrders({
    shopCipher: "ROW_example",
    query: { page_size: 100, sort_field: "update_time", sort_order: "ASC", ...extra },
    body,
  });

describe("TikTokClient requests", () => {
  it("sends and signs the documented worked example byte for byte", async () => {
    const { client, sent } = setup([searchPage()]);
    await search(client, {}, { update_time_ge: 1_699_999_700, update_time_lt: 1_700_000_000 });
    const [request] = sent;
    if (!request) throw new Error("nothing sent");
    expect(request.method).toBe("POST");
    expect(request.url.pathname).toBe(API_PATHS.searchOrders);
    expect(sentQuery(request)).toEqual({
      app_key: APP_KEY,
      timestamp: "1700000000",
      shop_cipher: "ROW_example",
      page_size: "100",
      sort_field: "update_time",
      sort_order: "ASC",
    });
    expect(request.body).toBe('{"update_time_ge":1699999700,"update_time_lt":1700000000}');
    expect(request.url.searchParams.get("sign")).toBe(
      "94ed960082533761e5e2057d3cab322fafa26bb5f24362757844adc021501bea",
    );
    expect(request.headers["x-tts-access-token"]).toBe("token-1");
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.url.searchParams.has("access_token")).toBe(false);
  });

  it("signs a page_token by its decoded value while sending it URL-encoded", async () => {
    const pageToken = "aGVsbG8+d29y/bGQ=+x==";
    const { client, sent } = setup([searchPage()]);
    await search(client, { page_token: pageToken }, { create_time_ge: 1, create_time_lt: 2 });
    const [request] = sent;
    if (!request) throw new Error("nothing sent");
    expect(request.url.search).toContain(`page_token=${encodeURIComponent(pageToken)}`);
    expect(request.url.searchParams.get("page_token")).toBe(pageToken);
    expectValidSignature(request);
    const overEncoded = sign({
      appSecret: APP_SECRET,
      path: request.url.pathname,
      query: { ...sentQuery(request), page_token: encodeURIComponent(pageToken) },
      body: request.body ?? "",
    });
    expect(request.url.searchParams.get("sign")).not.toBe(overEncoded);
  });

  it("drops undefined body fields and sends no body (never a literal {}) when none remain", async () => {
    const { client, sent } = setup([searchPage(), searchPage()]);
    await search(client, {}, { update_time_ge: 5, order_status: undefined });
    await search(client, {}, { update_time_ge: undefined });
    expect(sent[0]?.body).toBe('{"update_time_ge":5}');
    expect(sent[1]?.body).toBeUndefined();
    for (const request of sent) expectValidSignature(request);
  });

  it("lists authorized shops without shop_cipher, and gets orders by comma-joined ids", async () => {
    const shop = { id: "s1", name: "Shop", region: "GB", seller_type: "LOCAL", cipher: "ROW_1" };
    const { client, sent } = setup([ok({ shops: [shop] }), ok({ orders: [{ id: "a" }, { id: "b" }] })]);
    await expect(client.getAuthorizedShops()).resolves.toEqual([shop]);
    await expect(client.getOrders({ shopCipher: "ROW_1", ids: ["a", "b"] })).resolves.toEqual({
      orders: [{ id: "a" }, { id: "b" }],
    });
    const [shops, detail] = sent;
    expect(shops?.method).toBe("GET");
    expect(shops?.url.searchParams.has("shop_cipher")).toBe(false);
    expect(shops?.body).toBeUndefined();
    expect(detail?.url.pathname).toBe(API_PATHS.orderDetail);
    expect(detail?.url.searchParams.get("ids")).toBe("a,b");
    for (const request of sent) expectValidSignature(request);
  });

  it("refuses more than 50 ids before sending anything", async () => {
    const { client, fakeFetch } = setup([]);
    const ids = Array.from({ length: 51 }, (_, i) => `o${i}`);
    await expect(client.getOrders({ shopCipher: "ROW_1", ids })).rejects.toBeInstanceOf(
      TikTokInvalidRequestError,
    );
    expect(fakeFetch).not.toHaveBeenCalled();
  });

  it.each([
    ["an empty string", { next_page_token: "" }],
    ["absent", {}],
  ])("treats next_page_token %s as the last page", async (_label, extra) => {
    const { client } = setup([searchPage(extra)]);
    const result = await search(client);
    expect(result.nextPageToken).toBeUndefined();
    expect(result).not.toHaveProperty("nextPageToken");
    expect(result.totalCount).toBe(1);
  });

  it("returns a continuation token when there is one", async () => {
    const { client } = setup([searchPage({ next_page_token: "abc=" })]);
    await expect(search(client)).resolves.toMatchObject({ nextPageToken: "abc=", orders: [{ id: "o1" }] });
  });
});

describe("TikTokClient retries", () => {
  it("retries 5xx, timeouts and malformed JSON with full-jitter backoff, reporting every attempt", async () => {
    const { client, sent, delays, events, rateLimiter } = setup([
      envelope(500, API_CODES.internalError, "Internal error"),
      timeoutError(),
      () => new Response("<html>bad gateway</html>", { status: 200 }),
      searchPage(),
    ]);
    await expect(search(client)).resolves.toMatchObject({ totalCount: 1 });
    expect(sent).toHaveLength(4);
    // random 0.5 of min(maxDelay, base·2^(n−1)): 50, 100, 200.
    expect(delays).toEqual([50, 100, 200]);
    expect(rateLimiter.acquire).toHaveBeenCalledTimes(4);
    expect(events.map((event) => [event.status, event.ok])).toEqual([
      [500, false],
      [0, false],
      [200, false],
      [200, true],
    ]);
    // Each attempt is signed afresh and correctly.
    for (const request of sent) expectValidSignature(request);
  });

  it("keeps jittered delays within [0, min(maxDelay, base·2^(n−1)))", async () => {
    const replies = Array.from({ length: 6 }, () => envelope(503, API_CODES.gatewayTimeout, "timeout"));
    const { client, delays } = setup(replies, { maxAttempts: 6, random: () => 0.999_999 });
    await expect(search(client)).rejects.toBeInstanceOf(TikTokServerError);
    const ceilings = [100, 200, 400, 800, 1_000];
    expect(delays).toHaveLength(5);
    delays.forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(ceilings[i] ?? 0);
    });
  });

  it("throws the last error after the last attempt, its cause chain intact", async () => {
    const { client, sent } = setup(
      [
        envelope(500, API_CODES.internalError, "Internal error"),
        () => new Response("{not json", { status: 200 }),
      ],
      { maxAttempts: 2 },
    );
    const error = await search(client).catch((caught: unknown) => caught);
    expect(sent).toHaveLength(2);
    expect(error).toBeInstanceOf(TikTokServerError);
    expect((error as Error).cause).toBeInstanceOf(SyntaxError);
  });

  it("treats a real timeout (AbortSignal.timeout) as retryable", async () => {
    const events: ApiCallEvent[] = [];
    const hanging = (_input: unknown, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      });
    const client = new TikTokClient({
      baseUrl: "https://open-api.example.test",
      appKey: APP_KEY,
      appSecret: APP_SECRET,
      tokens: { getAccessToken: async () => "t", refreshAfterRejection: async () => "t" },
      rateLimiter: { acquire: async () => undefined, onThrottle: () => undefined },
      clock: { nowMs: () => NOW_MS },
      fetch: hanging as unknown as typeof fetch,
      timeoutMs: 10,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      sleep: async () => undefined,
      onApiCall: (event) => events.push(event),
    });
    const error = await search(client).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TikTokServerError);
    expect((error as Error).message).toContain("timed out");
    expect(events).toHaveLength(2);
  });

  it("honours Retry-After on 429, lowers the rate and reports the throttle", async () => {
    const { client, delays, events, rateLimiter } = setup([
      envelope(429, API_CODES.rateLimited, "Too many requests", null, { "Retry-After": "3" }),
      searchPage(),
    ]);
    await search(client);
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual(3_000);
    expect(delays[0]).toBeLessThan(3_100);
    expect(rateLimiter.onThrottle).toHaveBeenCalledTimes(1);
    expect(events.map((event) => event.throttled)).toEqual([true, false]);
  });

  it("backs off exponentially on 429 without Retry-After", async () => {
    const { client, delays } = setup([
      envelope(429, API_CODES.rateLimited, "Too many requests"),
      searchPage(),
    ]);
    await search(client);
    expect(delays).toEqual([50]);
  });

  it.each([
    [
      "invalid sign",
      envelope(401, API_CODES.invalidSign, "Invalid credentials: sign is invalid"),
      TikTokAuthError,
    ],
    [
      "a parameter error",
      envelope(400, API_CODES.parameterOrAuthError, "Invalid parameter: page_size"),
      TikTokInvalidRequestError,
    ],
    [
      "a missing shop_cipher",
      envelope(400, API_CODES.missingShopCipher, "shop_cipher is required"),
      TikTokInvalidRequestError,
    ],
    [
      "a refused page_token",
      envelope(400, API_CODES.parameterOrAuthError, "page_token is invalid or expired"),
      TikTokPageTokenRefusedError,
    ],
  ])("does not retry %s", async (_label, reply, errorClass) => {
    const { client, sent, tokens, delays } = setup([reply, searchPage()]);
    await expect(search(client)).rejects.toBeInstanceOf(errorClass);
    expect(sent).toHaveLength(1);
    expect(delays).toEqual([]);
    expect(tokens.refreshAfterRejection).not.toHaveBeenCalled();
  });

  it("neither retries nor refreshes on a timestamp refusal (clock error)", async () => {
    const { client, sent, tokens } = setup([
      envelope(401, API_CODES.parameterOrAuthError, "Invalid timestamp: out of the allowed window"),
      searchPage(),
    ]);
    const error = await search(client).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TikTokInvalidRequestError);
    expect((error as TikTokInvalidRequestError).timestampSkew).toBe(true);
    expect(sent).toHaveLength(1);
    expect(tokens.refreshAfterRejection).not.toHaveBeenCalled();
  });
});

describe("TikTokClient token rejection", () => {
  it.each([
    ["105002", envelope(401, API_CODES.accessTokenExpired, "Expired credentials: access_token has expired")],
    [
      "36009004 access_token header",
      envelope(401, API_CODES.parameterOrAuthError, "Invalid credentials: access_token header is invalid"),
    ],
  ])("refreshes once on %s and retries with the new token", async (_label, reply) => {
    const { client, sent, tokens, events } = setup([reply, searchPage()]);
    await expect(search(client)).resolves.toMatchObject({ totalCount: 1 });
    expect(tokens.refreshAfterRejection).toHaveBeenCalledTimes(1);
    expect(tokens.refreshAfterRejection).toHaveBeenCalledWith("token-1");
    expect(sent.map((request) => request.headers["x-tts-access-token"])).toEqual(["token-1", "token-2"]);
    expect(events).toHaveLength(2);
  });

  it("raises when the refreshed token is rejected too", async () => {
    const expired = envelope(401, API_CODES.accessTokenExpired, "Expired credentials");
    const { client, sent, tokens } = setup([expired, expired, searchPage()]);
    await expect(search(client)).rejects.toBeInstanceOf(TikTokTokenExpiredError);
    expect(tokens.refreshAfterRejection).toHaveBeenCalledTimes(1);
    expect(sent).toHaveLength(2);
  });

  it("refreshes at most once per call even across server-error retries", async () => {
    const expired = envelope(401, API_CODES.accessTokenExpired, "Expired credentials");
    const { client, sent, tokens } = setup([
      expired,
      envelope(500, API_CODES.internalError, "Internal error"),
      expired,
      searchPage(),
    ]);
    await expect(search(client)).rejects.toBeInstanceOf(TikTokTokenExpiredError);
    expect(tokens.refreshAfterRejection).toHaveBeenCalledTimes(1);
    expect(sent).toHaveLength(3);
  });

  it("does not retry when the caller aborts", async () => {
    const controller = new AbortController();
    const { client, sent } = setup([
      () => {
        controller.abort(new Error("stop"));
        throw new DOMException("aborted", "AbortError");
      },
      searchPage(),
    ]);
    const call = client.searchOrders({
      shopCipher: "ROW_1",
      query: { page_size: 10 },
      body: { update_time_ge: 1 },
      signal: controller.signal,
    });
    await expect(call).rejects.toThrow("stop");
    expect(sent).toHaveLength(1);
  });
});

describe("classifyResponse", () => {
  const ep = API_PATHS.searchOrders;
  const env = (code: number, message = "") => ({ code, message, request_id: "r1", data: null });
  it.each<[string, number, unknown, (new (...args: never[]) => TikTokApiError) | undefined, boolean]>([
    ["success", 200, env(0, "Success"), undefined, false],
    ["rate limited", 429, env(API_CODES.rateLimited), TikTokRateLimitedError, true],
    ["429 without a body", 429, undefined, TikTokRateLimitedError, true],
    ["sandbox hourly cap", 429, env(API_CODES.sandboxHourlyCap), TikTokRateLimitedError, false],
    ["invalid sign", 401, env(API_CODES.invalidSign), TikTokAuthError, false],
    ["token expired", 401, env(API_CODES.accessTokenExpired), TikTokTokenExpiredError, false],
    [
      "access_token header invalid (36009004)",
      401,
      env(API_CODES.parameterOrAuthError, "access_token header is invalid"),
      TikTokTokenExpiredError,
      false,
    ],
    [
      "access token invalid (36009005)",
      401,
      env(API_CODES.accessTokenInvalid),
      TikTokTokenExpiredError,
      false,
    ],
    [
      "timestamp skew",
      400,
      env(API_CODES.parameterOrAuthError, "timestamp is out of range"),
      TikTokInvalidRequestError,
      false,
    ],
    ["bad app_key", 400, env(API_CODES.parameterOrAuthError, "Invalid app_key"), TikTokAuthError, false],
    [
      "parameter error",
      400,
      env(API_CODES.parameterOrAuthError, "Unexpected identifier"),
      TikTokInvalidRequestError,
      false,
    ],
    [
      "refused page_token",
      400,
      env(API_CODES.parameterOrAuthError, "page_token is invalid or expired"),
      TikTokPageTokenRefusedError,
      false,
    ],
    ["missing shop_cipher", 400, env(API_CODES.missingShopCipher), TikTokInvalidRequestError, false],
    ["bad path", 404, env(API_CODES.badPath), TikTokInvalidRequestError, false],
    ["internal error", 500, env(API_CODES.internalError), TikTokServerError, true],
    ["gateway timeout", 504, env(API_CODES.gatewayTimeout), TikTokServerError, true],
    ["5xx without an envelope", 502, undefined, TikTokServerError, true],
    ["2xx without an envelope", 200, "oops", TikTokServerError, true],
    ["refresh token expired", 200, env(API_CODES.refreshTokenExpired), TikTokReauthRequiredError, false],
    ["no auth record", 400, env(API_CODES.noAuthRecord), TikTokReauthRequiredError, false],
    ["unknown 4xx code", 400, env(123), TikTokInvalidRequestError, false],
    ["non-zero code on 200", 200, env(123), TikTokApiError, false],
  ])("%s (HTTP %i)", (_label, status, body, errorClass, retryable) => {
    const error = classifyResponse(status, body, ep, { retryAfterMs: 1_000 });
    if (errorClass === undefined) {
      expect(error).toBeUndefined();
      return;
    }
    expect(error).toBeInstanceOf(errorClass);
    expect(error?.constructor).toBe(errorClass);
    expect(error?.retryable).toBe(retryable);
    expect(error?.httpStatus).toBe(status);
    expect(error?.endpoint).toBe(ep);
    if (error instanceof TikTokRateLimitedError) expect(error.retryAfterMs).toBe(1_000);
  });

  it("flags a timestamp refusal as clock skew and keeps the request id", () => {
    const error = classifyResponse(400, env(API_CODES.parameterOrAuthError, "Invalid timestamp"), ep);
    expect(error).toBeInstanceOf(TikTokInvalidRequestError);
    expect((error as TikTokInvalidRequestError).timestampSkew).toBe(true);
    expect(error?.requestId).toBe("r1");
    expect(error?.code).toBe(API_CODES.parameterOrAuthError);
  });
});

describe("HttpTikTokAuthClient", () => {
  const tokenData = {
    access_token: "new-access",
    access_token_expire_in: 1_700_604_800,
    refresh_token: "new-refresh",
    refresh_token_expire_in: 1_731_536_000,
    open_id: "o",
    seller_name: "s",
    seller_base_region: "GB",
    user_type: 0,
    granted_scopes: ["seller.order.info"],
  };

  function authClient(reply: Reply, grantType?: string) {
    const urls: URL[] = [];
    const client = new HttpTikTokAuthClient({
      authBaseUrl: "https://auth.example.test",
      appKey: APP_KEY,
      appSecret: APP_SECRET,
      clock: { nowMs: () => NOW_MS },
      fetch: (async (input: string | URL | Request) => {
        urls.push(new URL(String(input)));
        return reply();
      }) as unknown as typeof fetch,
      ...(grantType ? { refreshGrantType: grantType } : {}),
    });
    return { client, urls };
  }

  it("refreshes with the documented query and returns absolute expiries", async () => {
    const { client, urls } = authClient(ok(tokenData));
    await expect(client.refresh("old-refresh")).resolves.toEqual(tokenData);
    expect(urls[0]?.pathname).toBe(API_PATHS.tokenRefresh);
    expect(Object.fromEntries(urls[0]?.searchParams.entries() ?? [])).toEqual({
      app_key: APP_KEY,
      app_secret: APP_SECRET,
      refresh_token: "old-refresh",
      grant_type: "refresh_token",
    });
  });

  it("takes the SDK's grant_type reading when configured, and normalizes relative expiries", async () => {
    const { client, urls } = authClient(
      ok({ ...tokenData, access_token_expire_in: 604_800, refresh_token_expire_in: "0" }),
      "authorized_code",
    );
    const data = await client.refresh("r");
    expect(urls[0]?.searchParams.get("grant_type")).toBe("authorized_code");
    expect(data.access_token_expire_in).toBe(NOW_MS / 1000 + 604_800);
    expect(data.refresh_token_expire_in).toBe(0);
  });

  it.each([
    [API_CODES.refreshTokenExpired, TikTokReauthRequiredError],
    [API_CODES.noAuthRecord, TikTokReauthRequiredError],
    [API_CODES.internalError, TikTokServerError],
  ])("classifies refresh error %i without leaking the secret or the token", async (code, errorClass) => {
    const { client } = authClient(envelope(code === API_CODES.internalError ? 500 : 400, code, "refused"));
    const error = await client.refresh("secret-refresh").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(errorClass);
    const text = `${(error as Error).message} ${JSON.stringify(error)}`;
    expect(text).not.toContain(APP_SECRET);
    expect(text).not.toContain("secret-refresh");
  });

  it("treats a success without token data as a malformed (retryable) response", async () => {
    const { client } = authClient(ok({ open_id: "o" }));
    await expect(client.refresh("r")).rejects.toBeInstanceOf(TikTokServerError);
  });

  it("redacts secrets from a transport error's message", async () => {
    const { client } = authClient(() => {
      throw new TypeError(`fetch failed for https://auth.example.test/?app_secret=${APP_SECRET}`);
    });
    const error = await client.refresh("r").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TikTokServerError);
    expect(String(((error as Error).cause as Error).message)).not.toContain(APP_SECRET);
  });
});
