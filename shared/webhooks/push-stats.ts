/** What webhooks did, per shop and deployment-wide, as the consumer records it and status shows it. */

/** Push lags kept per shop for the percentiles (the most recent ones). */
export const LAG_SAMPLES = 200;

export interface PushBatchStats {
  /** Webhook events for the shop (duplicates included: each is a delivery TikTok made). */
  readonly events: number;
  /** Orders the batch wrote (inserted or updated) from Get Order Detail. */
  readonly ordersRefreshed: number;
  /** When the newest of these events was received (epoch ms). */
  readonly lastEventAtMs: number;
  /** Push lag of each refreshed order (ms). */
  readonly lagsMs: readonly number[];
}

/** The status document's `push` (DESIGN "Push and reconciliation"). */
export interface PushStatus {
  readonly last_event_at: string | null;
  readonly events: number;
  readonly orders_refreshed: number;
  readonly lag_p50_ms: number | null;
  readonly lag_p95_ms: number | null;
  /** How many recent lags the percentiles are over (at most LAG_SAMPLES). */
  readonly lag_samples: number;
}

export interface WebhookSummary {
  /** Events naming a shop this deployment does not sync (answered 200 and ignored). */
  readonly unknown_shop_events: number;
  readonly last_unknown_shop_id: string | null;
  /** Queued messages the consumer could not read (never expected: the receiver validated them). */
  readonly unreadable_events: number;
}

/** Where the webhook consumer records what it did (the DynamoDB adapter: shared/store/push-stats.ts). */
export interface PushStatsPort {
  /** Adds a consumer batch's figures to the shop's push record. */
  record(shopId: string, batch: PushBatchStats): Promise<void>;
  /** Counts events of a shop this deployment does not sync, and unreadable ones. */
  recordIgnored(counts: {
    unknownShop: number;
    unreadable: number;
    lastUnknownShopId?: string;
  }): Promise<void>;
}
