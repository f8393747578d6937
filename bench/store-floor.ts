/**
 * The store floor: how fast this DynamoDB Local takes orders at all. Realistic items (the emulator's
 * own orders, stored as the order store stores them) are written to a scratch copy of the orders
 * table (same keys, indexes and stream) with plain BatchWriteItem — no condition, no read, 25 items a
 * request, `concurrency` requests in flight — then read back with BatchGetItem as the read-then-write
 * upsert reads (100 keys, the version attributes), after a first pass on another copy has warmed
 * the JVM up. Nothing the product does can store or check orders faster than these rates here.
 */
import { DeleteTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { createTables } from "../infra/local/provision";
import { chunk, mapWithConcurrency } from "../shared/concurrency";
import type { NormalizedOrder } from "../shared/orders/normalize";
import { OrderStore, storedItem } from "../shared/store/order-store";
import { itemBytes } from "./instrument";

/** Unconditional BatchWriteItem of up to 25 items, unprocessed ones retried with backoff. */
export async function batchWrite(
  documents: DynamoDBDocumentClient,
  tableName: string,
  items: readonly Record<string, unknown>[],
): Promise<void> {
  for (const group of chunk(items, 25)) {
    let requests: BatchWriteCommandOutput["UnprocessedItems"] = {
      [tableName]: group.map((item) => ({ PutRequest: { Item: item } })),
    };
    for (let attempt = 0; requests && (requests[tableName]?.length ?? 0) > 0; attempt += 1) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
      const response: BatchWriteCommandOutput = await documents.send(
        new BatchWriteCommand({ RequestItems: requests }),
      );
      requests = response.UnprocessedItems;
    }
  }
}

async function batchRead(
  documents: DynamoDBDocumentClient,
  tableName: string,
  keys: Record<string, unknown>[],
) {
  let pending: Record<string, unknown>[] | undefined = keys;
  let read = 0;
  for (let attempt = 0; pending && pending.length > 0; attempt += 1) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
    const response: BatchGetCommandOutput = await documents.send(
      new BatchGetCommand({
        RequestItems: {
          [tableName]: { Keys: pending, ProjectionExpression: "orderId, updateTime, contentHash, fetchedAt" },
        },
      }),
    );
    read += response.Responses?.[tableName]?.length ?? 0;
    pending = response.UnprocessedKeys?.[tableName]?.Keys;
  }
  return read;
}

export interface StoreFloor {
  readonly items: number;
  readonly concurrency: number;
  /** Unconditional BatchWriteItem, orders per second. */
  readonly writeRate: number;
  /** BatchGetItem of the stored versions, orders per second. */
  readonly readRate: number;
  /**
   * The product's own store path for comparison, not a floor: OrderStore.upsert (read-then-write:
   * BatchGetItem, then a conditional PutItem per order) of pages of 100 new orders, `concurrency`
   * pages at once.
   */
  readonly upsertRate: number;
  /** Mean item size by DynamoDB's rules, and the write units one such item costs on the base table. */
  readonly meanItemBytes: number;
  readonly writeUnitsPerItem: number;
}

export async function measureStoreFloor(input: {
  readonly dynamodb: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly namespace: string;
  readonly shopId: string;
  readonly orders: readonly NormalizedOrder[];
  readonly concurrency: number;
}): Promise<StoreFloor> {
  const { dynamodb, documents, shopId } = input;
  const warmup = await createTables(dynamodb, `${input.namespace}-warmup`);
  const tables = await createTables(dynamodb, input.namespace);
  const upsert = await createTables(dynamodb, `${input.namespace}-upsert`);
  try {
    const fetchedAt = Date.now();
    const items = input.orders.map((order) => storedItem(shopId, order, fetchedAt));
    const meanItemBytes =
      items.reduce((total, item) => total + itemBytes(marshall(item, { removeUndefinedValues: true })), 0) /
      Math.max(1, items.length);
    // A fresh DynamoDB Local is a cold JVM: one pass on a copy of the table warms it up, then the
    // measured pass.
    const write = (tableName: string) =>
      mapWithConcurrency(chunk(items, 25), input.concurrency, (group) =>
        batchWrite(documents, tableName, group),
      );
    await write(warmup.ordersTable);
    let started = performance.now();
    await write(tables.ordersTable);
    const writeRate = items.length / ((performance.now() - started) / 1000);
    started = performance.now();
    const keys = items.map((item) => ({ shopId, orderId: item.orderId }));
    const reads = await mapWithConcurrency(chunk(keys, 100), input.concurrency, (group) =>
      batchRead(documents, tables.ordersTable, group),
    );
    const readRate =
      reads.reduce((total, count) => total + count, 0) / ((performance.now() - started) / 1000);
    const store = new OrderStore({ documents, tableName: upsert.ordersTable });
    started = performance.now();
    await mapWithConcurrency(chunk(input.orders, 100), input.concurrency, (page) =>
      store.upsert(shopId, page, fetchedAt),
    );
    const upsertRate = input.orders.length / ((performance.now() - started) / 1000);
    return {
      items: items.length,
      concurrency: input.concurrency,
      writeRate,
      readRate,
      upsertRate,
      meanItemBytes,
      writeUnitsPerItem: Math.ceil(meanItemBytes / 1024),
    };
  } finally {
    await dropTables(dynamodb, [
      tables.ordersTable,
      tables.stateTable,
      warmup.ordersTable,
      warmup.stateTable,
    ]);
  }
}

/** Frees DynamoDB Local's memory (it keeps everything in RAM here). */
export async function dropTables(dynamodb: DynamoDBClient, tableNames: readonly string[]): Promise<void> {
  for (const TableName of tableNames)
    await dynamodb.send(new DeleteTableCommand({ TableName })).catch(() => {});
}
