/**
 * How an order is kept in its orders-table item, and the one reader consumers use (DESIGN "Stored
 * data": the `order` attribute's encoding is chosen by measurement, with one exported reader).
 *
 * Encodings of the `order` attribute, every one of which `readStoredOrder` reads:
 * - `map` (DynamoDB Map): what the product wrote before issue 17; existing tables hold it.
 * - `json` (String): the order's JSON.
 * - binary (Binary), a tag byte then the compressed JSON: `gzip` (0x01), `brotli` (0x02) and
 *   `deflate-dict-v1` (0x03: raw deflate with the frozen preset dictionary of order-dictionary.ts).
 *
 * Written: DEFAULT_ORDER_ENCODING, `deflate-dict-v1`, chosen by `npm run bench:encoding` (docs/encoding.md):
 * the emulator's ~2.4 KB orders become ~0.5 KB, so an order's item fits one write unit (1 KB) where a Map
 * takes 2–4, and DynamoDB Local stores it faster than any other encoding measured.
 *
 * `contentHash` keeps its meaning whatever the encoding: SHA-256 of the order's canonical (key-sorted)
 * JSON, so `contentHashOf(readStoredOrder(item).order) === item.contentHash`.
 */
import {
  brotliCompressSync,
  brotliDecompressSync,
  deflateRawSync,
  gunzipSync,
  gzipSync,
  inflateRawSync,
  constants as zlibConstants,
} from "node:zlib";
import type { TikTokOrder } from "../tiktok/api-types";
import { ORDER_DICTIONARY_V1 } from "./order-dictionary";

export const ORDER_ENCODINGS = ["map", "json", "gzip", "brotli", "deflate-dict-v1"] as const;
export type OrderEncoding = (typeof ORDER_ENCODINGS)[number];

/** What the store writes (measured: docs/encoding.md). */
export const DEFAULT_ORDER_ENCODING: OrderEncoding = "deflate-dict-v1";

/** First byte of a binary `order`: which codec follows. Never reuse a value. */
const BINARY_TAG = { gzip: 0x01, brotli: 0x02, "deflate-dict-v1": 0x03 } as const;
type BinaryEncoding = keyof typeof BINARY_TAG;

const DICTIONARY_V1 = Buffer.from(ORDER_DICTIONARY_V1, "utf8");

export class StoredOrderError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoredOrderError";
  }
}

function compress(json: string, encoding: BinaryEncoding): Buffer {
  const text = Buffer.from(json, "utf8");
  switch (encoding) {
    case "gzip":
      return gzipSync(text, { level: 6 });
    case "brotli":
      return brotliCompressSync(text, {
        params: {
          [zlibConstants.BROTLI_PARAM_MODE]: zlibConstants.BROTLI_MODE_TEXT,
          // Quality 6: within ~5 % of the best ratio on ~2 KB orders at a tenth of quality 11's time.
          [zlibConstants.BROTLI_PARAM_QUALITY]: 6,
          [zlibConstants.BROTLI_PARAM_SIZE_HINT]: text.length,
        },
      });
    case "deflate-dict-v1":
      return deflateRawSync(text, { level: 9, dictionary: DICTIONARY_V1 });
  }
}

/** The value of the `order` attribute for `order` in `encoding`. */
export function encodeOrder(order: TikTokOrder, encoding: OrderEncoding): TikTokOrder | string | Uint8Array {
  if (encoding === "map") return order;
  const json = JSON.stringify(order);
  if (encoding === "json") return json;
  const body = compress(json, encoding);
  const value = Buffer.allocUnsafe(body.length + 1);
  value[0] = BINARY_TAG[encoding];
  body.copy(value, 1);
  return value;
}

function decompress(value: Uint8Array): string {
  const tag = value[0];
  const body = value.subarray(1);
  switch (tag) {
    case BINARY_TAG.gzip:
      return gunzipSync(body).toString("utf8");
    case BINARY_TAG.brotli:
      return brotliDecompressSync(body).toString("utf8");
    case BINARY_TAG["deflate-dict-v1"]:
      return inflateRawSync(body, { dictionary: DICTIONARY_V1 }).toString("utf8");
    default:
      throw new StoredOrderError(`unknown order encoding tag ${tag ?? "(empty value)"}`);
  }
}

function parseOrder(json: string): TikTokOrder {
  const parsed: unknown = JSON.parse(json);
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new StoredOrderError("the stored order is not a JSON object");
  }
  return parsed as TikTokOrder;
}

/** The order held by an `order` attribute, whatever encoding wrote it. */
export function decodeOrder(value: unknown): TikTokOrder {
  try {
    if (value instanceof Uint8Array) return parseOrder(decompress(value));
    if (typeof value === "string") return parseOrder(value);
  } catch (error) {
    if (error instanceof StoredOrderError) throw error;
    throw new StoredOrderError("the stored order could not be decoded", { cause: error });
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as TikTokOrder;
  throw new StoredOrderError(`the order attribute holds ${value === null ? "null" : typeof value}`);
}

/**
 * What a dashboard's list shows without reading the order: top-level attributes of every item,
 * projected into both indexes beside the keys (shared/resources.ts ORDER_SUMMARY_ATTRIBUTES).
 * Absent when the order lacks them (and on items written before issue 17).
 */
export interface OrderSummary {
  /** `payment.total_amount` as TikTok sent it: a decimal string such as "42.50". */
  readonly totalAmount?: string;
  /** `payment.currency`, e.g. "USD". */
  readonly currency?: string;
  /** Line items in the order (TikTok: one per unit). */
  readonly lineCount?: number;
}

export function orderSummary(order: TikTokOrder): OrderSummary {
  const payment = order.payment as { total_amount?: unknown; currency?: unknown } | undefined;
  const totalAmount = typeof payment?.total_amount === "string" ? payment.total_amount : undefined;
  const currency = typeof payment?.currency === "string" ? payment.currency : undefined;
  const lines = order.line_items;
  return {
    ...(totalAmount !== undefined && totalAmount.length > 0 ? { totalAmount } : {}),
    ...(currency !== undefined && currency.length > 0 ? { currency } : {}),
    ...(Array.isArray(lines) ? { lineCount: lines.length } : {}),
  };
}

/** An orders-table item as consumers see it, the order decoded. */
export interface StoredOrder extends OrderSummary {
  readonly shopId: string;
  readonly orderId: string;
  readonly status: string;
  /** Unix seconds. */
  readonly createTime: number;
  readonly updateTime: number;
  /** The order as TikTok returned it (recipient data removed when the shop opted out). */
  readonly order: TikTokOrder;
  /** SHA-256 (hex) of the order's canonical, key-sorted JSON. */
  readonly contentHash: string;
  /** When it was fetched, ms since the epoch, and the same as ISO 8601. */
  readonly fetchedAt: number;
  readonly syncedAt: string;
  /** TTL (unix seconds), only with ORDER_RETENTION_DAYS. */
  readonly expiresAt?: number;
}

/**
 * THE reader of the orders table for consumers: an item as the document client (or `unmarshall` of a
 * stream record's NewImage) returns it, with `order` in any encoding this product has ever written.
 */
export function readStoredOrder(item: Readonly<Record<string, unknown>>): StoredOrder {
  const text = (name: string) => {
    const value = item[name];
    if (typeof value !== "string") throw new StoredOrderError(`orders item without ${name}`);
    return value;
  };
  const number = (name: string) => {
    const value = item[name];
    if (typeof value !== "number") throw new StoredOrderError(`orders item without ${name}`);
    return value;
  };
  const optional = <T>(name: string, type: "string" | "number") =>
    typeof item[name] === type ? { [name]: item[name] as T } : {};
  return {
    shopId: text("shopId"),
    orderId: text("orderId"),
    status: text("status"),
    createTime: number("createTime"),
    updateTime: number("updateTime"),
    order: decodeOrder(item.order),
    contentHash: text("contentHash"),
    fetchedAt: number("fetchedAt"),
    syncedAt: text("syncedAt"),
    ...optional<number>("expiresAt", "number"),
    ...optional<string>("totalAmount", "string"),
    ...optional<string>("currency", "string"),
    ...optional<number>("lineCount", "number"),
  };
}
