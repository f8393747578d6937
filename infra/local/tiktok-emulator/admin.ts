/**
 * `/__admin/*`: a JSON mirror of the in-process API for tests and tools in other processes. No signature
 * (the server binds loopback only). Answers are plain JSON; refusals are `{error: {code, message}}`.
 * It drives the world through `EmulatorControl` only, so it depends on neither the world nor the server.
 */

import { AdminRequestError, EmulatorConfigError } from "./api-refusals";
import type { RuntimeOptions } from "./config";
import type { EmulatorControl } from "./control";
import { ADMIN_BASE_PATH } from "./endpoints";
import type { FailNextSpec } from "./faults";
import type { InvalidOrderField } from "./order-store";

export interface AdminAnswer {
  readonly status: number;
  readonly body: unknown;
}

type Body = Record<string, unknown>;

function parseBody(rawBody: string): Body {
  if (rawBody.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody);
  } catch {
    throw new AdminRequestError(400, "the request body is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new AdminRequestError(400, "the request body must be a JSON object");
  }
  return parsed as Body;
}

function optionalNumber(body: Body, ...names: string[]): number | undefined {
  for (const name of names) {
    const value = body[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new AdminRequestError(400, `${name} must be a number`);
    }
    return value;
  }
  return undefined;
}

function optionalString(body: Body, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = body[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") throw new AdminRequestError(400, `${name} must be a string`);
    return value;
  }
  return undefined;
}

function optionalStrings(body: Body, ...names: string[]): string[] | undefined {
  for (const name of names) {
    const value = body[name];
    if (value === undefined || value === null) continue;
    if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
      throw new AdminRequestError(400, `${name} must be an array of strings`);
    }
    return value as string[];
  }
  return undefined;
}

type Route = (emulator: EmulatorControl, body: Body, query: URLSearchParams) => unknown;

const ROUTES: Readonly<Record<string, Route>> = {
  "GET health": (emulator) => ({ ok: true, now: emulator.now() }),
  "GET shops": (emulator) => ({
    shops: emulator.shops().map((shop) => ({ ...shop, orders: emulator.orderCount(shop.id) })),
  }),
  "GET truth": (emulator, _body, query) => {
    const shopId = query.get("shop_id") ?? emulator.shops()[0]?.id;
    if (!shopId) throw new AdminRequestError(400, "shop_id is required");
    const summary = query.get("summary") === "1" || query.get("summary") === "true";
    const offset = query.get("offset");
    const limit = query.get("limit");
    const range = {
      ...(offset === null ? {} : { offset: Number(offset) }),
      ...(limit === null ? {} : { limit: Number(limit) }),
    };
    if (Object.values(range).some((value) => !Number.isInteger(value) || value < 0)) {
      throw new AdminRequestError(400, "offset and limit must be non-negative integers");
    }
    const orders = summary ? emulator.truthSummary(shopId, range) : emulator.truth(shopId, range);
    return { shop_id: shopId, total: emulator.orderCount(shopId), count: orders.length, orders };
  },
  "POST mutate": (emulator, body) => {
    const count = optionalNumber(body, "count");
    const seed = optionalNumber(body, "seed");
    const shopId = optionalString(body, "shopId", "shop_id");
    const orderIds = optionalStrings(body, "orderIds", "order_ids");
    const mutated = emulator.mutate({
      ...(count === undefined ? {} : { count }),
      ...(seed === undefined ? {} : { seed }),
      ...(shopId === undefined ? {} : { shopId }),
      ...(orderIds === undefined ? {} : { orderIds }),
    });
    return { mutated };
  },
  "POST create-orders": (emulator, body) => {
    const count = optionalNumber(body, "count");
    if (count === undefined) throw new AdminRequestError(400, "count is required");
    const seed = optionalNumber(body, "seed");
    const shopId = optionalString(body, "shopId", "shop_id");
    const lineItems = optionalNumber(body, "lineItems", "line_items");
    const created = emulator.createOrders({
      count,
      ...(seed === undefined ? {} : { seed }),
      ...(shopId === undefined ? {} : { shopId }),
      ...(lineItems === undefined ? {} : { lineItems }),
    });
    return { created };
  },
  "POST oversize-orders": (emulator, body) => {
    const orderIds = optionalStrings(body, "orderIds", "order_ids");
    if (orderIds === undefined) throw new AdminRequestError(400, "orderIds is required");
    const lineItems = optionalNumber(body, "lineItems", "line_items");
    const shopId = optionalString(body, "shopId", "shop_id");
    const oversized = emulator.oversizeOrders({
      orderIds,
      ...(lineItems === undefined ? {} : { lineItems }),
      ...(shopId === undefined ? {} : { shopId }),
    });
    return { oversized };
  },
  "POST flood": (emulator, body) => {
    const count = optionalNumber(body, "count");
    if (count === undefined) throw new AdminRequestError(400, "count is required");
    const seed = optionalNumber(body, "seed");
    const shopId = optionalString(body, "shopId", "shop_id");
    const source = optionalString(body, "source");
    const flooded = emulator.flood({
      count,
      ...(seed === undefined ? {} : { seed }),
      ...(shopId === undefined ? {} : { shopId }),
      ...(source === undefined ? {} : { source: source as "update" | "create" }),
    });
    return { flooded };
  },
  "POST corrupt-orders": (emulator, body) => {
    const orderIds = optionalStrings(body, "orderIds", "order_ids");
    const field = optionalString(body, "field");
    if (orderIds === undefined || field === undefined) {
      throw new AdminRequestError(400, "orderIds and field are required");
    }
    const shopId = optionalString(body, "shopId", "shop_id");
    emulator.corruptOrders({
      orderIds,
      field: field as InvalidOrderField,
      ...(shopId === undefined ? {} : { shopId }),
    });
    return { corrupted: orderIds.length, field };
  },
  "GET config": (emulator) => ({ config: emulator.config() }),
  "POST configure": (emulator, body) => ({ config: emulator.configure(body as Partial<RuntimeOptions>) }),
  "POST fail-next": (emulator, body) => {
    emulator.failNext(body as unknown as FailNextSpec);
    return { ok: true };
  },
  "POST clear-faults": (emulator) => {
    emulator.clearFaultQueue();
    return { ok: true };
  },
  "GET counters": (emulator) => emulator.counters(),
  "POST reset-counters": (emulator) => {
    emulator.resetCounters();
    return { ok: true };
  },
  "GET clock": (emulator) => emulator.clock(),
  "POST clock": (emulator, body) => {
    const set = optionalNumber(body, "set");
    const advance = optionalNumber(body, "advance");
    const frozen = body.frozen;
    if (frozen !== undefined && typeof frozen !== "boolean") {
      throw new AdminRequestError(400, "frozen must be true or false");
    }
    if (set !== undefined) emulator.setClock(set, frozen === undefined ? {} : { frozen });
    else if (frozen !== undefined) emulator.setClock(emulator.now(), { frozen });
    if (advance !== undefined) emulator.advance(advance);
    return emulator.clock();
  },
  "POST tokens": (emulator, body) => {
    const appKey = optionalString(body, "appKey", "app_key");
    const shopIds = optionalStrings(body, "shopIds", "shop_ids");
    const accessTokenTtlSeconds = optionalNumber(body, "accessTokenTtlSeconds");
    const refreshTokenTtlSeconds = optionalNumber(body, "refreshTokenTtlSeconds");
    return emulator.issueTokens({
      ...(appKey === undefined ? {} : { appKey }),
      ...(shopIds === undefined ? {} : { shopIds }),
      ...(accessTokenTtlSeconds === undefined ? {} : { accessTokenTtlSeconds }),
      ...(refreshTokenTtlSeconds === undefined ? {} : { refreshTokenTtlSeconds }),
    });
  },
  "POST auth-code": (emulator, body) => {
    const appKey = optionalString(body, "appKey", "app_key");
    const shopIds = optionalStrings(body, "shopIds", "shop_ids");
    return {
      auth_code: emulator.createAuthCode({
        ...(appKey === undefined ? {} : { appKey }),
        ...(shopIds === undefined ? {} : { shopIds }),
      }),
    };
  },
  "POST expire-access-tokens": (emulator, body) => {
    const shopId = optionalString(body, "shopId", "shop_id");
    return { expired: emulator.expireAccessTokens(shopId === undefined ? {} : { shopId }) };
  },
  "POST revoke-shop-refresh-tokens": (emulator, body) => {
    const shopId = optionalString(body, "shopId", "shop_id");
    if (shopId === undefined) throw new AdminRequestError(400, "shop_id is required");
    return { revoked: emulator.revokeRefreshTokensOf(shopId) };
  },
  "GET requests": (emulator, _body, query) => {
    const after = query.get("after");
    const afterSeq = after === null ? 0 : Number(after);
    if (!Number.isInteger(afterSeq) || afterSeq < 0)
      throw new AdminRequestError(400, "after must be a sequence number");
    const shopId = query.get("shop_id");
    return {
      last_seq: emulator.lastRequestSeq(),
      requests: emulator.requests({ afterSeq, ...(shopId === null ? {} : { shopId }) }),
    };
  },
  "POST revoke-refresh-token": (emulator, body) => {
    const token = optionalString(body, "refreshToken", "refresh_token");
    if (token === undefined) throw new AdminRequestError(400, "refresh_token is required");
    return { revoked: emulator.revokeRefreshToken(token) };
  },
  "POST seed": (emulator, body) => ({ shops: emulator.loadDataset(body) }),
  "POST webhook": (emulator, body) => {
    const type = optionalNumber(body, "type");
    const shopId = optionalString(body, "shopId", "shop_id");
    if (type === undefined || shopId === undefined)
      throw new AdminRequestError(400, "type and shop_id are required");
    const data = body.data;
    if (data !== undefined && (typeof data !== "object" || data === null || Array.isArray(data))) {
      throw new AdminRequestError(400, "data must be an object");
    }
    const notificationId = optionalString(body, "notificationId", "tts_notification_id");
    const timestamp = optionalNumber(body, "timestamp");
    const url = optionalString(body, "url");
    const delivery = emulator.sendWebhook({
      type,
      shopId,
      ...(data === undefined ? {} : { data: data as Record<string, unknown> }),
      ...(notificationId === undefined ? {} : { notificationId }),
      ...(timestamp === undefined ? {} : { timestamp }),
      ...(url === undefined ? {} : { url }),
    });
    return { delivery };
  },
  "GET webhooks": (emulator, _body, query) => {
    const after = query.get("after");
    const afterSeq = after === null ? 0 : Number(after);
    if (!Number.isInteger(afterSeq) || afterSeq < 0)
      throw new AdminRequestError(400, "after must be a sequence number");
    return { counters: emulator.webhookCounters(), deliveries: emulator.webhookDeliveries(afterSeq) };
  },
};

export const ADMIN_ROUTES = Object.keys(ROUTES).map((route) => {
  const [method, name] = route.split(" ");
  return `${method} ${ADMIN_BASE_PATH}/${name}`;
});

export async function handleAdminRequest(
  emulator: EmulatorControl,
  method: string,
  path: string,
  query: URLSearchParams,
  rawBody: string,
): Promise<AdminAnswer> {
  const name = path.slice(ADMIN_BASE_PATH.length + 1);
  const route = ROUTES[`${method} ${name}`];
  if (!route) {
    return {
      status: 404,
      body: {
        error: { code: "NOT_FOUND", message: `no admin route ${method} ${path}`, routes: ADMIN_ROUTES },
      },
    };
  }
  try {
    return { status: 200, body: await route(emulator, parseBody(rawBody), query) };
  } catch (error) {
    if (error instanceof AdminRequestError) {
      const code = error.httpStatus === 404 ? "NOT_FOUND" : "BAD_REQUEST";
      return { status: error.httpStatus, body: { error: { code, message: error.message } } };
    }
    if (error instanceof EmulatorConfigError) {
      return { status: 400, body: { error: { code: "BAD_REQUEST", message: error.message } } };
    }
    throw error;
  }
}
