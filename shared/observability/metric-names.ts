/**
 * The metric names of DESIGN "Metrics" (contract for the dashboard), defined once: the runtime emits
 * them and infra/constructs/monitoring.ts graphs and alarms on them.
 *
 * A per-shop data point carries exactly one dimension, `shopId`; a total none at all (no Powertools
 * `service` dimension either: the default dimensions are cleared), or the dashboard's SEARCH and the
 * alarms will not see it. METRIC_POLICY below says which is which and when each is published.
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
  /** Count: webhook events the consumer took off the webhook queue (every type, unknown shops included). */
  WebhookEvents: "WebhookEvents",
  /** Milliseconds, one sample per order a webhook refreshed: from its update_time to stored (see push). */
  WebhookLagMs: "WebhookLagMs",
  /** Count: webhook requests refused for a bad or missing signature (401). */
  WebhookRejected: "WebhookRejected",
  /**
   * Count, one point per reconciliation run (issue 18): orders by which DynamoDB and TikTok differed in
   * the ranges the run compared (missing + stored but unknown to TikTok).
   */
  ReconciliationDrift: "ReconciliationDrift",
  /**
   * Count, one point per reconciliation run: ranges still missing orders after a completed healing of the
   * same range, plus 1 when the last healing job failed or was cancelled. The alarm watches it.
   */
  ReconciliationDriftPersisting: "ReconciliationDriftPersisting",
} as const;

export type MetricName = (typeof MetricName)[keyof typeof MetricName];

/**
 * How a metric is published to CloudWatch (EMF): the cost policy of issue 15 ("Steady-state cost
 * ≤ $1 per shop per month"). A custom metric is billed per name × dimension set, prorated by the hours
 * it is emitted in, so only what the dashboard and alarms need is published, and only when it says
 * something. The in-memory recorder (tests, the local stack) records everything; this table governs
 * the Powertools adapter only, and the dashboard and alarms (infra/constructs/monitoring.ts) read it.
 *
 * - scope `shop`: one series per shop (dimension `shopId`); `total`: one series, no dimension.
 * - emission `always`: every data point, zeros included; `whenPositive`: only values > 0 (no data means
 *   zero, and alarms on them treat missing data as not breaching); `whileJobRuns`: recorded only while a
 *   full-resync job runs, and its final value once; `detailed`: only with DETAILED_METRICS=true (then as
 *   totals), otherwise the figure stays in the structured "run completed" log lines and in status.
 */
export type MetricScope = "shop" | "total";
export type MetricEmission = "always" | "whenPositive" | "whileJobRuns" | "detailed";

export interface MetricPolicy {
  readonly scope: MetricScope;
  readonly emission: MetricEmission;
}

/**
 * Steady state publishes one series per shop (SyncLagSeconds): figures that are non-zero on nearly
 * every run (API calls, order outcomes, run duration) would each cost a metric-month per deployment
 * for what the logs, the status API and Lambda's own free metrics already show.
 */
export const METRIC_POLICY: { readonly [name in MetricName]: MetricPolicy } = {
  SyncLagSeconds: { scope: "shop", emission: "always" },
  ApiThrottled: { scope: "shop", emission: "whenPositive" },
  TokenRefreshFailed: { scope: "shop", emission: "whenPositive" },
  NeedsReauth: { scope: "shop", emission: "whenPositive" },
  OrdersQuarantined: { scope: "shop", emission: "whenPositive" },
  OrdersStale: { scope: "shop", emission: "whenPositive" },
  JobStalled: { scope: "shop", emission: "whenPositive" },
  DlqDepth: { scope: "shop", emission: "whenPositive" },
  ReconciliationDrift: { scope: "shop", emission: "whenPositive" },
  ReconciliationDriftPersisting: { scope: "shop", emission: "whenPositive" },
  JobWindowsOpen: { scope: "shop", emission: "whileJobRuns" },
  JobOrders: { scope: "shop", emission: "whileJobRuns" },
  ApiCalls: { scope: "total", emission: "detailed" },
  OrdersInserted: { scope: "total", emission: "detailed" },
  OrdersUpdated: { scope: "total", emission: "detailed" },
  OrdersUnchanged: { scope: "total", emission: "detailed" },
  RunDurationMs: { scope: "total", emission: "detailed" },
  // Push (issue 18): one series each per deployment, not per shop, and only in hours with webhooks
  // (WebhookLagMs is recorded only for orders a webhook refreshed; a lag is never 0 ms in practice).
  WebhookEvents: { scope: "total", emission: "whenPositive" },
  WebhookLagMs: { scope: "total", emission: "whenPositive" },
  WebhookRejected: { scope: "total", emission: "whenPositive" },
};

/**
 * Whether a recorded data point is published to CloudWatch, and under which dimensions: `shopId`
 * for per-shop metrics, none for totals; undefined when the policy keeps it out.
 */
export function publishedAs(
  name: MetricName,
  value: number,
  options: { readonly detailedMetrics: boolean },
): { readonly dimensions: readonly [] | readonly [typeof METRIC_DIMENSION] } | undefined {
  const policy = METRIC_POLICY[name];
  if (policy.emission === "detailed" && !options.detailedMetrics) return undefined;
  if (policy.emission === "whenPositive" && !(value > 0)) return undefined;
  return { dimensions: policy.scope === "shop" ? [METRIC_DIMENSION] : [] };
}
