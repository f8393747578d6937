/**
 * When and with which dimensions each custom metric is published (the emission policy of
 * DESIGN "Metrics"). The dashboard and alarms (constructs/monitoring.ts) and the cost model
 * (bench/cost-model.ts) read it; the runtime's emitter follows the same table.
 *
 * - scope `shop`: one series per shop (dimension `shopId`); `total`: one series, no dimension.
 * - emission `always`: every tick; `whenPositive`: only data points above 0 (so "no data" means 0,
 *   and alarms on them treat missing data as not breaching); `whileJobRuns`: only while a full-resync
 *   job of the shop runs; `detailed`: only with `DETAILED_METRICS=true` (then as totals).
 */
// TODO(lead): import from metric-names.ts after merge (the "deadline" branch defines this table there).
import { MetricName } from "../shared/observability/metric-names";

export type MetricScope = "shop" | "total";
export type MetricEmission = "always" | "whenPositive" | "whileJobRuns" | "detailed";

export interface MetricPolicy {
  readonly scope: MetricScope;
  readonly emission: MetricEmission;
}

export const METRIC_POLICY: Readonly<Record<MetricName, MetricPolicy>> = {
  [MetricName.SyncLagSeconds]: { scope: "shop", emission: "always" },
  [MetricName.ApiThrottled]: { scope: "shop", emission: "whenPositive" },
  [MetricName.TokenRefreshFailed]: { scope: "shop", emission: "whenPositive" },
  [MetricName.NeedsReauth]: { scope: "shop", emission: "whenPositive" },
  [MetricName.OrdersQuarantined]: { scope: "shop", emission: "whenPositive" },
  [MetricName.OrdersStale]: { scope: "shop", emission: "whenPositive" },
  [MetricName.JobStalled]: { scope: "shop", emission: "whenPositive" },
  [MetricName.DlqDepth]: { scope: "shop", emission: "whenPositive" },
  [MetricName.JobWindowsOpen]: { scope: "shop", emission: "whileJobRuns" },
  [MetricName.JobOrders]: { scope: "shop", emission: "whileJobRuns" },
  [MetricName.ApiCalls]: { scope: "total", emission: "always" },
  [MetricName.OrdersInserted]: { scope: "total", emission: "whenPositive" },
  [MetricName.OrdersUpdated]: { scope: "total", emission: "whenPositive" },
  [MetricName.OrdersUnchanged]: { scope: "total", emission: "detailed" },
  [MetricName.RunDurationMs]: { scope: "total", emission: "detailed" },
};
