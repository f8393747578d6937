/**
 * The emulator's HTTP side: one node:http server on loopback serving the API paths (gateway checks,
 * faults, latency, then the handlers), the auth host (under `/auth`) and the admin interface (under
 * `/__admin`, see admin.ts). All state lives in the world it serves (world.ts).
 */
import { randomBytes } from "node:crypto";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import type { ApiEnvelope, TokenData } from "../../../shared/tiktok/api-types";
import { API_CODES } from "../../../shared/tiktok/api-types";
import { verifySignature } from "../../../shared/tiktok/signing";
import { handleAdminRequest } from "./admin";
import { orderDetail, searchOrders, shopInfo } from "./api-handlers";
import { AdminRequestError, apiErrors, TikTokApiError } from "./api-refusals";
import type { Grant } from "./auth-store";
import { type FaultKind, isPageFault, type PageFaultKind } from "./config";
import { type Outcome, outcomeOf } from "./counters";
import { ADMIN_BASE_PATH, AUTH_BASE_PATH, type EndpointSpec, resolveEndpoint } from "./endpoints";
import type { ShopOrderStore } from "./order-store";
import { PageTokenCodec } from "./page-token";
import type { EmulatorWorld } from "./world";

const MAX_BODY_BYTES = 1024 * 1024;

interface ApiRequest {
  readonly endpoint: EndpointSpec;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly rawBody: string;
  readonly headers: IncomingHttpHeaders;
  readonly pageFault: PageFaultKind | undefined;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(apiErrors.parameter("Invalid parameter: the request body is too large"));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (response.writableEnded || response.destroyed) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/** Where the server binds: loopback and a free port by default. */
export interface ListenOptions {
  readonly host?: string;
  readonly port?: number;
}

export class EmulatorServer {
  private readonly codec = new PageTokenCodec();
  private readonly hangingTimers = new Set<NodeJS.Timeout>();
  private readonly requestIdPrefix = randomBytes(3).toString("hex").toUpperCase();
  private requestSequence = 0;
  private readonly server: Server;
  private listeningPort = 0;

  constructor(
    private readonly world: EmulatorWorld,
    private readonly address: ListenOptions = {},
  ) {
    this.server = createServer((request, response) => {
      this.dispatch(request, response).catch((error: unknown) => {
        this.world.log(
          `unhandled error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
        sendJson(response, 500, this.envelope(API_CODES.internalError, "Internal error", null));
      });
    });
  }

  async listen(): Promise<void> {
    const host = this.address.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.address.port ?? 0, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.listeningPort = (this.server.address() as AddressInfo).port;
  }

  get port(): number {
    return this.listeningPort;
  }

  get baseUrl(): string {
    const host = this.address.host ?? "127.0.0.1";
    const reachable = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
    return `http://${reachable}:${this.listeningPort}`;
  }

  get authBaseUrl(): string {
    return `${this.baseUrl}${AUTH_BASE_PATH}`;
  }

  get adminBaseUrl(): string {
    return `${this.baseUrl}${ADMIN_BASE_PATH}`;
  }

  /** Drops held ("timeout" fault) requests and open connections; resolves once the server is closed. */
  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      for (const timer of this.hangingTimers) clearTimeout(timer);
      this.hangingTimers.clear();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** The shops a request concerns (for per-shop counters, the request log and per-shop faults). */
  private shopsOf(
    endpoint: EndpointSpec,
    query: Readonly<Record<string, string>>,
    headers: IncomingHttpHeaders,
  ) {
    if (endpoint.shopScoped) {
      const store = query.shop_cipher ? this.world.storeByCipher(query.shop_cipher) : undefined;
      return store ? [store.shop.id] : [];
    }
    let grant: Grant | undefined;
    if (endpoint.name === "tokenRefresh") grant = this.world.auth.grantOf("refresh", query.refresh_token);
    else if (endpoint.name === "tokenGet") grant = this.world.auth.grantOf("code", query.auth_code);
    else {
      const header = headers["x-tts-access-token"];
      grant = this.world.auth.grantOf("access", Array.isArray(header) ? header[0] : header);
    }
    return grant ? [...grant.shopIds] : [];
  }

  private envelope<T>(code: number, message: string, data: T | null): ApiEnvelope<T> {
    this.requestSequence++;
    const stamp = new Date(this.world.nowMs()).toISOString().replace(/\D/g, "").slice(0, 14);
    const sequence = this.requestSequence.toString(16).toUpperCase().padStart(8, "0");
    return { code, message, request_id: `${stamp}${this.requestIdPrefix}${sequence}`, data };
  }

  private async dispatch(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://emulator.invalid");
    const path = url.pathname;
    if (path === ADMIN_BASE_PATH || path.startsWith(`${ADMIN_BASE_PATH}/`)) {
      const rawBody = await readBody(request).catch(() => "");
      const answer = await handleAdminRequest(
        this.world,
        request.method ?? "GET",
        path,
        url.searchParams,
        rawBody,
      );
      sendJson(response, answer.status, answer.body);
      return;
    }
    const endpoint = resolveEndpoint(request.method ?? "GET", path);
    let rawBody: string;
    try {
      rawBody = await readBody(request);
    } catch (error) {
      this.answerError(response, endpoint?.name ?? "unknown", error);
      return;
    }
    if (!endpoint) {
      this.answerError(response, "unknown", apiErrors.badPath());
      return;
    }
    this.world.catchUpContinuousMutations();
    await this.simulateLatency();
    const options = this.world.config();
    const query = Object.fromEntries(url.searchParams);
    const shopIds = this.shopsOf(endpoint, query, request.headers);
    const shopRates =
      endpoint.shopScoped && shopIds[0] !== undefined ? options.shopFaults[shopIds[0]] : undefined;
    const fault = this.world.faults.pick(
      {
        endpoint: endpoint.name,
        hasPageToken: endpoint.name === "searchOrders" && Boolean(query.page_token),
        updateTimeSearch: endpoint.name === "searchOrders" && query.sort_field === "update_time",
        ratesApply: !endpoint.authHost,
      },
      shopRates ?? options.faults,
    );
    let pageFault: PageFaultKind | undefined;
    if (fault !== undefined) {
      this.world.requestCounters.recordFault(fault);
      // Page faults alter the page the handler serves; every other fault answers instead of it.
      if (isPageFault(fault)) pageFault = fault;
      else {
        this.injectFault(fault, endpoint, request, response, shopIds);
        return;
      }
    }
    try {
      const data = endpoint.authHost
        ? this.handleAuthHost(endpoint, query)
        : this.handleApi({ endpoint, path, query, rawBody, headers: request.headers, pageFault });
      this.world.requestCounters.record(endpoint.name, "ok", shopIds, this.world.now());
      sendJson(response, 200, this.envelope(API_CODES.ok, "Success", data));
    } catch (error) {
      this.answerError(response, endpoint.name, error, shopIds);
    }
  }

  private answerError(
    response: ServerResponse,
    endpointName: string,
    error: unknown,
    shopIds: readonly string[] = [],
  ): void {
    let apiError: TikTokApiError;
    if (error instanceof TikTokApiError) {
      apiError = error;
    } else if (error instanceof AdminRequestError) {
      apiError = apiErrors.parameter(error.message);
    } else {
      this.world.log(
        `handler error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      apiError = apiErrors.internal();
    }
    this.world.requestCounters.record(
      endpointName,
      outcomeOf(apiError.httpStatus, apiError.code),
      shopIds,
      this.world.now(),
    );
    sendJson(
      response,
      apiError.httpStatus,
      this.envelope(apiError.code, apiError.message, null),
      apiError.headers,
    );
  }

  private async simulateLatency(): Promise<void> {
    const { latencyMs, latencyJitterMs } = this.world.config();
    const delay = latencyMs + (latencyJitterMs > 0 ? this.world.latencyRandom.next() * latencyJitterMs : 0);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  }

  private injectFault(
    fault: Exclude<FaultKind, PageFaultKind>,
    endpoint: EndpointSpec,
    request: IncomingMessage,
    response: ServerResponse,
    shopIds: readonly string[],
  ): void {
    const options = this.world.config();
    const record = (outcome: Outcome) =>
      this.world.requestCounters.record(endpoint.name, outcome, shopIds, this.world.now());
    switch (fault) {
      case "http500":
        this.answerError(response, endpoint.name, apiErrors.internal(), shopIds);
        return;
      case "http504":
        this.answerError(response, endpoint.name, apiErrors.gatewayTimeout(), shopIds);
        return;
      case "rateLimit":
        this.answerError(
          response,
          endpoint.name,
          apiErrors.rateLimited(options.retryAfter ? 1 : undefined),
          shopIds,
        );
        return;
      case "rateLimitNoRetryAfter":
        this.answerError(response, endpoint.name, apiErrors.rateLimited(undefined));
        return;
      case "expiredPageToken":
        this.answerError(
          response,
          endpoint.name,
          apiErrors.pageTokenRefused(options.pageTokenRefusal),
          shopIds,
        );
        return;
      case "expiredAccessToken":
        this.answerError(response, endpoint.name, apiErrors.accessTokenExpired(), shopIds);
        return;
      case "malformedJson": {
        record("malformedJson");
        const text = JSON.stringify(this.envelope(API_CODES.ok, "Success", { orders: [{ id: "57" }] }));
        response.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
        response.end(text.slice(0, Math.floor(text.length / 2)));
        return;
      }
      case "connectionReset":
        record("connectionReset");
        request.socket.destroy();
        return;
      case "timeout": {
        record("timeout");
        // Hold the request past any sane client timeout, then drop the connection without an answer.
        const timer = setTimeout(() => {
          this.hangingTimers.delete(timer);
          request.socket.destroy();
        }, options.hangMs);
        this.hangingTimers.add(timer);
        return;
      }
    }
  }

  private checkTimestamp(raw: string | undefined): void {
    const options = this.world.config();
    const reference =
      options.timestampReference === "emulator" ? this.world.now() : Math.floor(Date.now() / 1000);
    if (raw === undefined || !/^\d{1,12}$/.test(raw)) {
      throw apiErrors.parameter("Invalid parameter: timestamp is missing or not unix seconds");
    }
    const timestamp = Number(raw);
    const earliest = reference - options.timestampPastSkewSeconds;
    const latest = reference + options.timestampFutureSkewSeconds;
    if (timestamp < earliest || timestamp > latest) {
      throw apiErrors.parameter(
        `Invalid parameter: timestamp ${timestamp} is outside the accepted window [${earliest}, ${latest}]`,
      );
    }
  }

  /** Gateway checks (app_key, timestamp, sign, token, shop, rate) in that order, then the handler. */
  private handleApi(request: ApiRequest): unknown {
    const { endpoint, query, rawBody } = request;
    const options = this.world.config();
    const app = this.world.appByKey(query.app_key ?? "");
    if (!app) throw apiErrors.parameter("Invalid parameter: app_key is missing or unknown");
    this.checkTimestamp(query.timestamp);
    const received = query.sign;
    if (!received) throw apiErrors.invalidSign();
    const signed = { appSecret: app.appSecret, path: request.path, query };
    const validSign =
      verifySignature({ ...signed, body: rawBody }, received) ||
      (rawBody === "{}" && options.acceptUnsignedEmptyObjectBody && verifySignature(signed, received));
    if (!validSign) throw apiErrors.invalidSign();
    const tokenHeader = request.headers["x-tts-access-token"];
    const token = Array.isArray(tokenHeader) ? tokenHeader[0] : tokenHeader;
    const access = this.world.auth.checkAccessToken(token, app.appKey, this.world.now());
    if (!access.ok)
      throw access.reason === "expired" ? apiErrors.accessTokenExpired() : apiErrors.accessTokenInvalid();
    let store: ShopOrderStore | undefined;
    if (endpoint.shopScoped) {
      const cipher = query.shop_cipher;
      if (!cipher) throw apiErrors.missingShopCipher();
      store = this.world.storeByCipher(cipher);
      if (!store) throw apiErrors.parameter("Invalid parameter: shop_cipher is invalid");
      if (!access.grant.shopIds.includes(store.shop.id)) {
        throw apiErrors.parameter("Invalid parameter: shop_cipher is not authorized for this access_token");
      }
    } else if (query.shop_cipher !== undefined) {
      throw apiErrors.parameter("Unexpected identifier: shop_cipher is not accepted by this API");
    }
    const rateKey = store ? `${app.appKey}|${store.shop.id}` : app.appKey;
    const decision = this.world.limiter.take(rateKey, options.qps, options.burst);
    if (!decision.allowed) {
      throw apiErrors.rateLimited(options.retryAfter ? decision.retryAfterSeconds : undefined);
    }
    switch (endpoint.name) {
      case "searchOrders": {
        const outcome = searchOrders(
          {
            store: store as ShopOrderStore,
            codec: this.codec,
            options,
            now: this.world.now(),
            pageFault: request.pageFault,
            random: this.world.pageFaultRandom,
          },
          query,
          rawBody,
        );
        this.world.requestCounters.recordSearchServed(outcome.served);
        return outcome.data;
      }
      case "orderDetail":
        return orderDetail(store as ShopOrderStore, query);
      case "shops":
        return {
          shops: access.grant.shopIds
            .map((id) => this.world.findStore(id))
            .filter((candidate): candidate is ShopOrderStore => candidate !== undefined)
            .map(shopInfo),
        };
      default:
        throw apiErrors.badPath();
    }
  }

  /** The auth host: credentials in the query, refusals with `authErrorHttpStatus` (200 by default). */
  private handleAuthHost(endpoint: EndpointSpec, query: Readonly<Record<string, string>>): TokenData {
    const options = this.world.config();
    const refuse = (code: number, message: string) =>
      new TikTokApiError(options.authErrorHttpStatus, code, message);
    const app = this.world.appByKey(query.app_key ?? "");
    if (!app || query.app_secret !== app.appSecret) {
      throw refuse(API_CODES.parameterOrAuthError, "Invalid parameter: app_key or app_secret is invalid");
    }
    if (endpoint.name === "tokenGet") {
      if (query.grant_type !== "authorized_code") {
        throw refuse(API_CODES.parameterOrAuthError, "Invalid parameter: grant_type must be authorized_code");
      }
      if (!query.auth_code)
        throw refuse(API_CODES.parameterOrAuthError, "Invalid parameter: auth_code is required");
      const tokens = this.world.auth.exchangeAuthCode(app.appKey, query.auth_code, this.world.now(), options);
      if (!tokens) {
        throw refuse(
          API_CODES.noAuthRecord,
          "Invalid auth_code: no auth record (unknown, expired or already used)",
        );
      }
      return tokens;
    }
    // TikTok's own Node SDK sends grant_type=authorized_code on refresh too.
    if (query.grant_type !== "refresh_token" && query.grant_type !== "authorized_code") {
      throw refuse(API_CODES.parameterOrAuthError, "Invalid parameter: grant_type must be refresh_token");
    }
    if (!query.refresh_token) {
      throw refuse(API_CODES.parameterOrAuthError, "Invalid parameter: refresh_token is required");
    }
    const outcome = this.world.auth.refresh(
      app.appKey,
      query.refresh_token,
      this.world.now(),
      options,
      options,
    );
    if (outcome.ok) return outcome.tokens;
    throw outcome.reason === "expired"
      ? refuse(API_CODES.refreshTokenExpired, "refresh_token has expired: the seller must authorize again")
      : refuse(API_CODES.noAuthRecord, "refresh_token is invalid: no auth record");
  }
}
