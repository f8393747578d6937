/**
 * What webhooks did, for status (issue 18): per shop a `SHOP#<id>`/`PUSH` item with the events taken,
 * the orders they refreshed, when the last one arrived and the recent push lags; deployment-wide a
 * `WEBHOOKS`/`STATS` item counting events that belong to no synced shop or were unreadable.
 *
 * The PUSH item is read, changed and written back conditionally on its version (one write per shop per
 * consumer batch; consumers run at most PUSH_CONCURRENCY at once, so a lost race is retried, rare and
 * cheap). The lag samples kept are the last LAG_SAMPLES, so the percentiles describe recent pushes.
 */
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { Clock } from "../clock";
import type { PushBatchStats, PushStatsPort, PushStatus, WebhookSummary } from "../webhooks/push-stats";
import { LAG_SAMPLES } from "../webhooks/push-stats";
import { stateKeys } from "./keys";

const WRITE_ATTEMPTS = 5;

/** Nearest-rank percentile of `values` (sorted here), or null when there are none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export class PushStatsStore implements PushStatsPort {
  constructor(
    private readonly options: {
      readonly documents: DynamoDBDocumentClient;
      readonly tableName: string;
      readonly clock: Clock;
    },
  ) {}

  private key(shopId: string) {
    return { pk: stateKeys.shop(shopId), sk: stateKeys.push };
  }

  private async read(shopId: string, consistent: boolean): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.options.documents.send(
      new GetCommand({
        TableName: this.options.tableName,
        Key: this.key(shopId),
        ConsistentRead: consistent,
      }),
    );
    return Item;
  }

  /** Adds a consumer batch's figures to the shop's PUSH item. */
  async record(shopId: string, batch: PushBatchStats): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      const item = await this.read(shopId, true);
      const version = typeof item?.version === "number" ? item.version : 0;
      const previous = Array.isArray(item?.recentLagsMs) ? (item.recentLagsMs as number[]) : [];
      const lastEventAtMs = Math.max(Number(item?.lastEventAtMs ?? 0), batch.lastEventAtMs);
      try {
        await this.options.documents.send(
          new PutCommand({
            TableName: this.options.tableName,
            Item: {
              ...this.key(shopId),
              version: version + 1,
              events: Number(item?.events ?? 0) + batch.events,
              ordersRefreshed: Number(item?.ordersRefreshed ?? 0) + batch.ordersRefreshed,
              lastEventAtMs,
              recentLagsMs: [...previous, ...batch.lagsMs.map(Math.round)].slice(-LAG_SAMPLES),
              updatedAt: new Date(this.options.clock.nowMs()).toISOString(),
            },
            ConditionExpression: "attribute_not_exists(pk) OR #version = :version",
            ExpressionAttributeNames: { "#version": "version" },
            ExpressionAttributeValues: { ":version": version },
          }),
        );
        return;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= WRITE_ATTEMPTS) throw error;
      }
    }
  }

  async get(shopId: string): Promise<PushStatus | undefined> {
    const item = await this.read(shopId, false);
    if (!item) return undefined;
    const lags = Array.isArray(item.recentLagsMs) ? (item.recentLagsMs as number[]) : [];
    const lastEventAtMs = Number(item.lastEventAtMs ?? 0);
    return {
      last_event_at: lastEventAtMs > 0 ? new Date(lastEventAtMs).toISOString() : null,
      events: Number(item.events ?? 0),
      orders_refreshed: Number(item.ordersRefreshed ?? 0),
      lag_p50_ms: percentile(lags, 50),
      lag_p95_ms: percentile(lags, 95),
      lag_samples: lags.length,
    };
  }

  /** Counts events of a shop this deployment does not sync, and unreadable ones. */
  async recordIgnored(counts: { unknownShop: number; unreadable: number; lastUnknownShopId?: string }) {
    if (counts.unknownShop === 0 && counts.unreadable === 0) return;
    await this.options.documents.send(
      new UpdateCommand({
        TableName: this.options.tableName,
        Key: { pk: stateKeys.webhooks, sk: stateKeys.webhookStats },
        UpdateExpression:
          "ADD unknownShopEvents :unknown, unreadableEvents :unreadable SET updatedAt = :now" +
          (counts.lastUnknownShopId ? ", lastUnknownShopId = :shop" : ""),
        ExpressionAttributeValues: {
          ":unknown": counts.unknownShop,
          ":unreadable": counts.unreadable,
          ":now": new Date(this.options.clock.nowMs()).toISOString(),
          ...(counts.lastUnknownShopId ? { ":shop": counts.lastUnknownShopId } : {}),
        },
      }),
    );
  }

  async summary(): Promise<WebhookSummary | undefined> {
    const { Item } = await this.options.documents.send(
      new GetCommand({
        TableName: this.options.tableName,
        Key: { pk: stateKeys.webhooks, sk: stateKeys.webhookStats },
      }),
    );
    if (!Item) return undefined;
    return {
      unknown_shop_events: Number(Item.unknownShopEvents ?? 0),
      last_unknown_shop_id: typeof Item.lastUnknownShopId === "string" ? Item.lastUnknownShopId : null,
      unreadable_events: Number(Item.unreadableEvents ?? 0),
    };
  }
}
