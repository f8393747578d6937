/** The stored order's encodings and the one reader consumers use (issue 17). */
import { createHash } from "node:crypto";
import { contentHashOf } from "../../shared/orders/normalize";
import { ORDER_DICTIONARY_V1 } from "../../shared/orders/order-dictionary";
import {
  DEFAULT_ORDER_ENCODING,
  decodeOrder,
  encodeOrder,
  ORDER_ENCODINGS,
  orderSummary,
  readStoredOrder,
  StoredOrderError,
} from "../../shared/orders/stored-order";
import type { TikTokOrder } from "../../shared/tiktok/api-types";

const ORDERS: readonly TikTokOrder[] = [
  {
    id: "576461413038785752",
    status: "IN_TRANSIT",
    create_time: 1_700_000_000,
    update_time: 1_700_086_400,
    payment: { currency: "USD", total_amount: "128.06", sub_total: "119.97", tax: "8.09" },
    line_items: [
      { id: "1", product_name: "Kaffeebecher „Groß“ — 0,5 l", sale_price: "39.99", is_gift: false },
      { id: "2", product_name: "茶杯 🍵", sale_price: "39.99", is_gift: true },
    ],
    recipient_address: { name: "Zoë Ørsted", district_info: [{ address_level: "L0", address_name: "US" }] },
    packages: [],
    buyer_message: "",
    is_cod: false,
    cancel_time: null,
  },
  { id: "1", status: "UNPAID", create_time: 0, update_time: 0 },
];

const item = (order: TikTokOrder, encoded: unknown) => ({
  shopId: "shop",
  orderId: order.id,
  status: order.status,
  createTime: order.create_time,
  updateTime: order.update_time,
  order: encoded,
  contentHash: contentHashOf(order),
  fetchedAt: 1_700_000_000_123,
  syncedAt: "2023-11-14T22:13:20.123Z",
});

describe("encodeOrder / readStoredOrder", () => {
  it.each(ORDER_ENCODINGS.flatMap((encoding) => ORDERS.map((order) => [encoding, order] as const)))(
    "%s: the reader gives back the order, and its content hash still matches",
    (encoding, order) => {
      const encoded = encodeOrder(order, encoding);
      const read = readStoredOrder(item(order, encoded));
      expect(read.order).toEqual(order);
      expect(contentHashOf(read.order)).toBe(read.contentHash);
      expect(read).toMatchObject({ shopId: "shop", orderId: order.id, fetchedAt: 1_700_000_000_123 });
    },
  );

  it("writes the default as one tag byte and raw deflate with the v1 dictionary, far smaller than JSON", () => {
    expect(DEFAULT_ORDER_ENCODING).toBe("deflate-dict-v1");
    const order = ORDERS[0] as TikTokOrder;
    const encoded = encodeOrder(order, DEFAULT_ORDER_ENCODING) as Uint8Array;
    expect(encoded[0]).toBe(0x03);
    expect(encoded.byteLength).toBeLessThan(Buffer.byteLength(JSON.stringify(order)) * 0.7);
    expect((encodeOrder(order, "gzip") as Uint8Array)[0]).toBe(0x01);
    expect((encodeOrder(order, "brotli") as Uint8Array)[0]).toBe(0x02);
    expect(encodeOrder(order, "json")).toBe(JSON.stringify(order));
    expect(encodeOrder(order, "map")).toBe(order);
  });

  it("reads a binary value as the SDK returns it (a plain Uint8Array, not a Buffer)", () => {
    const order = ORDERS[0] as TikTokOrder;
    const encoded = encodeOrder(order, DEFAULT_ORDER_ENCODING) as Buffer;
    const plain = new Uint8Array(encoded.byteLength);
    plain.set(encoded);
    expect(decodeOrder(plain)).toEqual(order);
  });

  it("keeps the v1 dictionary byte for byte: items written with it need exactly these bytes", () => {
    expect(createHash("sha256").update(ORDER_DICTIONARY_V1, "utf8").digest("hex")).toBe(
      "442c62887dd9b98faaec45833b0f2df2b6e6e9e4c4c04e37ef822518eebff0c2",
    );
  });

  it.each([
    ["an unknown tag", Uint8Array.from([0x7f, 1, 2, 3]), /unknown order encoding tag 127/],
    ["an empty binary", new Uint8Array(0), /unknown order encoding tag \(empty value\)/],
    ["a corrupt body", Uint8Array.from([0x03, 0xff, 0xff, 0xff]), /could not be decoded/],
    ["a JSON array", "[1,2]", /not a JSON object/],
    ["broken JSON", "{", /could not be decoded/],
    ["a number", 42, /holds number/],
    ["nothing", undefined, /holds undefined/],
  ] as const)("refuses %s with a StoredOrderError", (_, value, message) => {
    expect(() => decodeOrder(value)).toThrow(StoredOrderError);
    expect(() => decodeOrder(value)).toThrow(message);
  });

  it("keeps the codec's error as the cause", () => {
    try {
      decodeOrder(Uint8Array.from([0x01, 0, 0, 0]));
      throw new Error("expected a StoredOrderError");
    } catch (error) {
      expect(error).toBeInstanceOf(StoredOrderError);
      // zlib's own error (from another realm under jest: matched by shape, not by class).
      expect((error as StoredOrderError).cause).toMatchObject({ code: expect.stringMatching(/^Z_/) });
    }
  });

  it("refuses an item missing what every orders item has", () => {
    const order = ORDERS[1] as TikTokOrder;
    const { contentHash: _, ...withoutHash } = item(order, encodeOrder(order, "json"));
    expect(() => readStoredOrder(withoutHash)).toThrow("orders item without contentHash");
  });

  it("passes the summary and the TTL through when present", () => {
    const order = ORDERS[0] as TikTokOrder;
    const read = readStoredOrder({
      ...item(order, encodeOrder(order, DEFAULT_ORDER_ENCODING)),
      ...orderSummary(order),
      expiresAt: 1_800_000_000,
    });
    expect(read).toMatchObject({
      totalAmount: "128.06",
      currency: "USD",
      lineCount: 2,
      expiresAt: 1_800_000_000,
    });
  });
});

describe("orderSummary", () => {
  it("takes the total, currency and line count; leaves out what the order lacks", () => {
    expect(orderSummary(ORDERS[0] as TikTokOrder)).toEqual({
      totalAmount: "128.06",
      currency: "USD",
      lineCount: 2,
    });
    expect(orderSummary(ORDERS[1] as TikTokOrder)).toEqual({});
    expect(
      orderSummary({
        id: "x",
        status: "UNPAID",
        create_time: 1,
        update_time: 1,
        payment: { total_amount: 12, currency: "" },
        line_items: "not a list",
      }),
    ).toEqual({});
  });
});
