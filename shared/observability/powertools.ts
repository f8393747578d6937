/**
 * Powertools-backed observability adapters for Lambda: structured JSON logs and CloudWatch EMF metrics
 * in namespace `TikTokShopSync`, dimension `shopId` (DESIGN "Metrics").
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit as PowertoolsUnit } from "@aws-lambda-powertools/metrics";
import { METRIC_DIMENSION, METRIC_NAMESPACE, type MetricName } from "./metric-names";
import type { LogPort, MetricsPort, MetricUnit } from "./telemetry";

const UNITS: Record<MetricUnit, (typeof PowertoolsUnit)[keyof typeof PowertoolsUnit]> = {
  Count: PowertoolsUnit.Count,
  Seconds: PowertoolsUnit.Seconds,
  Milliseconds: PowertoolsUnit.Milliseconds,
};

export function createPowertools(serviceName: string) {
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName });
  const metricsPort: MetricsPort = {
    record(shopId: string, name: MetricName, value: number, unit: MetricUnit) {
      // A single-metric object flushes at once with its own dimension set, so shops never mix.
      const single = metrics.singleMetric();
      // Only `shopId`: the dashboard and alarms look for exactly that dimension set, not [service, shopId].
      single.clearDefaultDimensions();
      single.addDimension(METRIC_DIMENSION, shopId);
      single.addMetric(name, UNITS[unit], value);
    },
  };
  const logPort: LogPort = {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
  };
  return { logger, metrics, metricsPort, logPort };
}
