/**
 * The Powertools adapters as the Lambda handlers use them: what reaches stdout (EMF documents and JSON
 * log lines) for one invocation, against the metric policy of shared/observability/metric-names.ts.
 */
import type { Context } from "aws-lambda";
import {
  METRIC_DIMENSION,
  METRIC_NAMESPACE,
  METRIC_POLICY,
  MetricName,
  publishedAs,
} from "../../shared/observability/metric-names";
import { createPowertools } from "../../shared/observability/powertools";

interface Emf {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  [key: string]: unknown;
}

/** Runs `work` and returns every JSON line written to stdout meanwhile. */
async function stdoutLines(work: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const spy = jest.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split("\n").filter(Boolean));
    return true;
  });
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

const isEmf = (line: Record<string, unknown>): line is Emf => "_aws" in line;

function context(requestId: string): Context {
  return {
    awsRequestId: requestId,
    functionName: "tiktok-shop-sync-tick",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:tiktok-shop-sync-tick",
    memoryLimitInMB: "512",
    getRemainingTimeInMillis: () => 60_000,
  } as Context;
}

describe("the metric policy", () => {
  it("names every metric once, and publishes per shop, totals, zeros and details as decided", () => {
    expect(Object.keys(METRIC_POLICY).sort()).toEqual(Object.values(MetricName).sort());
    const detailed = { detailedMetrics: false };
    expect(publishedAs(MetricName.SyncLagSeconds, 0, detailed)).toEqual({ dimensions: [METRIC_DIMENSION] });
    expect(publishedAs(MetricName.ApiThrottled, 0, detailed)).toBeUndefined();
    expect(publishedAs(MetricName.NeedsReauth, 1, detailed)).toEqual({ dimensions: [METRIC_DIMENSION] });
    // Non-zero on nearly every run: published (as totals) only with DETAILED_METRICS.
    expect(publishedAs(MetricName.ApiCalls, 7, detailed)).toBeUndefined();
    expect(publishedAs(MetricName.ApiCalls, 7, { detailedMetrics: true })).toEqual({ dimensions: [] });
    expect(publishedAs(MetricName.OrdersInserted, 3, detailed)).toBeUndefined();
    expect(publishedAs(MetricName.OrdersUnchanged, 5, detailed)).toBeUndefined();
    expect(publishedAs(MetricName.RunDurationMs, 900, { detailedMetrics: true })).toEqual({ dimensions: [] });
    expect(publishedAs(MetricName.JobWindowsOpen, 0, detailed)).toEqual({ dimensions: [METRIC_DIMENSION] });
  });
});

describe("an instrumented handler", () => {
  const saved = { ...process.env };
  beforeAll(() => {
    // Outside Lambda Powertools would trace nothing anyway; keep its dev mode (console output) off.
    delete process.env.POWERTOOLS_DEV;
    process.env.POWERTOOLS_LOG_LEVEL = "INFO";
  });
  afterAll(() => {
    process.env = saved;
  });

  it("flushes the invocation's metrics once: one document per shop, no totals in steady state", async () => {
    const powertools = createPowertools("tiktok-shop-sync-tick");
    const handler = powertools.instrument(async (event: { record: boolean }, _context: Context) => {
      const { metricsPort: metrics } = powertools;
      if (!event.record) return "nothing";
      for (const shopId of ["shop-a", "shop-b"]) {
        metrics.record(shopId, MetricName.SyncLagSeconds, 40, "Seconds");
        metrics.record(shopId, MetricName.ApiThrottled, 0, "Count");
        metrics.record(shopId, MetricName.NeedsReauth, 0, "Count");
        metrics.record(shopId, MetricName.ApiCalls, 1, "Count");
        metrics.record(shopId, MetricName.OrdersInserted, 0, "Count");
        metrics.record(shopId, MetricName.OrdersUnchanged, 100, "Count");
        metrics.record(shopId, MetricName.RunDurationMs, 850, "Milliseconds");
      }
      metrics.record("shop-b", MetricName.OrdersUpdated, 3, "Count");
      powertools.logPort.info("incremental sync completed", { shopId: "shop-a" });
      return "done";
    });
    const lines = await stdoutLines(() => handler({ record: true }, context("req-1")));
    const documents = lines.filter(isEmf);
    // Steady state publishes the lag per shop and nothing else: totals are DETAILED_METRICS only.
    expect(documents).toHaveLength(2);
    for (const document of documents) {
      expect(document._aws.CloudWatchMetrics[0]?.Namespace).toBe(METRIC_NAMESPACE);
      expect(document._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([[METRIC_DIMENSION]]);
      expect(document._aws.CloudWatchMetrics[0]?.Metrics.map((metric) => metric.Name)).toEqual([
        MetricName.SyncLagSeconds,
      ]);
      expect(document.service).toBeUndefined();
    }
    expect(documents.map((document) => document.shopId).sort()).toEqual(["shop-a", "shop-b"]);

    // The log line carries the Lambda context (Logger's injectLambdaContext).
    const [log] = lines.filter((line) => line.message === "incremental sync completed");
    expect(log).toMatchObject({
      function_request_id: "req-1",
      cold_start: expect.any(Boolean),
      shopId: "shop-a",
    });

    // What an invocation recorded is published by it, never again by the next.
    const again = await stdoutLines(async () => {
      await handler({ record: false }, context("req-2"));
    });
    expect(again.filter(isEmf)).toEqual([]);
  });

  it("publishes the detailed figures as totals with DETAILED_METRICS, and flushes when the handler throws", async () => {
    const powertools = createPowertools("tiktok-shop-sync-worker", { detailedMetrics: true });
    const handler = powertools.instrument(async (_event: unknown, _context: Context) => {
      for (const shopId of ["shop-a", "shop-b"])
        powertools.metricsPort.record(shopId, MetricName.ApiCalls, 1, "Count");
      powertools.metricsPort.record("shop-b", MetricName.OrdersUpdated, 3, "Count");
      powertools.metricsPort.record("shop-a", MetricName.OrdersUnchanged, 100, "Count");
      powertools.metricsPort.record("shop-a", MetricName.RunDurationMs, 850, "Milliseconds");
      throw new Error("boom");
    });
    const lines = await stdoutLines(() => handler({}, context("req-3")).catch(() => undefined));
    const documents = lines.filter(isEmf);
    expect(documents).toHaveLength(1);
    expect(documents[0]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([[]]);
    // One document for the totals, values of every shop in it.
    expect(documents[0]).toMatchObject({
      ApiCalls: [1, 1],
      OrdersUpdated: 3,
      OrdersUnchanged: 100,
      RunDurationMs: 850,
    });
    expect(documents[0]?.shopId).toBeUndefined();
  });

  it("splits more than 99 values of a metric over several documents (Powertools' own limit is 100)", async () => {
    const powertools = createPowertools("tiktok-shop-sync-tick", { detailedMetrics: true });
    const lines = await stdoutLines(async () => {
      for (let index = 0; index < 150; index++) {
        powertools.metricsPort.record(`shop-${index}`, MetricName.ApiCalls, 1, "Count");
      }
      powertools.metricsPort.flush();
    });
    const documents = lines.filter(isEmf);
    expect(documents).toHaveLength(2);
    for (const document of documents) expect(document._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([[]]);
    const values = documents.flatMap((document) => document[MetricName.ApiCalls] as number[]);
    expect(values).toHaveLength(150);
  });
});
