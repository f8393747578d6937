/**
 * The metric names of DESIGN "Metrics" (contract for the dashboard), defined once: the runtime emits
 * them and infra/constructs/monitoring.ts graphs and alarms on them.
 *
 * Every data point carries exactly one dimension, `shopId` (no Powertools `service` dimension: clear
 * the default dimensions), or the dashboard's SEARCH and the alarms will not see it.
 */
export const METRIC_NAMESPACE = "TikTokShopSync";
export const METRIC_DIMENSION = "shopId";

export const MetricName = {
  /** Seconds, gauge: now − cursor, emitted by every tick per shop (also when the lock is held). */
  SyncLagSeconds: "SyncLagSeconds",
  /** Milliseconds, one sample per incremental run (its SampleCount is the number of runs). */
  RunDurationMs: "RunDurationMs",
  /** Count: HTTP requests sent to TikTok, retries included. */
  ApiCalls: "ApiCalls",
  /** Count: requests TikTok answered with 429. */
  ApiThrottled: "ApiThrottled",
  OrdersInserted: "OrdersInserted",
  OrdersUpdated: "OrdersUpdated",
  OrdersUnchanged: "OrdersUnchanged",
  OrdersStale: "OrdersStale",
  OrdersQuarantined: "OrdersQuarantined",
  /** Count, gauge: open windows of the shop's running full-resync job, emitted by each tick. */
  JobWindowsOpen: "JobWindowsOpen",
  /** Count, gauge: orders the running job has stored so far, emitted with JobWindowsOpen. */
  JobOrders: "JobOrders",
  /** Count: failed refreshes of the access token. */
  TokenRefreshFailed: "TokenRefreshFailed",
  /** Count, gauge: DLQ messages visible, as seen by the tick (the queue's own metric is graphed too). */
  DlqDepth: "DlqDepth",
  /** Count, gauge 0/1 per tick: the shop needs authorising again (refresh token refused). */
  NeedsReauth: "NeedsReauth",
  /** Count: windows the reconciler found without progress for 2× the visibility timeout. */
  JobStalled: "JobStalled",
} as const;

export type MetricName = (typeof MetricName)[keyof typeof MetricName];
