/** The cost arithmetic behind docs/cost.md (bench/cost-model.ts), on hand-checked inputs. */
import {
  type CostModelInputs,
  fitPerShop,
  hoursWithData,
  metricMonths,
  monthlyCost,
  summarize,
  type TickCounts,
  ticksPerMonth,
  withFreeTier,
} from "../../bench/cost-model";
import { MetricName } from "../../shared/observability/metric-names";

const counts = (values: Partial<TickCounts>): TickCounts => ({
  dynamodbReadUnits: 0,
  dynamodbWriteUnits: 0,
  sqsRequests: 0,
  logEvents: 0,
  logBytes: 0,
  tiktokCalls: 0,
  ...values,
});

const GB = 1024 ** 3;

function inputs(overrides: Partial<CostModelInputs> = {}): CostModelInputs {
  return {
    perTick: {
      fixed: counts({
        dynamodbReadUnits: 8,
        dynamodbWriteUnits: 1,
        sqsRequests: 1,
        logEvents: 1,
        logBytes: 100,
      }),
      perShop: counts({
        dynamodbReadUnits: 2,
        dynamodbWriteUnits: 12,
        logEvents: 3,
        logBytes: 500,
        tiktokCalls: 1,
      }),
    },
    tickMsPerWave: 200,
    positiveShare: { [MetricName.OrdersInserted]: 1, [MetricName.OrdersUpdated]: 0.5 },
    template: {
      alarms: [
        { name: "errors", metrics: 1 },
        { name: "queue age", metrics: 1 },
        { name: "job stalled (math)", metrics: 3 },
        { name: "lag", metrics: 0, insightsMetric: MetricName.SyncLagSeconds },
        { name: "token", metrics: 0, insightsMetric: MetricName.TokenRefreshFailed },
      ],
      dashboards: 1,
      secrets: 1,
      orderIndexes: 2,
      orderIndexesProjectAll: true,
      tickMemoryGb: 0.5,
      scheduleMinutes: 5,
      shopConcurrency: 4,
      logRetentionDays: 30,
    },
    assumptions: {
      coldStartsPerTick: 1,
      initMs: 1000,
      tiktokLatencyMs: 300,
      platformLogEvents: 3,
      platformLogBytes: 400,
      eventSourcePollers: 5,
      pollsPerPollerPerMinute: 3,
      secretFetchesPerTick: 1,
      tracesPerTick: 1,
      ordersPerShop: 100_000,
      bytesPerOrder: 2000,
      summaryIndexEntryBytes: 60,
      detailedMetrics: false,
    },
    ...overrides,
  };
}

const line = (lines: ReturnType<typeof monthlyCost>, service: string, item: RegExp) => {
  const found = lines.filter((l) => l.service === service && item.test(l.item));
  expect(found).toHaveLength(1);
  return found[0] as (typeof lines)[number];
};

describe("cost model", () => {
  it("splits two measurements into a per-deployment and a per-shop part, never negative", () => {
    const fit = fitPerShop(
      { shops: 1, counts: counts({ dynamodbReadUnits: 10, sqsRequests: 1, logBytes: 600 }) },
      { shops: 4, counts: counts({ dynamodbReadUnits: 16, sqsRequests: 1, logBytes: 500 }) },
    );
    expect(fit.perShop.dynamodbReadUnits).toBe(2);
    expect(fit.fixed.dynamodbReadUnits).toBe(8);
    expect(fit.perShop.sqsRequests).toBe(0);
    expect(fit.fixed.sqsRequests).toBe(1);
    // Fewer bytes with more shops is noise: all of it is per deployment.
    expect(fit.perShop.logBytes).toBe(0);
    expect(fit.fixed.logBytes).toBe(600);
    expect(() => fitPerShop({ shops: 4, counts: counts({}) }, { shops: 4, counts: counts({}) })).toThrow();
  });

  it("counts an hour as billed for a metric when any of its ticks published it", () => {
    expect(ticksPerMonth(5)).toBe(8760);
    expect(hoursWithData(1, 12)).toBe(1);
    expect(hoursWithData(0, 12)).toBe(0);
    expect(hoursWithData(1 / 12, 12)).toBeCloseTo(1 - (11 / 12) ** 12, 10);
  });

  it("bills custom metrics by the policy: per-shop series, totals once, zero-only metrics never", () => {
    const months = Object.fromEntries(metricMonths(inputs(), 10).map((m) => [m.name, m.months]));
    expect(months.SyncLagSeconds).toBe(10);
    for (const name of [
      "ApiCalls",
      "OrdersInserted",
      "OrdersUpdated",
      "ApiThrottled",
      "NeedsReauth",
      "JobWindowsOpen",
      "OrdersUnchanged",
      "RunDurationMs",
    ]) {
      expect(months[name]).toBe(0);
    }
    const detailed = inputs();
    const withDetail = Object.fromEntries(
      metricMonths({ ...detailed, assumptions: { ...detailed.assumptions, detailedMetrics: true } }, 10).map(
        (m) => [m.name, m.months],
      ),
    );
    expect(withDetail.ApiCalls).toBe(1);
    expect(withDetail.OrdersUpdated).toBe(1);
    expect(withDetail.OrdersUnchanged).toBe(1);
    expect(withDetail.RunDurationMs).toBe(1);
    const lines = monthlyCost(inputs(), 10);
    expect(line(lines, "CloudWatch", /^custom metrics/).monthly).toBeCloseTo(10 * 0.3, 10);
  });

  it("prices 10 shops line by line", () => {
    const lines = monthlyCost(inputs(), 10);
    const ticks = 8760;
    // Three waves of 4 shops, each 200 ms plus one 300 ms TikTok call, plus a 1 s cold start.
    expect(line(lines, "Lambda", /^tick compute/).quantity).toBeCloseTo(ticks * 2.5 * 0.5, 6);
    expect(line(lines, "Lambda", /^tick compute/).monthly).toBeCloseTo(ticks * 2.5 * 0.5 * 0.0000133334, 8);
    expect(line(lines, "Lambda", /^tick requests/).monthly).toBeCloseTo(ticks * 0.2e-6, 10);
    expect(line(lines, "DynamoDB", /^read/).quantity).toBe(ticks * 28);
    expect(line(lines, "DynamoDB", /^write/).monthly).toBeCloseTo(ticks * 121 * 0.625e-6, 10);
    expect(line(lines, "SQS", /by ticks/).quantity).toBe(ticks);
    expect(line(lines, "SQS", /long-polling/).quantity).toBe(5 * 3 * 60 * 730);
    // 34 events and 5,500 bytes a tick, plus 26 bytes per event.
    const logGb = (ticks * (5500 + 34 * 26)) / GB;
    expect(line(lines, "CloudWatch Logs", /^ingestion/).monthly).toBeCloseTo(logGb * 0.5, 10);
    expect(line(lines, "CloudWatch Logs", /^storage/).quantity).toBeCloseTo(logGb * (30 / (730 / 24)), 10);
    // 5 plain alarm metrics, the lag query over 10 shops, the token query over none.
    expect(line(lines, "CloudWatch", /^alarms/).quantity).toBe(15);
    expect(line(lines, "CloudWatch", /^alarms/).monthly).toBeCloseTo(1.5, 10);
    expect(line(lines, "CloudWatch", /^dashboard/).monthly).toBe(3);
    expect(line(lines, "Secrets Manager", /^secret$/).monthly).toBe(0.4);
    expect(line(lines, "Secrets Manager", /^GetSecretValue/).monthly).toBeCloseTo(
      (ticks * 0.05) / 10_000,
      10,
    );
    expect(line(lines, "X-Ray", /traces/).monthly).toBeCloseTo(ticks * 5e-6, 10);
    // 1,000,000 orders of 2,000 + 100 bytes; two ALL-projection indexes hold a copy each.
    const tableGb = (1_000_000 * 2100) / GB;
    expect(line(lines, "DynamoDB", /^orders table storage/).monthly).toBeCloseTo(tableGb * 0.25, 10);
    expect(line(lines, "DynamoDB", /index\(es\) storage/).monthly).toBeCloseTo(2 * tableGb * 0.25, 10);
    expect(line(lines, "DynamoDB", /point-in-time/).monthly).toBeCloseTo(tableGb * 0.2, 10);
  });

  it("keys-only indexes store index keys, not copies", () => {
    const base = inputs();
    const lines = monthlyCost({ ...base, template: { ...base.template, orderIndexesProjectAll: false } }, 1);
    expect(line(lines, "DynamoDB", /index\(es\) storage/).quantity).toBeCloseTo((2 * 100_000 * 160) / GB, 12);
  });

  it("subtracts each always-free allowance once, shared by the lines that draw on it", () => {
    const lines = monthlyCost(inputs(), 1);
    const paid = (service: string, item: RegExp) => line(lines, service, item).monthly;
    // SQS: 8,760 tick requests + 657,000 polls, all within the free million.
    // CloudWatch: 4 metric-months within 10; 5 alarm metrics + 1 lag metric within 10; 1 dashboard within 3.
    // DynamoDB: 0.2 GB of orders + 0.4 GB of index copies within 25 GB; PITR is never free.
    const billedAnyway =
      paid("DynamoDB", /^read/) +
      paid("DynamoDB", /^write/) +
      paid("CloudWatch Logs", /^storage/) +
      paid("Secrets Manager", /^secret$/) +
      paid("Secrets Manager", /^GetSecretValue/) +
      paid("DynamoDB", /point-in-time/);
    expect(withFreeTier(lines)).toBeCloseTo(billedAnyway, 10);
    // Past an allowance only the excess is billed: 100 shops publish 103 metric-months, 10 are free.
    const many = monthlyCost(inputs(), 100);
    const metrics = line(many, "CloudWatch", /^custom metrics/);
    const others = many.filter((l) => l !== metrics);
    expect(withFreeTier(many) - withFreeTier(others)).toBeCloseTo(
      metrics.monthly * ((metrics.quantity - 10) / metrics.quantity),
      10,
    );
  });

  it("summarizes operations and storage per shop", () => {
    const lines = monthlyCost(inputs(), 10);
    const summary = summarize(lines, 10);
    const storage = lines.filter((l) => l.storage).reduce((total, l) => total + l.monthly, 0);
    const all = lines.reduce((total, l) => total + l.monthly, 0);
    expect(storage).toBeGreaterThan(0);
    expect(summary.storage).toBeCloseTo(storage, 12);
    expect(summary.operations).toBeCloseTo(all - storage, 12);
    expect(summary.totalPerShop).toBeCloseTo(all / 10, 12);
    expect(summary.operationsPerShop).toBeCloseTo((all - storage) / 10, 12);
  });
});
