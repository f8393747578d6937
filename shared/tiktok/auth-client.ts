/**
 * TikTok's token endpoints (TIKTOK_API.md "Tokens"): exchange an auth code, refresh an access token.
 * One HTTP request per call, no retries (TokenManager owns retry and single-flight). The request URL
 * carries the app secret and the refresh token, so it never appears in errors, events or logs.
 */
import { type Clock, unixSeconds } from "../clock";
import {
  classifyResponse,
  malformedResponseError,
  TikTokRateLimitedError,
  transportError,
} from "./api-errors";
import { API_PATHS, type TokenData } from "./api-types";
import type { ApiCallEvent } from "./client";

/** The port TokenManager uses (fakes in tests implement it). */
export interface TikTokAuthClient {
  refresh(refreshToken: string, signal?: AbortSignal): Promise<TokenData>;
  getToken(authCode: string, signal?: AbortSignal): Promise<TokenData>;
}

export interface HttpTikTokAuthClientDeps {
  readonly authBaseUrl: string;
  readonly appKey: string;
  readonly appSecret: string;
  readonly clock: Clock;
  readonly fetch?: typeof fetch;
  /** Default 10 s. */
  readonly timeoutMs?: number;
  /**
   * `grant_type` sent on refresh. The docs say `refresh_token`; TikTok's Node SDK sends
   * `authorized_code` — kept configurable because it is uncertain.
   */
  readonly refreshGrantType?: string;
  /** Token calls are HTTP requests to TikTok too: counted like API calls. */
  readonly onApiCall?: (event: ApiCallEvent) => void;
}

/** Expiries below this are durations, not unix times (2001-09-09): normalized to absolute. */
const MIN_ABSOLUTE_UNIX_SECONDS = 1_000_000_000;

export class HttpTikTokAuthClient implements TikTokAuthClient {
  private readonly deps: HttpTikTokAuthClientDeps;
  private readonly fetchFn: typeof fetch;

  constructor(deps: HttpTikTokAuthClientDeps) {
    this.deps = deps;
    this.fetchFn = deps.fetch ?? fetch;
  }

  refresh(refreshToken: string, signal?: AbortSignal): Promise<TokenData> {
    return this.request(
      API_PATHS.tokenRefresh,
      { refresh_token: refreshToken, grant_type: this.deps.refreshGrantType ?? "refresh_token" },
      [refreshToken],
      signal,
    );
  }

  getToken(authCode: string, signal?: AbortSignal): Promise<TokenData> {
    return this.request(
      API_PATHS.tokenGet,
      { auth_code: authCode, grant_type: "authorized_code" },
      [authCode],
      signal,
    );
  }

  private async request(
    path: string,
    params: Record<string, string>,
    secrets: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<TokenData> {
    const { deps } = this;
    const url = new URL(`${deps.authBaseUrl.replace(/\/+$/, "")}${path}`);
    url.searchParams.set("app_key", deps.appKey);
    url.searchParams.set("app_secret", deps.appSecret);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    const redact = (error: unknown) => redacted(error, [deps.appSecret, ...secrets]);

    const timeout = AbortSignal.timeout(deps.timeoutMs ?? 10_000);
    const requestSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const started = deps.clock.nowMs();
    let status = 0;
    let ok = false;
    let throttled = false;
    try {
      let response: Response;
      let text: string;
      try {
        response = await this.fetchFn(url, { method: "GET", signal: requestSignal });
        status = response.status;
        text = await response.text();
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        throw transportError(path, redact(error), timeout.aborted);
      }
      let envelope: unknown;
      let parseError: unknown;
      try {
        envelope = JSON.parse(text);
      } catch (error) {
        parseError = error;
      }
      const error = classifyResponse(status, envelope, path, { cause: parseError });
      if (error) {
        throttled = error instanceof TikTokRateLimitedError;
        throw error;
      }
      const record = envelope as { data?: unknown; request_id?: unknown };
      const requestId = typeof record.request_id === "string" ? record.request_id : undefined;
      const data = parseTokenData(record.data, unixSeconds(deps.clock));
      if (!data) throw malformedResponseError(path, status, requestId, "token data missing");
      ok = true;
      return data;
    } finally {
      deps.onApiCall?.({ endpoint: path, status, ok, throttled, durationMs: deps.clock.nowMs() - started });
    }
  }
}

/** Validates `data` and makes both expiries absolute unix seconds. */
export function parseTokenData(data: unknown, nowSeconds: number): TokenData | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const raw = data as Record<string, unknown>;
  if (typeof raw.access_token !== "string" || raw.access_token === "") return undefined;
  const accessExpiry = toNumber(raw.access_token_expire_in);
  if (accessExpiry === undefined) return undefined;
  const absolute = (value: number) =>
    value > 0 && value < MIN_ABSOLUTE_UNIX_SECONDS ? nowSeconds + value : value;
  return {
    access_token: raw.access_token,
    access_token_expire_in: absolute(accessExpiry),
    refresh_token: typeof raw.refresh_token === "string" ? raw.refresh_token : "",
    refresh_token_expire_in: absolute(toNumber(raw.refresh_token_expire_in) ?? 0),
    open_id: typeof raw.open_id === "string" ? raw.open_id : "",
    seller_name: typeof raw.seller_name === "string" ? raw.seller_name : "",
    seller_base_region: typeof raw.seller_base_region === "string" ? raw.seller_base_region : "",
    user_type: toNumber(raw.user_type) ?? 0,
    granted_scopes: Array.isArray(raw.granted_scopes)
      ? raw.granted_scopes.filter((scope): scope is string => typeof scope === "string")
      : [],
  };
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value)))
    return Number(value);
  return undefined;
}

/** A transport error whose message might echo the URL: secrets replaced, name kept, chain cut. */
function redacted(error: unknown, secrets: readonly string[]): unknown {
  if (!(error instanceof Error)) return error;
  const scrub = (text: string) =>
    secrets.reduce((acc, secret) => (secret ? acc.split(secret).join("[redacted]") : acc), text);
  const copy = new Error(scrub(error.message));
  copy.name = error.name;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  if (typeof code === "string") Object.assign(copy, { code });
  return copy;
}
