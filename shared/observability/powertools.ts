/**
 * Powertools-backed observability adapters for Lambda, used as Powertools' own examples use them: one
 * Logger (the Lambda context injected per invocation: request id, cold start), one Tracer (the
 * handler, every AWS SDK client and every TikTok HTTP request traced), and Metrics collected during
 * the invocation and flushed once at its end, through middy middleware.
 *
 * Metrics follow METRIC_POLICY (metric-names.ts): per-shop ones with the single dimension `shopId`,
 * totals without any dimension, zeros of "nonZero" metrics and the detailed ones (unless
 * DETAILED_METRICS) left out. EMF carries one dimension value per document, so the flush writes one
 * document per shop touched plus one for the totals.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics, MetricUnit as PowertoolsUnit } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import middy, { type MiddlewareObj } from "@middy/core";
import type { Context } from "aws-lambda";
import { TikTokApiError, TikTokRateLimitedError } from "../tiktok/api-errors";
import type { HttpTracePort, HttpTraceSpan } from "../tiktok/client";
import { METRIC_DIMENSION, METRIC_NAMESPACE, type MetricName, publishedAs } from "./metric-names";
import type { LogPort, MetricsPort, MetricUnit } from "./telemetry";

const UNITS: Record<MetricUnit, (typeof PowertoolsUnit)[keyof typeof PowertoolsUnit]> = {
  Count: PowertoolsUnit.Count,
  Seconds: PowertoolsUnit.Seconds,
  Milliseconds: PowertoolsUnit.Milliseconds,
};

/** Powertools flushes a metric on its own at 100 values; a document stays below that. */
const VALUES_PER_DOCUMENT = 99;

type Points = Map<MetricName, { unit: MetricUnit; values: number[] }>;

/**
 * The MetricsPort on Lambda: buffers what the invocation records (already filtered by the policy)
 * and publishes it once, at `flush()`.
 */
export class PolicyMetrics implements MetricsPort {
  private readonly perShop = new Map<string, Points>();
  private readonly totals: Points = new Map();

  constructor(
    private readonly metrics: Metrics,
    private readonly options: { readonly detailedMetrics: boolean },
  ) {
    // Only `shopId` (or nothing): the dashboard and alarms look for exactly that, not [service, shopId].
    metrics.clearDefaultDimensions();
  }

  record(shopId: string, name: MetricName, value: number, unit: MetricUnit): void {
    const published = publishedAs(name, value, this.options);
    if (!published) return;
    let points = this.totals;
    if (published.dimensions.length > 0) {
      points = this.perShop.get(shopId) ?? new Map();
      this.perShop.set(shopId, points);
    }
    const series = points.get(name) ?? { unit, values: [] };
    series.values.push(value);
    points.set(name, series);
  }

  /** Publishes everything recorded since the last flush: one EMF document per shop, one for totals. */
  flush(): void {
    for (const [shopId, points] of this.perShop) {
      this.publish(points, () => this.metrics.addDimension(METRIC_DIMENSION, shopId));
    }
    // An empty dimension set: the totals are published with no dimension at all.
    this.publish(this.totals, () => this.metrics.addDimensions({}));
    this.perShop.clear();
    this.totals.clear();
  }

  private publish(points: Points, dimension: () => void): void {
    const longest = Math.max(0, ...[...points.values()].map((series) => series.values.length));
    for (let offset = 0; offset < longest; offset += VALUES_PER_DOCUMENT) {
      dimension();
      for (const [name, series] of points) {
        for (const value of series.values.slice(offset, offset + VALUES_PER_DOCUMENT)) {
          this.metrics.addMetric(name, UNITS[series.unit], value);
        }
      }
      this.metrics.publishStoredMetrics();
    }
  }
}

/** TikTok HTTP requests as X-Ray subsegments of the invocation's segment (no URL query, no body). */
function tikTokTrace(tracer: Tracer): HttpTracePort {
  const untraced: HttpTraceSpan = { end: () => undefined, fail: () => undefined };
  return {
    async request(spec, run) {
      const parent = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
      if (!parent) return run(untraced);
      const subsegment = parent.addNewSubsegment(`TikTok ${spec.endpoint}`);
      subsegment.namespace = "remote";
      subsegment.addAnnotation("tiktok_endpoint", spec.endpoint);
      subsegment.addAnnotation("http_method", spec.method);
      try {
        return await run({
          end(outcome) {
            subsegment.addAnnotation("http_status", outcome.status);
          },
          fail(error) {
            const status = error instanceof TikTokApiError ? error.httpStatus : undefined;
            if (status !== undefined) subsegment.addAnnotation("http_status", status);
            if (error instanceof TikTokRateLimitedError) subsegment.addThrottleFlag();
            else if (status !== undefined && status >= 400 && status < 500) subsegment.addErrorFlag();
            else subsegment.addFaultFlag();
            subsegment.addError(error instanceof Error ? error : String(error), true);
          },
        });
      } finally {
        subsegment.close();
      }
    },
  };
}

export function createPowertools(serviceName: string, options: { detailedMetrics?: boolean } = {}) {
  const logger = new Logger({ serviceName });
  const tracer = new Tracer({ serviceName });
  const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName });
  const metricsPort = new PolicyMetrics(metrics, { detailedMetrics: options.detailedMetrics ?? false });
  const logPort: LogPort = {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
  };
  /** Flushes the invocation's metrics once, after the handler returned or threw. */
  const flushMetrics: MiddlewareObj = {
    after: async () => metricsPort.flush(),
    onError: async () => metricsPort.flush(),
  };
  /**
   * The handler with the Powertools middleware: traced, its log lines carrying the Lambda context,
   * its metrics flushed once.
   */
  const instrument = <TEvent, TResult>(handler: (event: TEvent, context: Context) => Promise<TResult>) =>
    middy<TEvent, TResult>(handler)
      .use(captureLambdaHandler(tracer, { captureResponse: false }))
      .use(injectLambdaContext(logger))
      .use(flushMetrics);
  return { logger, tracer, metrics, metricsPort, logPort, httpTrace: tikTokTrace(tracer), instrument };
}
