/** The order and shop endpoints, after the gateway checks have passed. */
import {
  ORDER_STATUSES,
  type SearchOrdersData,
  type ShopInfo,
  type TikTokOrder,
} from "../../../shared/tiktok/api-types";
import { apiErrors } from "./api-refusals";
import type { PageFaultKind, RuntimeOptions } from "./config";
import type { OrderRecord } from "./dataset";
import type { OrderFilter, PagePosition, ShopOrderStore, SortField, SortOrder } from "./order-store";
import { type PageTokenCodec, queryFingerprint } from "./page-token";
import type { SeededRandom } from "./prng";

const MAX_PAGE_SIZE = 100;
const MAX_DETAIL_IDS = 50;
const TIME_FIELDS = ["create_time_ge", "create_time_lt", "update_time_ge", "update_time_lt"] as const;

export interface SearchContext {
  readonly store: ShopOrderStore;
  readonly codec: PageTokenCodec;
  readonly options: RuntimeOptions;
  /** Emulator clock, unix seconds. */
  readonly now: number;
  /** A page fault drawn for this request, if any. */
  readonly pageFault?: PageFaultKind | undefined;
  /** Draws of the page faults (cut sizes, slots, shuffles). */
  readonly random: SeededRandom;
}

export interface SearchOutcome {
  readonly data: SearchOrdersData;
  readonly served: number;
}

function parsePageSize(raw: string | undefined): number {
  if (raw === undefined || !/^\d{1,3}$/.test(raw)) {
    throw apiErrors.parameter("Invalid parameter: page_size is required and must be an integer in [1, 100]");
  }
  const pageSize = Number(raw);
  if (pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw apiErrors.parameter("Invalid parameter: page_size must be an integer in [1, 100]");
  }
  return pageSize;
}

function parseSortField(raw: string | undefined): SortField {
  if (raw === undefined) return "create_time";
  if (raw === "create_time" || raw === "update_time") return raw;
  throw apiErrors.parameter("Invalid parameter: sort_field must be create_time or update_time");
}

function parseSortOrder(raw: string | undefined): SortOrder {
  if (raw === undefined) return "DESC";
  if (raw === "ASC" || raw === "DESC") return raw;
  throw apiErrors.parameter("Invalid parameter: sort_order must be ASC or DESC");
}

/** The body's filters exactly as sent (unknown fields such as shipping_type are accepted and ignored). */
export function parseSearchBody(rawBody: string): OrderFilter {
  if (rawBody.trim() === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch {
    throw apiErrors.parameter("Invalid parameter: the request body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw apiErrors.parameter("Invalid parameter: the request body must be a JSON object");
  }
  const fields = body as Record<string, unknown>;
  const times: Partial<Record<(typeof TIME_FIELDS)[number], number>> = {};
  for (const field of TIME_FIELDS) {
    const value = fields[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw apiErrors.parameter(`Invalid parameter: ${field} must be unix seconds (a non-negative integer)`);
    }
    times[field] = value;
  }
  const status = fields.order_status;
  if (status !== undefined && status !== null) {
    if (typeof status !== "string" || !(ORDER_STATUSES as readonly string[]).includes(status)) {
      throw apiErrors.parameter(
        `Invalid parameter: order_status must be one of ${ORDER_STATUSES.join(", ")}`,
      );
    }
  }
  return {
    ...(times.create_time_ge === undefined ? {} : { createGe: times.create_time_ge }),
    ...(times.create_time_lt === undefined ? {} : { createLt: times.create_time_lt }),
    ...(times.update_time_ge === undefined ? {} : { updateGe: times.update_time_ge }),
    ...(times.update_time_lt === undefined ? {} : { updateLt: times.update_time_lt }),
    ...(typeof status === "string" ? { status } : {}),
  };
}

/** `POST /order/202309/orders/search`. */
export function searchOrders(
  context: SearchContext,
  query: Readonly<Record<string, string>>,
  rawBody: string,
): SearchOutcome {
  const { store, codec, options, now } = context;
  const pageSize = parsePageSize(query.page_size);
  const sortField = parseSortField(query.sort_field);
  const sortOrder = parseSortOrder(query.sort_order);
  const sent = parseSearchBody(rawBody);
  const fingerprint = queryFingerprint(store.shop.id, sortField, sortOrder, sent);
  const pageToken = query.page_token;

  let position: PagePosition = { kind: "start" };
  let mode = options.tokenMode;
  let served = 0;
  // "If only a *_ge bound is given, the upper bound defaults to now" (inclusive here), fixed on page 1.
  let createLt = sent.createLt ?? (sent.createGe === undefined ? undefined : now + 1);
  let updateLt = sent.updateLt ?? (sent.updateGe === undefined ? undefined : now + 1);
  if (pageToken !== undefined && pageToken !== "") {
    const state = codec.decode(pageToken);
    if (!state || state.expiresAt <= now) throw apiErrors.pageTokenRefused(options.pageTokenRefusal);
    if (state.fingerprint !== fingerprint) {
      throw apiErrors.parameter(
        "Invalid parameter: page_token does not belong to this query (filter, sort or shop changed)",
      );
    }
    mode = state.mode;
    served = state.served;
    createLt = state.createLt;
    updateLt = state.updateLt;
    if (mode === "offset") position = { kind: "offset", offset: served };
    else if (state.lastKey !== undefined && state.lastId !== undefined) {
      position = { kind: "after", key: state.lastKey, id: state.lastId };
    }
  }
  const filter: OrderFilter = {
    ...sent,
    ...(createLt === undefined ? {} : { createLt }),
    ...(updateLt === undefined ? {} : { updateLt }),
  };
  const cap = options.resultCap || Number.POSITIVE_INFINITY;
  const fullLimit = Math.max(
    0,
    Math.min(pageSize, options.maxPageSize || Number.POSITIVE_INFINITY, cap - served),
  );
  // A cut page serves fewer orders (possibly none); its token continues right after what it served.
  const limit =
    context.pageFault === "shortPage" && fullLimit > 0 ? context.random.int(0, fullLimit - 1) : fullLimit;
  const page = fullLimit > 0 ? store.searchPage(filter, sortField, sortOrder, position, limit) : undefined;
  const records = page?.records ?? [];
  const servedAfter = served + records.length;
  const last: OrderRecord | undefined = records[records.length - 1];
  let nextPageToken = "";
  if (page?.hasMore && servedAfter < cap) {
    // Keyset: after the last order served, or where this page started when it served none.
    const after =
      last !== undefined
        ? { lastKey: sortField === "create_time" ? last.createTime : last.updateTime, lastId: last.id }
        : position.kind === "after"
          ? { lastKey: position.key, lastId: position.id }
          : {};
    nextPageToken = codec.encode({
      mode,
      fingerprint,
      expiresAt: now + options.pageTokenTtlSeconds,
      served: servedAfter,
      ...(mode === "keyset" ? after : {}),
      ...(createLt === undefined ? {} : { createLt }),
      ...(updateLt === undefined ? {} : { updateLt }),
    });
  }
  if (context.pageFault === "outOfWindowOrder" && records.length > 0) {
    // A lagging index: one order of the page changed after the index placed it, and is served as it is
    // now, at or past the window's end. The token above already holds the page's position as indexed.
    const changed = records[context.random.int(0, records.length - 1)] as OrderRecord;
    store.advance(changed, Math.max(now, updateLt ?? now), context.random);
  }
  const orders: TikTokOrder[] = records.map((record) => store.served(record));
  if (context.pageFault === "unsortedPage") shuffleOutOfOrder(orders, context.random);
  const data: SearchOrdersData =
    nextPageToken === "" && options.lastPageToken === "absent"
      ? { orders, total_count: store.count(filter) }
      : { orders, next_page_token: nextPageToken, total_count: store.count(filter) };
  return { data, served: records.length };
}

/** Shuffles a page (Fisher–Yates); reverses it when the shuffle left it as it was. */
function shuffleOutOfOrder(orders: TikTokOrder[], random: SeededRandom): void {
  if (orders.length < 2) return;
  const before = orders.map((order) => order.id);
  for (let index = orders.length - 1; index > 0; index--) {
    const swap = random.int(0, index);
    const held = orders[index] as TikTokOrder;
    orders[index] = orders[swap] as TikTokOrder;
    orders[swap] = held;
  }
  if (orders.every((order, index) => order.id === before[index])) orders.reverse();
}

/** `GET /order/202309/orders?ids=…`: known ids of this shop, in the order asked. */
export function orderDetail(store: ShopOrderStore, query: Readonly<Record<string, string>>) {
  const ids = (query.ids ?? "")
    .split(",")
    .map((id) => id.trim())
    .filter((id) => id !== "");
  if (ids.length === 0) throw apiErrors.parameter("Invalid parameter: ids is required");
  if (ids.length > MAX_DETAIL_IDS) {
    throw apiErrors.parameter(`Invalid parameter: ids accepts at most ${MAX_DETAIL_IDS} order ids`);
  }
  const orders: TikTokOrder[] = [];
  for (const id of ids) {
    const record = store.get(id);
    if (record) orders.push(store.served(record));
  }
  return { orders };
}

export function shopInfo(store: ShopOrderStore): ShopInfo {
  const { shop } = store;
  return {
    id: shop.id,
    name: shop.name,
    region: shop.region,
    seller_type: shop.sellerType,
    cipher: shop.cipher,
  };
}
