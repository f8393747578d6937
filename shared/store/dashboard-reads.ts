/**
 * The orders table's two dashboard read patterns, as docs/sync-protocol.md shows them (DESIGN "Stored data"): both
 * indexes project the keys plus the order summary (shared/resources.ts ORDER_SUMMARY_ATTRIBUTES), so a
 * list is one Query that reads ~100 bytes per order; the whole order is one GetItem, decoded by
 * readStoredOrder whatever encoding wrote it.
 * - recent orders, newest first: `byCreateTime`, descending;
 * - orders changed since T, oldest change first: `byUpdateTime`, `updateTime >= T`, ascending.
 * An index item holds the table's keys, its own sort key and the summary: a recent-orders row has
 * createTime (not updateTime), a changed-orders row updateTime (not createTime).
 *
 * A page's `next` is DynamoDB's LastEvaluatedKey: pass it back to read on; absent on the last page.
 */
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import {
  type OrderSummary,
  readStoredOrder,
  type StoredOrder,
  StoredOrderError,
} from "../orders/stored-order";

/** One row of a dashboard list: what an index holds for an order. */
export interface OrderListEntry extends OrderSummary {
  readonly shopId: string;
  readonly orderId: string;
  readonly status?: string;
}

/** A row of the recent-orders list. */
export interface RecentOrder extends OrderListEntry {
  /** Unix seconds. */
  readonly createTime: number;
}

/** A row of the changed-orders list. */
export interface ChangedOrder extends OrderListEntry {
  /** Unix seconds. */
  readonly updateTime: number;
}

export interface OrderListPage<Entry extends OrderListEntry> {
  readonly orders: Entry[];
  /** Where the next page starts (opaque); undefined when there is none. */
  readonly next?: Record<string, unknown>;
}

export interface OrdersTable {
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
}

export interface ListOptions {
  /** Orders per page (DynamoDB Limit); default 50. */
  readonly limit?: number;
  /** `next` of the previous page. */
  readonly next?: Record<string, unknown>;
}

/** The shop's orders, newest create_time first; `before` (unix seconds, exclusive) starts further back. */
export async function listRecentOrders(
  table: OrdersTable,
  shopId: string,
  options: ListOptions & { readonly before?: number } = {},
): Promise<OrderListPage<RecentOrder>> {
  const output = await table.documents.send(
    new QueryCommand({
      TableName: table.tableName,
      IndexName: "byCreateTime",
      KeyConditionExpression:
        options.before === undefined ? "shopId = :shop" : "shopId = :shop AND createTime < :before",
      ExpressionAttributeValues: {
        ":shop": shopId,
        ...(options.before === undefined ? {} : { ":before": options.before }),
      },
      ScanIndexForward: false,
      Limit: options.limit ?? 50,
      ExclusiveStartKey: options.next,
    }),
  );
  const orders = (output.Items ?? []).map((item) => ({
    ...listEntry(item),
    createTime: timeOf(item, "createTime"),
  }));
  return { orders, ...(output.LastEvaluatedKey ? { next: output.LastEvaluatedKey } : {}) };
}

/**
 * The shop's orders whose update_time is `since` (unix seconds) or later, oldest change first. The
 * bound is inclusive: a consumer that polls with the newest updateTime it has seen reads that second
 * again (de-duplicate by orderId) and so never misses an order changed later in the same second.
 */
export async function listOrdersChangedSince(
  table: OrdersTable,
  shopId: string,
  since: number,
  options: ListOptions = {},
): Promise<OrderListPage<ChangedOrder>> {
  const output = await table.documents.send(
    new QueryCommand({
      TableName: table.tableName,
      IndexName: "byUpdateTime",
      KeyConditionExpression: "shopId = :shop AND updateTime >= :since",
      ExpressionAttributeValues: { ":shop": shopId, ":since": since },
      ScanIndexForward: true,
      Limit: options.limit ?? 50,
      ExclusiveStartKey: options.next,
    }),
  );
  const orders = (output.Items ?? []).map((item) => ({
    ...listEntry(item),
    updateTime: timeOf(item, "updateTime"),
  }));
  return { orders, ...(output.LastEvaluatedKey ? { next: output.LastEvaluatedKey } : {}) };
}

/** One whole order (the base table, strongly consistent), or undefined when it is not stored. */
export async function getStoredOrder(
  table: OrdersTable,
  shopId: string,
  orderId: string,
): Promise<StoredOrder | undefined> {
  const { Item } = await table.documents.send(
    new GetCommand({ TableName: table.tableName, Key: { shopId, orderId }, ConsistentRead: true }),
  );
  return Item ? readStoredOrder(Item) : undefined;
}

/** An index item as a list row; items written before the summary existed simply lack it. */
function listEntry(item: Record<string, unknown>): OrderListEntry {
  const { shopId, orderId } = item;
  if (typeof shopId !== "string" || typeof orderId !== "string") {
    throw new StoredOrderError("orders index item without its keys");
  }
  const text = (name: string) => (typeof item[name] === "string" ? { [name]: item[name] as string } : {});
  return {
    shopId,
    orderId,
    ...text("status"),
    ...text("totalAmount"),
    ...text("currency"),
    ...(typeof item.lineCount === "number" ? { lineCount: item.lineCount } : {}),
  };
}

function timeOf(item: Record<string, unknown>, name: "createTime" | "updateTime"): number {
  const value = item[name];
  if (typeof value !== "number") throw new StoredOrderError(`orders index item without ${name}`);
  return value;
}
