/**
 * Compares what DynamoDB holds for a shop with the TikTok emulator's truth. Stored orders are read the
 * way consumers read them (readStoredOrder, every encoding), and their content is hashed again: a
 * right `contentHash` attribute beside a wrong or undecodable order is a difference.
 */
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
  paginateQuery,
} from "@aws-sdk/lib-dynamodb";
import { chunk } from "../../shared/concurrency";
import { contentHashOf } from "../../shared/orders/normalize";
import { readStoredOrder, type StoredOrder } from "../../shared/orders/stored-order";
import type { TikTokOrder } from "../../shared/tiktok/api-types";

export interface TruthDiff {
  readonly expected: number;
  readonly stored: number;
  readonly missing: string[];
  /** Stored with an older update_time or different content than the truth. */
  readonly stale: string[];
  readonly extra: string[];
}

/** The version attributes of every stored order of the shop (cheap: no order bodies). */
export async function storedOrders(documents: DynamoDBDocumentClient, tableName: string, shopId: string) {
  const stored = new Map<string, { updateTime: number; contentHash: string; status: string }>();
  for await (const page of paginateQuery(
    { client: documents, pageSize: 1000 },
    {
      TableName: tableName,
      KeyConditionExpression: "shopId = :shopId",
      ExpressionAttributeValues: { ":shopId": shopId },
      ProjectionExpression: "orderId, updateTime, contentHash, #status",
      ExpressionAttributeNames: { "#status": "status" },
    },
  )) {
    for (const item of page.Items ?? []) {
      stored.set(item.orderId as string, item as { updateTime: number; contentHash: string; status: string });
    }
  }
  return stored;
}

/** Every stored order of the shop, whole, read through readStoredOrder. */
export async function readAllStoredOrders(
  documents: DynamoDBDocumentClient,
  tableName: string,
  shopId: string,
): Promise<Map<string, StoredOrder>> {
  const stored = new Map<string, StoredOrder>();
  for await (const page of paginateQuery(
    { client: documents, pageSize: 500 },
    {
      TableName: tableName,
      KeyConditionExpression: "shopId = :shopId",
      ExpressionAttributeValues: { ":shopId": shopId },
    },
  )) {
    for (const item of page.Items ?? []) stored.set(item.orderId as string, readStoredOrder(item));
  }
  return stored;
}

/** The stored orders with these ids, whole, read through readStoredOrder (absent ones left out). */
export async function readStoredOrdersById(
  documents: DynamoDBDocumentClient,
  tableName: string,
  shopId: string,
  orderIds: readonly string[],
): Promise<Map<string, StoredOrder>> {
  const stored = new Map<string, StoredOrder>();
  for (const ids of chunk([...new Set(orderIds)], 100)) {
    let keys: Record<string, unknown>[] | undefined = ids.map((orderId) => ({ shopId, orderId }));
    for (let attempt = 0; keys && keys.length > 0; attempt += 1) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
      const response: BatchGetCommandOutput = await documents.send(
        new BatchGetCommand({ RequestItems: { [tableName]: { Keys: keys } } }),
      );
      for (const item of response.Responses?.[tableName] ?? []) {
        stored.set(item.orderId as string, readStoredOrder(item));
      }
      keys = response.UnprocessedKeys?.[tableName]?.Keys;
    }
  }
  return stored;
}

/** Whether a stored order holds exactly this truth: its update_time, its content, and its hash. */
export function holdsTruth(stored: StoredOrder, truth: TikTokOrder): boolean {
  const hash = contentHashOf(truth);
  return (
    stored.updateTime === truth.update_time &&
    stored.contentHash === hash &&
    contentHashOf(stored.order) === hash
  );
}

export async function diffWithTruth(
  documents: DynamoDBDocumentClient,
  tableName: string,
  shopId: string,
  truth: readonly TikTokOrder[],
): Promise<TruthDiff> {
  const stored = await readAllStoredOrders(documents, tableName, shopId);
  const missing: string[] = [];
  const stale: string[] = [];
  for (const order of truth) {
    const item = stored.get(order.id);
    if (!item) missing.push(order.id);
    else if (!holdsTruth(item, order)) stale.push(order.id);
  }
  const truthIds = new Set(truth.map((order) => order.id));
  const extra = [...stored.keys()].filter((id) => !truthIds.has(id));
  return { expected: truth.length, stored: stored.size, missing, stale, extra };
}
