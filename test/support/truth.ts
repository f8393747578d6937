/** Compares what DynamoDB holds for a shop with the TikTok emulator's truth. */
import { type DynamoDBDocumentClient, paginateQuery } from "@aws-sdk/lib-dynamodb";
import { contentHashOf } from "../../shared/orders/normalize";
import type { TikTokOrder } from "../../shared/tiktok/api-types";

export interface TruthDiff {
  readonly expected: number;
  readonly stored: number;
  readonly missing: string[];
  /** Stored with an older update_time or different content than the truth. */
  readonly stale: string[];
  readonly extra: string[];
}

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

export async function diffWithTruth(
  documents: DynamoDBDocumentClient,
  tableName: string,
  shopId: string,
  truth: readonly TikTokOrder[],
): Promise<TruthDiff> {
  const stored = await storedOrders(documents, tableName, shopId);
  const missing: string[] = [];
  const stale: string[] = [];
  for (const order of truth) {
    const item = stored.get(order.id);
    if (!item) missing.push(order.id);
    else if (item.updateTime !== order.update_time || item.contentHash !== contentHashOf(order))
      stale.push(order.id);
  }
  const truthIds = new Set(truth.map((order) => order.id));
  const extra = [...stored.keys()].filter((id) => !truthIds.has(id));
  return { expected: truth.length, stored: stored.size, missing, stale, extra };
}
