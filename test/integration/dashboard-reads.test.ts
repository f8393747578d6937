/**
 * The dashboard read patterns docs/sync-protocol.md shows (shared/store/dashboard-reads.ts), on DynamoDB Local with
 * the orders table as provisioned: recent orders by create time, orders changed since T, and one whole
 * order through readStoredOrder — including an item written before issue 17 (order as a Map, no summary).
 */
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { type NormalizedOrder, normalizeOrder } from "../../shared/orders/normalize";
import {
  getStoredOrder,
  listOrdersChangedSince,
  listRecentOrders,
  type OrdersTable,
} from "../../shared/store/dashboard-reads";
import { OrderStore } from "../../shared/store/order-store";
import { createTestResources, type TestResources } from "../support/local-aws";

let resources: TestResources;
let table: OrdersTable;
const SHOP = "shop-dashboard";

/** Order n: created at 1,000 × n, changed at `updateTime`, n line items of 10.00 USD each. */
function order(n: number, updateTime: number): NormalizedOrder {
  const normalized = normalizeOrder(
    {
      id: `O${n}`,
      status: n % 2 === 0 ? "COMPLETED" : "AWAITING_SHIPMENT",
      create_time: 1_000 * n,
      update_time: updateTime,
      payment: { total_amount: `${10 * n}.00`, currency: "USD" },
      line_items: Array.from({ length: n }, (_, line) => ({ id: `O${n}-L${line}`, sale_price: "10.00" })),
    },
    { storeRecipientData: true },
  );
  if ("quarantineId" in normalized) throw new Error(normalized.reason);
  return normalized;
}

// Changed in another order than created: O3 last, O5 first.
const orders = [order(1, 9_200), order(2, 9_100), order(3, 9_500), order(4, 9_300), order(5, 9_000)];

beforeAll(async () => {
  resources = await createTestResources({ label: "dashboard" });
  table = { documents: resources.documents, tableName: resources.ordersTable };
  const store = new OrderStore({ documents: resources.documents, tableName: resources.ordersTable });
  expect(await store.upsert(SHOP, orders, 1_000)).toMatchObject({ inserted: 5 });
  // Another shop's order never shows in this shop's lists.
  await store.upsert("other-shop", [order(6, 9_900)], 1_000);
});
afterAll(() => resources.destroy());

describe("recent orders by create time", () => {
  it("lists newest first with the summary the index projects, page by page", async () => {
    const first = await listRecentOrders(table, SHOP, { limit: 2 });
    expect(first.orders).toEqual([
      {
        shopId: SHOP,
        orderId: "O5",
        status: "AWAITING_SHIPMENT",
        createTime: 5_000,
        totalAmount: "50.00",
        currency: "USD",
        lineCount: 5,
      },
      {
        shopId: SHOP,
        orderId: "O4",
        status: "COMPLETED",
        createTime: 4_000,
        totalAmount: "40.00",
        currency: "USD",
        lineCount: 4,
      },
    ]);
    expect(first.next).toBeDefined();
    const rest = await listRecentOrders(table, SHOP, { limit: 10, next: first.next });
    expect(rest.orders.map((row) => row.orderId)).toEqual(["O3", "O2", "O1"]);
    expect(rest.next).toBeUndefined();
  });

  it("starts before a given create time", async () => {
    const page = await listRecentOrders(table, SHOP, { before: 3_000 });
    expect(page.orders.map((row) => row.orderId)).toEqual(["O2", "O1"]);
  });
});

describe("orders changed since T", () => {
  it("lists update_time ≥ T, oldest change first", async () => {
    const page = await listOrdersChangedSince(table, SHOP, 9_200);
    expect(page.orders.map((row) => [row.orderId, row.updateTime])).toEqual([
      ["O1", 9_200],
      ["O4", 9_300],
      ["O3", 9_500],
    ]);
    expect(page.orders[2]).toMatchObject({ status: "AWAITING_SHIPMENT", totalAmount: "30.00", lineCount: 3 });
    expect((await listOrdersChangedSince(table, SHOP, 9_501)).orders).toEqual([]);
  });

  it("pages through every change exactly once", async () => {
    const seen: string[] = [];
    let next: Record<string, unknown> | undefined;
    do {
      const page = await listOrdersChangedSince(table, SHOP, 0, { limit: 2, ...(next ? { next } : {}) });
      seen.push(...page.orders.map((row) => row.orderId));
      next = page.next;
    } while (next);
    expect(seen).toEqual(["O5", "O2", "O1", "O4", "O3"]);
  });
});

describe("one whole order", () => {
  it("is decoded by readStoredOrder, equal to what was stored", async () => {
    const stored = await getStoredOrder(table, SHOP, "O3");
    expect(stored).toMatchObject({ orderId: "O3", createTime: 3_000, updateTime: 9_500, lineCount: 3 });
    expect(stored?.order).toEqual(orders[2]?.order);
    expect(stored?.contentHash).toBe(orders[2]?.contentHash);
    expect(await getStoredOrder(table, SHOP, "missing")).toBeUndefined();
  });

  it("reads an item written before issue 17 (order as a Map, no summary), in lists too", async () => {
    const legacy = order(7, 9_700);
    await resources.documents.send(
      new PutCommand({
        TableName: resources.ordersTable,
        Item: {
          shopId: SHOP,
          orderId: legacy.orderId,
          status: legacy.status,
          createTime: legacy.createTime,
          updateTime: legacy.updateTime,
          order: legacy.order,
          contentHash: legacy.contentHash,
          fetchedAt: 500,
          syncedAt: new Date(500).toISOString(),
        },
      }),
    );
    expect((await getStoredOrder(table, SHOP, "O7"))?.order).toEqual(legacy.order);
    const [newest] = (await listRecentOrders(table, SHOP, { limit: 1 })).orders;
    expect(newest).toEqual({ shopId: SHOP, orderId: "O7", status: "AWAITING_SHIPMENT", createTime: 7_000 });
  });
});
