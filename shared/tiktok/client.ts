/**
 * The TikTok Shop Open API client: signing, envelope parsing, typed errors, bounded retries, the
 * per-shop rate budget and one refresh-and-retry on a rejected access token.
 *
 * Every HTTP request it sends (retries included) is reported once through `onApiCall`; the sync
 * derives `api_calls` and `ApiThrottled` from that. It never logs: tokens, secrets, signatures and
 * order contents stay out of errors and events.
 */
import { type Clock, unixSeconds } from "../clock";
import { type Deadline, DeadlineExceededError, TIME_BUDGET } from "../time-budget";
import {
  classifyResponse,
  malformedResponseError,
  TikTokInvalidRequestError,
  TikTokRateLimitedError,
  TikTokTokenExpiredError,
  transportError,
} from "./api-errors";
import {
  API_PATHS,
  type AuthorizedShopsData,
  type GetOrdersData,
  MAX_ORDER_IDS_PER_DETAIL_CALL,
  type SearchOrdersBody,
  type SearchOrdersData,
  type SearchOrdersQuery,
  type ShopInfo,
} from "./api-types";
import type { RateLimiter } from "./rate-limiter";
import { type RetryOptions, type Sleep, withRetries } from "./retry";
import { sign } from "./signing";

/** Where the client gets the shop's access token; implemented by TokenManager. */
export interface AccessTokenProvider {
  /** `deadline`: the call's; a refresh is only started with the time to finish and store it. */
  getAccessToken(options?: { readonly deadline?: Deadline }): Promise<string>;
  /** The server rejected `rejected`: return a fresh token (refreshing if nobody did yet). */
  refreshAfterRejection(rejected: string, options?: { readonly deadline?: Deadline }): Promise<string>;
}

export interface ApiCallEvent {
  /** API path, e.g. `/order/202309/orders/search`. */
  readonly endpoint: string;
  /** HTTP status; 0 when no response arrived (network error, timeout). */
  readonly status: number;
  /** The request succeeded (2xx and code 0). */
  readonly ok: boolean;
  /** The server rate-limited it (429 / 36009002). */
  readonly throttled: boolean;
  readonly durationMs: number;
}

export type ClientRetryOptions = Pick<
  RetryOptions,
  "maxAttempts" | "baseDelayMs" | "maxDelayMs" | "maxRetryAfterMs" | "onRetry"
>;

export interface TikTokClientDeps {
  readonly baseUrl: string;
  readonly appKey: string;
  readonly appSecret: string;
  readonly tokens: AccessTokenProvider;
  readonly rateLimiter: RateLimiter;
  readonly clock: Clock;
  readonly fetch?: typeof fetch;
  /** Per HTTP request, body included (default 10 s); shorter when the call's deadline is nearer. */
  readonly timeoutMs?: number;
  /** An attempt is not started with less time left than this (default TIME_BUDGET.minAttemptMs). */
  readonly minAttemptMs?: number;
  readonly retry?: Partial<ClientRetryOptions>;
  readonly sleep?: Sleep;
  readonly random?: () => number;
  readonly onApiCall?: (event: ApiCallEvent) => void;
  /** Traces each HTTP request (an X-Ray subsegment on Lambda); none by default. */
  readonly trace?: HttpTracePort;
}

/** What the client tells a tracer about one HTTP request: never the URL's query, tokens or bodies. */
export interface HttpTraceSpan {
  /** The response's status (0: none arrived) and whether TikTok throttled it. */
  end(outcome: { readonly status: number; readonly ok: boolean; readonly throttled: boolean }): void;
  fail(error: unknown): void;
}

export interface HttpTracePort {
  /** Runs one HTTP request inside a span named after its endpoint. */
  request<T>(
    spec: { readonly method: string; readonly endpoint: string },
    run: (span: HttpTraceSpan) => Promise<T>,
  ): Promise<T>;
}

/** Per-call options every endpoint takes. */
export interface CallOptions {
  readonly signal?: AbortSignal;
  /**
   * When the whole call (retries and waits included) must be over: attempts get what is left as
   * their timeout, and a wait that does not fit throws DeadlineExceededError instead of sleeping.
   */
  readonly deadline?: Deadline;
}

export const DEFAULT_CLIENT_RETRY: ClientRetryOptions = {
  maxAttempts: 4,
  baseDelayMs: 250,
  maxDelayMs: 5_000,
};

export interface SearchOrdersRequest extends CallOptions {
  readonly shopCipher: string;
  readonly query: SearchOrdersQuery;
  readonly body: SearchOrdersBody;
}

export interface SearchOrdersResult {
  readonly orders: unknown[];
  /** Undefined on the last page (TikTok sends "" or omits it: both mean the end). */
  readonly nextPageToken?: string;
  /** Orders matching the filter at query time (falls back to the page size if TikTok omits it). */
  readonly totalCount: number;
  readonly requestId?: string;
}

export interface GetOrdersRequest extends CallOptions {
  readonly shopCipher: string;
  readonly ids: readonly string[];
}

type QueryValue = string | number | boolean | readonly string[] | undefined;

interface RequestSpec {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly shopCipher?: string;
  readonly params?: Readonly<Record<string, QueryValue>>;
  readonly body?: object;
}

interface Success {
  readonly data: unknown;
  readonly requestId: string | undefined;
  readonly httpStatus: number;
}

/**
 * The JSON text to send and sign, or undefined for no body. Undefined fields are dropped and an empty
 * object is not sent at all: TikTok's Node SDK leaves a literal `{}` out of the signature while the
 * docs sign the exact bytes, so the one unambiguous choice is to send (and sign) nothing.
 */
export function serializeBody(body: object | undefined): string | undefined {
  if (body === undefined) return undefined;
  const text = JSON.stringify(body);
  return text === "{}" ? undefined : text;
}

/** Decoded query values as sent and signed: no empty values, arrays joined with commas. */
export function buildQuery(params: Readonly<Record<string, QueryValue>>): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, raw] of Object.entries(params)) {
    if (raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(",") : String(raw);
    if (value !== "") query[key] = value;
  }
  return query;
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(header: string | null, nowMs: number): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class TikTokClient {
  private readonly deps: TikTokClientDeps;
  private readonly fetchFn: typeof fetch;
  private readonly retry: ClientRetryOptions;
  private readonly baseUrl: string;

  constructor(deps: TikTokClientDeps) {
    this.deps = deps;
    this.fetchFn = deps.fetch ?? fetch;
    this.retry = { ...DEFAULT_CLIENT_RETRY, ...deps.retry };
    this.baseUrl = deps.baseUrl.replace(/\/+$/, "");
  }

  async searchOrders(request: SearchOrdersRequest): Promise<SearchOrdersResult> {
    const path = API_PATHS.searchOrders;
    const { query } = request;
    const result = await this.call(
      {
        method: "POST",
        path,
        shopCipher: request.shopCipher,
        params: {
          page_size: query.page_size,
          page_token: query.page_token,
          sort_field: query.sort_field,
          sort_order: query.sort_order,
        },
        body: request.body,
      },
      request,
    );
    const data = result.data as Partial<SearchOrdersData> | null;
    if (!isRecord(data) || !Array.isArray(data.orders)) {
      throw malformedResponseError(path, result.httpStatus, result.requestId, "data.orders missing");
    }
    const token = data.next_page_token;
    return {
      orders: data.orders,
      ...(typeof token === "string" && token !== "" ? { nextPageToken: token } : {}),
      totalCount: typeof data.total_count === "number" ? data.total_count : data.orders.length,
      ...(result.requestId ? { requestId: result.requestId } : {}),
    };
  }

  /** Order detail for up to 50 ids; an empty list returns nothing without a request. */
  async getOrders(request: GetOrdersRequest): Promise<{ orders: unknown[] }> {
    const path = API_PATHS.orderDetail;
    if (request.ids.length === 0) return { orders: [] };
    if (request.ids.length > MAX_ORDER_IDS_PER_DETAIL_CALL) {
      throw new TikTokInvalidRequestError(
        `TikTok ${path}: at most ${MAX_ORDER_IDS_PER_DETAIL_CALL} ids per call, got ${request.ids.length}`,
        { endpoint: path },
      );
    }
    const result = await this.call(
      { method: "GET", path, shopCipher: request.shopCipher, params: { ids: request.ids } },
      request,
    );
    const data = result.data as Partial<GetOrdersData> | null;
    if (!isRecord(data) || !Array.isArray(data.orders)) {
      throw malformedResponseError(path, result.httpStatus, result.requestId, "data.orders missing");
    }
    return { orders: data.orders };
  }

  /** Shops the token is authorized for; sent without shop_cipher (TikTok refuses it here). */
  async getAuthorizedShops(options: CallOptions = {}): Promise<ShopInfo[]> {
    const path = API_PATHS.shops;
    const result = await this.call({ method: "GET", path }, options);
    const data = result.data as Partial<AuthorizedShopsData> | null;
    if (!isRecord(data) || !Array.isArray(data.shops)) {
      throw malformedResponseError(path, result.httpStatus, result.requestId, "data.shops missing");
    }
    return data.shops.filter(isRecord) as unknown as ShopInfo[];
  }

  /** One logical call: retries with backoff, and at most one token refresh across all attempts. */
  private async call(spec: RequestSpec, options: CallOptions): Promise<Success> {
    let refreshed = false;
    const { signal, deadline } = options;
    return withRetries(
      async () => {
        const { tokens } = this.deps;
        const token = await (deadline ? tokens.getAccessToken({ deadline }) : tokens.getAccessToken());
        try {
          return await this.send(spec, token, options);
        } catch (error) {
          if (!(error instanceof TikTokTokenExpiredError) || refreshed) throw error;
          refreshed = true;
          const fresh = await (deadline
            ? tokens.refreshAfterRejection(token, { deadline })
            : tokens.refreshAfterRejection(token));
          return await this.send(spec, fresh, options);
        }
      },
      {
        ...this.retry,
        ...(this.deps.sleep ? { sleep: this.deps.sleep } : {}),
        ...(this.deps.random ? { random: this.deps.random } : {}),
        ...(signal ? { signal } : {}),
        ...(deadline ? { deadline, minAttemptMs: this.minAttemptMs() } : {}),
      },
    );
  }

  private minAttemptMs(): number {
    return this.deps.minAttemptMs ?? TIME_BUDGET.minAttemptMs;
  }

  /**
   * Waits for the shop's request budget, but never past the point where an attempt would no longer
   * fit: a wait that outlasts the deadline ends in DeadlineExceededError (our own throttle).
   */
  private async acquireBudget(signal: AbortSignal | undefined, deadline: Deadline | undefined) {
    const latest = deadline?.minus(this.minAttemptMs());
    if (latest?.expired()) {
      throw new DeadlineExceededError("no time left to wait for the shop's request budget", 0);
    }
    const timer = latest?.signal();
    const combined = signal && timer ? AbortSignal.any([signal, timer]) : (signal ?? timer);
    try {
      await this.deps.rateLimiter.acquire(combined);
    } catch (error) {
      if (signal?.aborted || !timer?.aborted) throw error;
      throw new DeadlineExceededError(
        "the shop's request budget had no slot before the deadline",
        deadline?.remainingMs() ?? 0,
        { cause: error },
      );
    }
  }

  /** Exactly one HTTP request, signed with a fresh timestamp. */
  private async send(spec: RequestSpec, accessToken: string, options: CallOptions): Promise<Success> {
    const { deps } = this;
    const { signal, deadline } = options;
    await this.acquireBudget(signal, deadline);

    const body = spec.method === "POST" ? serializeBody(spec.body) : undefined;
    const query = buildQuery({
      ...spec.params,
      app_key: deps.appKey,
      timestamp: unixSeconds(deps.clock),
      shop_cipher: spec.shopCipher,
    });
    const url = new URL(`${this.baseUrl}${spec.path}`);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    url.searchParams.set("sign", sign({ appSecret: deps.appSecret, path: spec.path, query, body }));

    // The attempt's timeout shrinks to what the call's deadline leaves.
    const configuredMs = deps.timeoutMs ?? 10_000;
    const timeoutMs = Math.max(1, Math.min(configuredMs, deadline?.remainingMs() ?? Infinity));
    const timeout = AbortSignal.timeout(Math.ceil(timeoutMs));
    const attempt: Attempt = {
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      timeout,
      callerSignal: signal,
      cutByDeadline: timeoutMs < configuredMs,
    };
    if (!deps.trace) return this.exchange(spec, url, body, accessToken, attempt);
    return deps.trace.request({ method: spec.method, endpoint: spec.path }, async (span) => {
      try {
        const success = await this.exchange(spec, url, body, accessToken, attempt);
        span.end({ status: success.httpStatus, ok: true, throttled: false });
        return success;
      } catch (error) {
        span.fail(error);
        throw error;
      }
    });
  }

  /** Sends the signed request and turns the answer into data or a typed error; reports the call. */
  private async exchange(
    spec: RequestSpec,
    url: URL,
    body: string | undefined,
    accessToken: string,
    attempt: Attempt,
  ): Promise<Success> {
    const { deps } = this;
    const { timeout, callerSignal: signal } = attempt;
    const started = deps.clock.nowMs();
    let status = 0;
    let ok = false;
    let throttled = false;
    try {
      let response: Response;
      let text: string;
      try {
        response = await this.fetchFn(url, {
          method: spec.method,
          headers: { "content-type": "application/json", "x-tts-access-token": accessToken },
          ...(body === undefined ? {} : { body }),
          signal: attempt.signal,
        });
        status = response.status;
        text = await response.text();
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        const timedOut = timeout.aborted || isTimeoutError(error);
        const failure = transportError(spec.path, error, timedOut);
        // Cut by the call's deadline, not by TikTok's slowness past the configured timeout: out of time.
        if (timedOut && attempt.cutByDeadline) {
          throw new DeadlineExceededError("the attempt was cut at the call's deadline", 0, {
            cause: failure,
          });
        }
        throw failure;
      }

      let envelope: unknown;
      let parseError: unknown;
      try {
        envelope = JSON.parse(text);
      } catch (error) {
        parseError = error;
      }
      const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), deps.clock.nowMs());
      const error = classifyResponse(status, envelope, spec.path, { retryAfterMs, cause: parseError });
      if (error) {
        if (error instanceof TikTokRateLimitedError) {
          throttled = true;
          deps.rateLimiter.onThrottle();
        }
        throw error;
      }
      const record = envelope as Record<string, unknown>;
      ok = true;
      return {
        data: record.data ?? null,
        requestId: typeof record.request_id === "string" ? record.request_id : undefined,
        httpStatus: status,
      };
    } finally {
      deps.onApiCall?.({
        endpoint: spec.path,
        status,
        ok,
        throttled,
        durationMs: Math.max(0, deps.clock.nowMs() - started),
      });
    }
  }
}

/** One HTTP attempt's abort signals. */
interface Attempt {
  /** The request's signal: the caller's and the attempt's timeout. */
  readonly signal: AbortSignal;
  readonly timeout: AbortSignal;
  readonly callerSignal: AbortSignal | undefined;
  /** The timeout was shortened to the call's deadline. */
  readonly cutByDeadline: boolean;
}

function isTimeoutError(error: unknown): boolean {
  return error instanceof Error && error.name === "TimeoutError";
}

export function createTikTokClient(deps: TikTokClientDeps): TikTokClient {
  return new TikTokClient(deps);
}
