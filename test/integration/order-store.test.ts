/** Rule 5 on DynamoDB Local: newer wins, equal time needs a new hash and a later fetch, stale is counted. */

import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { contentHashOf, type NormalizedOrder, normalizeOrder } from "../../shared/orders/normalize";
import { ORDER_ENCODINGS, readStoredOrder } from "../../shared/orders/stored-order";
import { decideWrite } from "../../shared/orders/versions";
import { OrderStore, type UpsertStrategy } from "../../shared/store/order-store";
import { createTestResources, type TestResources } from "../support/local-aws";

let resources: TestResources;
beforeAll(async () => {
  resources = await createTestResources({ label: "orders" });
});
afterAll(() => resources.destroy());

function order(id: string, updateTime: number, extra: Record<string, unknown> = {}): NormalizedOrder {
  const normalized = normalizeOrder(
    { id, status: "AWAITING_SHIPMENT", create_time: 1_700_000_000, update_time: updateTime, ...extra },
    { storeRecipientData: true },
  );
  if ("quarantineId" in normalized) throw new Error(normalized.reason);
  return normalized;
}

async function stored(shopId: string, orderId: string) {
  const { Item } = await resources.documents.send(
    new GetCommand({ TableName: resources.ordersTable, Key: { shopId, orderId } }),
  );
  return Item;
}

describe.each<UpsertStrategy>(["read-then-write", "conditional-put"])("OrderStore (%s)", (strategy) => {
  const shopId = `shop-${strategy}`;
  let store: OrderStore;
  beforeAll(() => {
    store = new OrderStore({ documents: resources.documents, tableName: resources.ordersTable, strategy });
  });

  it("inserts new orders with the stored-data attributes", async () => {
    const result = await store.upsert(shopId, [order("A", 100), order("B", 100)], 1_000);
    expect(result).toMatchObject({ inserted: 2, updated: 0, unchanged: 0, stale: 0 });
    const item = await stored(shopId, "A");
    expect(item).toMatchObject({
      shopId,
      orderId: "A",
      status: "AWAITING_SHIPMENT",
      createTime: 1_700_000_000,
      updateTime: 100,
      fetchedAt: 1_000,
      syncedAt: new Date(1_000).toISOString(),
    });
    expect(readStoredOrder(item ?? {}).order).toMatchObject({ id: "A", update_time: 100 });
    expect(item?.contentHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("counts a re-read of the same content as unchanged and writes nothing new", async () => {
    const result = await store.upsert(shopId, [order("A", 100)], 2_000);
    expect(result).toMatchObject({ inserted: 0, updated: 0, unchanged: 1, stale: 0 });
    expect((await stored(shopId, "A"))?.fetchedAt).toBe(1_000);
  });

  it("lets a newer update_time win", async () => {
    const result = await store.upsert(shopId, [order("A", 200, { status: "IN_TRANSIT" })], 3_000);
    expect(result.updated).toBe(1);
    expect((await stored(shopId, "A"))?.updateTime).toBe(200);
  });

  it("never lets an older update_time overwrite a newer one", async () => {
    const result = await store.upsert(shopId, [order("A", 150, { status: "UNPAID" })], 9_000);
    expect(result).toMatchObject({ stale: 1, updated: 0 });
    expect((await stored(shopId, "A"))?.updateTime).toBe(200);
  });

  it("same second: different content wins only with a later fetch", async () => {
    const older = await store.upsert(shopId, [order("A", 200, { note: "older fetch" })], 2_500);
    expect(older.stale).toBe(1);
    const newer = await store.upsert(shopId, [order("A", 200, { note: "later fetch" })], 4_000);
    expect(newer.updated).toBe(1);
    const item = await stored(shopId, "A");
    expect(readStoredOrder(item ?? {}).order).toMatchObject({ note: "later fetch" });
  });

  it("collapses duplicate ids in one page to the newest", async () => {
    const result = await store.upsert(shopId, [order("C", 10), order("C", 30), order("C", 20)], 5_000);
    expect(result.inserted).toBe(1);
    expect((await stored(shopId, "C"))?.updateTime).toBe(30);
  });

  it("handles a full page of 100 in one call", async () => {
    const page = Array.from({ length: 100 }, (_, n) => order(`P${n}`, 500 + n));
    expect((await store.upsert(shopId, page, 6_000)).inserted).toBe(100);
    expect((await store.upsert(shopId, page, 7_000)).unchanged).toBe(100);
  });
});

describe("read-then-write avoids writes", () => {
  it("sends no PutItem for unchanged or stale orders", async () => {
    const store = new OrderStore({ documents: resources.documents, tableName: resources.ordersTable });
    await store.upsert("shop-writes", [order("X", 50)], 1);
    const again = await store.upsert("shop-writes", [order("X", 50), order("X", 40)], 2);
    expect(again.writeRequests).toBe(0);
    expect(again.unchanged).toBe(1);
  });

  it("reuses versions the caller read (no second read), and an out-of-date one never regresses an order", async () => {
    const store = new OrderStore({ documents: resources.documents, tableName: resources.ordersTable });
    await store.upsert("shop-known", [order("K", 300, { status: "DELIVERED" })], 1);
    // Read before a newer write landed: "not stored". The conditional put still refuses the older order.
    const late = await store.upsert("shop-known", [order("K", 200)], 2, {
      versionsRead: { ids: new Set(["K"]), versions: new Map() },
    });
    expect(late).toMatchObject({ itemsRead: 0, writeRequests: 1, inserted: 0, stale: 1 });
    expect(await stored("shop-known", "K")).toMatchObject({ updateTime: 300, status: "DELIVERED" });
    // A current version read before: unchanged without a read or a write; an id outside `ids` is read.
    const current = (await store.readVersions("shop-known", ["K"])).get("K");
    if (!current) throw new Error("K is not stored");
    const again = await store.upsert(
      "shop-known",
      [order("K", 300, { status: "DELIVERED" }), order("L", 10)],
      3,
      { versionsRead: { ids: new Set(["K"]), versions: new Map([["K", current]]) } },
    );
    expect(again).toMatchObject({ itemsRead: 1, writeRequests: 1, unchanged: 1, inserted: 1 });
  });
});

describe("the stored order (issue 17)", () => {
  const tikTokOrder = {
    id: "E1",
    status: "AWAITING_SHIPMENT",
    create_time: 1_700_000_000,
    update_time: 1_700_000_100,
    payment: { currency: "GBP", total_amount: "42.50", sub_total: "40.00" },
    line_items: [
      { id: "l1", product_name: "Mug" },
      { id: "l2", product_name: "Mug" },
    ],
    recipient_address: { name: "Someone", full_address: "1 Main Street" },
  };

  it("is written compressed with its summary; the reader gives back the order with its content hash", async () => {
    const store = new OrderStore({ documents: resources.documents, tableName: resources.ordersTable });
    const normalized = normalizeOrder(tikTokOrder, { storeRecipientData: true }) as NormalizedOrder;
    await store.upsert("shop-encoding", [normalized], 1_000);
    const item = (await stored("shop-encoding", "E1")) ?? {};
    expect(item.order).toBeInstanceOf(Uint8Array);
    expect((item.order as Uint8Array)[0]).toBe(0x03);
    expect(item).toMatchObject({ totalAmount: "42.50", currency: "GBP", lineCount: 2 });
    const read = readStoredOrder(item);
    expect(read.order).toEqual(tikTokOrder);
    expect(read.contentHash).toBe(contentHashOf(tikTokOrder));
    expect(contentHashOf(read.order)).toBe(item.contentHash);
    expect(read).toMatchObject({ orderId: "E1", totalAmount: "42.50", currency: "GBP", lineCount: 2 });
  });

  it.each(ORDER_ENCODINGS)(
    "an item whose order is %s is read back, and rule 5 replaces it with the current encoding",
    async (encoding) => {
      const shopId = `shop-legacy-${encoding}`;
      const writer = new OrderStore({
        documents: resources.documents,
        tableName: resources.ordersTable,
        orderEncoding: encoding,
      });
      const older = normalizeOrder(tikTokOrder, { storeRecipientData: true }) as NormalizedOrder;
      await writer.upsert(shopId, [older], 1_000);
      const legacy = (await stored(shopId, "E1")) ?? {};
      expect(readStoredOrder(legacy).order).toEqual(tikTokOrder);
      expect(contentHashOf(readStoredOrder(legacy).order)).toBe(legacy.contentHash);
      // The same content from a new fetch is unchanged, whatever the encoding found: nothing written.
      const store = new OrderStore({ documents: resources.documents, tableName: resources.ordersTable });
      expect(await store.upsert(shopId, [older], 2_000)).toMatchObject({ unchanged: 1, writeRequests: 0 });
      const newer = normalizeOrder(
        { ...tikTokOrder, status: "IN_TRANSIT", update_time: tikTokOrder.update_time + 60 },
        { storeRecipientData: true },
      ) as NormalizedOrder;
      expect(await store.upsert(shopId, [newer], 3_000)).toMatchObject({ updated: 1 });
      const current = (await stored(shopId, "E1")) ?? {};
      expect(current.order).toBeInstanceOf(Uint8Array);
      expect(readStoredOrder(current).order).toMatchObject({ status: "IN_TRANSIT" });
    },
  );

  it("a Map item written before issue 17 (no summary attributes) is read as it is", async () => {
    const legacy = {
      shopId: "shop-map",
      orderId: "E1",
      status: tikTokOrder.status,
      createTime: tikTokOrder.create_time,
      updateTime: tikTokOrder.update_time,
      order: tikTokOrder,
      contentHash: contentHashOf(tikTokOrder),
      fetchedAt: 1,
      syncedAt: new Date(1).toISOString(),
    };
    await resources.documents.send(new PutCommand({ TableName: resources.ordersTable, Item: legacy }));
    const read = readStoredOrder((await stored("shop-map", "E1")) ?? {});
    expect(read).toEqual({ ...legacy, order: tikTokOrder });
    expect(read.totalAmount).toBeUndefined();
  });

  it("asks for no old item on a write the pre-read decided, and still counts a racing writer right", async () => {
    const store = () => new OrderStore({ documents: resources.documents, tableName: resources.ordersTable });
    const page = Array.from(
      { length: 30 },
      (_, n) =>
        normalizeOrder({ ...tikTokOrder, id: `R${n}` }, { storeRecipientData: true }) as NormalizedOrder,
    );
    // Two writers read "absent" for the same orders at once: each order is inserted once, and the
    // loser's failed condition classifies it as unchanged.
    const [first, second] = await Promise.all([
      store().upsert("shop-race", page, 1_000),
      store().upsert("shop-race", page, 1_000),
    ]);
    expect((first?.inserted ?? 0) + (second?.inserted ?? 0)).toBe(30);
    // Every order is counted by both: once inserted, once unchanged (by the pre-read or the condition).
    expect((first?.unchanged ?? 0) + (second?.unchanged ?? 0)).toBe(30);
    expect((first?.stale ?? 0) + (second?.stale ?? 0)).toBe(0);
  });
});

describe("decideWrite", () => {
  const base = { updateTime: 10, contentHash: "h", fetchedAt: 5 };
  it.each([
    [undefined, "insert"],
    [{ ...base, updateTime: 9 }, "update"],
    [{ ...base, updateTime: 11 }, "stale"],
    [base, "unchanged"],
    [{ ...base, contentHash: "other", fetchedAt: 4 }, "update"],
    [{ ...base, contentHash: "other", fetchedAt: 5 }, "stale"],
    [{ ...base, contentHash: "other", fetchedAt: 6 }, "stale"],
  ] as const)("stored %j → %s", (storedVersion, expected) => {
    expect(decideWrite(base, storedVersion)).toBe(expected);
  });
});
