/**
 * The steady-state monthly cost of a deployment, from what a tick really spends (counted by
 * bench/cost.ts against the local emulators), what the synthesized template holds (alarms,
 * dashboards, secrets, index projections), the metric emission policy (shared/observability/metric-names.ts) and
 * list prices. Pure arithmetic: every figure in docs/cost.md comes from here.
 *
 * "Steady state": every shop is synced up, ticks run every `scheduleMinutes`, each tick finds a few
 * new and changed orders, no full resync runs. Things the emulators cannot show are modeled and
 * marked as such (the line's `basis`): Lambda init, TikTok's latency, Lambda's own log lines, the
 * event source's idle polling of the work queue, secret fetches and traces per tick.
 */

import type { MetricName } from "../shared/observability/metric-names";
import { METRIC_POLICY } from "../shared/observability/metric-names";
import { PRICES } from "./prices";

export const HOURS_PER_MONTH = 730;
const GB = 1024 ** 3;

/** us-east-1 list prices beyond bench/prices.ts (same date; check again before quoting a figure). */
export const OPERATIONS_PRICES = {
  asOf: PRICES.asOf,
  region: PRICES.region,
  /** CloudWatch custom metric (first 10,000), per metric-month, prorated by the hour it has data. */
  customMetricMonth: 0.3,
  /** CloudWatch standard-resolution alarm, per metric it evaluates (Metrics Insights: per metric analyzed). */
  alarmMetricMonth: 0.1,
  /** CloudWatch dashboard per month (an account's first 3 are free). */
  dashboardMonth: 3,
  /** CloudWatch Logs ingestion (Standard class), per GB. */
  logsIngestedGb: 0.5,
  /** CloudWatch Logs storage, per GB-month (billed compressed; counted uncompressed here). */
  logsStoredGbMonth: 0.03,
  /** Bytes CloudWatch Logs adds to every log event when it meters ingestion. */
  logEventOverheadBytes: 26,
  /** X-Ray, per trace recorded. */
  xrayTrace: 5 / 1_000_000,
  /** Secrets Manager, per secret-month and per API call. */
  secretMonth: 0.4,
  secretsApiCall: 0.05 / 10_000,
  /** KMS, per request (the secret's AWS-managed key decrypts on every GetSecretValue). */
  kmsRequest: 0.03 / 10_000,
  /** EventBridge Scheduler, per invocation (after its free tier, not counted here). */
  schedulerInvocation: 1 / 1_000_000,
  /** DynamoDB Standard table class storage and continuous backups (PITR), per GB-month. */
  dynamodbStorageGbMonth: 0.25,
  dynamodbPitrGbMonth: 0.2,
  /** Bytes DynamoDB adds to every item (base table and each index) when it meters storage. */
  dynamodbItemOverheadBytes: 100,
} as const;

/** What one tick spends, as counted (per deployment or per shop). */
export interface TickCounts {
  readonly dynamodbReadUnits: number;
  readonly dynamodbWriteUnits: number;
  readonly sqsRequests: number;
  /** Log events the functions' code wrote (structured log lines and EMF metric lines). */
  readonly logEvents: number;
  /** Their bytes, without CloudWatch's per-event overhead. */
  readonly logBytes: number;
  readonly tiktokCalls: number;
}

export const COUNT_KEYS = [
  "dynamodbReadUnits",
  "dynamodbWriteUnits",
  "sqsRequests",
  "logEvents",
  "logBytes",
  "tiktokCalls",
] as const satisfies readonly (keyof TickCounts)[];

/** A tick's counts as `fixed` (per deployment) + `perShop` × shops. */
export interface LinearCounts {
  readonly fixed: TickCounts;
  readonly perShop: TickCounts;
}

/** Splits two measurements (different shop counts, same per-shop workload) into fixed and per-shop parts. */
export function fitPerShop(
  small: { readonly shops: number; readonly counts: TickCounts },
  large: { readonly shops: number; readonly counts: TickCounts },
): LinearCounts {
  if (large.shops <= small.shops) throw new Error("the second measurement must have more shops");
  const fixed: Record<string, number> = {};
  const perShop: Record<string, number> = {};
  for (const key of COUNT_KEYS) {
    const slope = (large.counts[key] - small.counts[key]) / (large.shops - small.shops);
    // Noise cannot make a cost negative: a part that does not grow is all fixed, and vice versa.
    const clampedSlope = Math.max(0, slope);
    perShop[key] = clampedSlope;
    fixed[key] = Math.max(0, small.counts[key] - clampedSlope * small.shops);
  }
  return { fixed: fixed as unknown as TickCounts, perShop: perShop as unknown as TickCounts };
}

/** Share of the month's hours in which a metric published `perTickShare` of ticks has data. */
export function hoursWithData(perTickShare: number, ticksPerHour: number): number {
  const share = Math.min(1, Math.max(0, perTickShare));
  return 1 - (1 - share) ** ticksPerHour;
}

/** An alarm of the template: the metrics it evaluates (Metrics Insights: those its query matches). */
export interface AlarmInventory {
  readonly name: string;
  /** Metrics it evaluates regardless of shops (plain metric: 1; metric math: its inputs). */
  readonly metrics: number;
  /** A Metrics Insights query over this per-shop metric: one analyzed metric per shop with data. */
  readonly insightsMetric?: MetricName;
}

/** What the synthesized template holds that is billed per month. */
export interface TemplateInventory {
  readonly alarms: readonly AlarmInventory[];
  readonly dashboards: number;
  readonly secrets: number;
  /** The orders table's global secondary indexes and whether they project the whole item. */
  readonly orderIndexes: number;
  readonly orderIndexesProjectAll: boolean;
  readonly tickMemoryGb: number;
  readonly scheduleMinutes: number;
  readonly shopConcurrency: number;
  readonly logRetentionDays: number;
}

/** What cannot be counted locally, each stated in docs/cost.md. */
export interface CostAssumptions {
  /** Cold starts per tick (an idle 5-minute gap may or may not keep the container) and their init time. */
  readonly coldStartsPerTick: number;
  readonly initMs: number;
  /** TikTok's answer time per call (the emulator answers in about a millisecond). */
  readonly tiktokLatencyMs: number;
  /** Lambda's own START/END/REPORT (+ X-Ray) lines per invocation. */
  readonly platformLogEvents: number;
  readonly platformLogBytes: number;
  /** The SQS event source's long polls of the idle work queue (AWS-internal poller count). */
  readonly eventSourcePollers: number;
  readonly pollsPerPollerPerMinute: number;
  /** Secrets Manager reads per tick (the function caches the secret for 5 minutes). */
  readonly secretFetchesPerTick: number;
  /** X-Ray traces per tick (the default sampling rule records the first request each second). */
  readonly tracesPerTick: number;
  /** Orders stored per shop, for the storage lines. */
  readonly ordersPerShop: number;
  /** Billed bytes of one stored order (measured on the emulator's orders). */
  readonly bytesPerOrder: number;
  /** Bytes of an index entry that projects only keys (table keys + index key). */
  readonly summaryIndexEntryBytes: number;
  /** DETAILED_METRICS=true publishes OrdersUnchanged and RunDurationMs as totals. */
  readonly detailedMetrics: boolean;
}

export interface CostModelInputs {
  readonly perTick: LinearCounts;
  /** Local wall time of a tick syncing at most `shopConcurrency` shops (one wave). */
  readonly tickMsPerWave: number;
  /** Share of measured ticks in which each metric had a value above 0 (per shop for per-shop metrics). */
  readonly positiveShare: Partial<Record<MetricName, number>>;
  readonly template: TemplateInventory;
  readonly assumptions: CostAssumptions;
}

export type CostBasis = "measured" | "modeled" | "template" | "policy" | "assumed";

export interface CostLine {
  readonly service: string;
  readonly item: string;
  readonly quantity: number;
  readonly unit: string;
  readonly monthly: number;
  readonly basis: CostBasis;
  /** Storage lines grow with the orders kept, not with ticks: reported apart from operations. */
  readonly storage?: boolean;
  /** The always-free allowance this line draws on, if any. */
  readonly freeTier?: keyof typeof FREE_TIER;
}

/**
 * AWS's always-free tier per account and month (not the 12-month trial): it helps only as far as this
 * deployment is the account's only user of it, so docs/cost.md shows it apart. CloudWatch Logs' 5 GB
 * is counted against ingestion only.
 */
export const FREE_TIER = {
  lambdaRequests: 1_000_000,
  lambdaGbSeconds: 400_000,
  sqsRequests: 1_000_000,
  logsIngestedGb: 5,
  customMetrics: 10,
  alarmMetrics: 10,
  dashboards: 3,
  xrayTraces: 100_000,
  kmsRequests: 20_000,
  schedulerInvocations: 14_000_000,
  dynamodbStorageGb: 25,
} as const;

/** The month's bill after the always-free allowances (each shared by the lines drawing on it). */
export function withFreeTier(lines: readonly CostLine[]): number {
  const groups = new Map<string, { quantity: number; monthly: number }>();
  let total = 0;
  for (const line of lines) {
    if (!line.freeTier) {
      total += line.monthly;
      continue;
    }
    const group = groups.get(line.freeTier) ?? { quantity: 0, monthly: 0 };
    group.quantity += line.quantity;
    group.monthly += line.monthly;
    groups.set(line.freeTier, group);
  }
  for (const [key, group] of groups) {
    if (group.quantity <= 0) continue;
    const free = FREE_TIER[key as keyof typeof FREE_TIER];
    total += group.monthly * (Math.max(0, group.quantity - free) / group.quantity);
  }
  return total;
}

export function ticksPerMonth(scheduleMinutes: number): number {
  return (HOURS_PER_MONTH * 60) / scheduleMinutes;
}

/** Metric series with data over the month (metric-months), per the emission policy. */
export function metricMonths(inputs: CostModelInputs, shops: number): { name: MetricName; months: number }[] {
  const ticksPerHour = 60 / inputs.template.scheduleMinutes;
  return (Object.entries(METRIC_POLICY) as [MetricName, (typeof METRIC_POLICY)[MetricName]][]).map(
    ([name, policy]) => {
      const series = policy.scope === "shop" ? shops : 1;
      let hours: number;
      if (policy.emission === "always") hours = 1;
      else if (policy.emission === "detailed") hours = inputs.assumptions.detailedMetrics ? 1 : 0;
      else hours = hoursWithData(inputs.positiveShare[name] ?? 0, ticksPerHour);
      return { name, months: series * hours };
    },
  );
}

export function monthlyCost(inputs: CostModelInputs, shops: number): CostLine[] {
  const { perTick, template, assumptions: a } = inputs;
  const p = OPERATIONS_PRICES;
  const ticks = ticksPerMonth(template.scheduleMinutes);
  const per = (key: keyof TickCounts) => perTick.fixed[key] + perTick.perShop[key] * shops;
  const lines: CostLine[] = [];
  const add = (line: CostLine) => lines.push(line);

  // Lambda: one tick invocation per schedule, whatever the number of shops.
  const waves = Math.ceil(shops / template.shopConcurrency);
  const tickMs =
    waves * (inputs.tickMsPerWave + perTick.perShop.tiktokCalls * a.tiktokLatencyMs) +
    a.coldStartsPerTick * a.initMs;
  add({
    service: "Lambda",
    item: "tick requests",
    quantity: ticks,
    unit: "requests",
    monthly: ticks * PRICES.lambdaRequest,
    basis: "template",
    freeTier: "lambdaRequests",
  });
  const gbSeconds = ticks * (tickMs / 1000) * template.tickMemoryGb;
  add({
    service: "Lambda",
    item: `tick compute (${Math.round(tickMs)} ms billed per tick at ${template.tickMemoryGb * 1024} MB, init included)`,
    quantity: gbSeconds,
    unit: "GB-s",
    monthly: gbSeconds * PRICES.lambdaArmGbSecond,
    basis: "modeled",
    freeTier: "lambdaGbSeconds",
  });

  const readUnits = ticks * per("dynamodbReadUnits");
  const writeUnits = ticks * per("dynamodbWriteUnits");
  add({
    service: "DynamoDB",
    item: "read request units",
    quantity: readUnits,
    unit: "RRU",
    monthly: readUnits * PRICES.dynamodbReadRequestUnit,
    basis: "measured",
  });
  add({
    service: "DynamoDB",
    item: "write request units",
    quantity: writeUnits,
    unit: "WRU",
    monthly: writeUnits * PRICES.dynamodbWriteRequestUnit,
    basis: "measured",
  });

  const sqsTick = ticks * per("sqsRequests");
  add({
    service: "SQS",
    item: "requests made by ticks",
    quantity: sqsTick,
    unit: "requests",
    monthly: sqsTick * PRICES.sqsRequest,
    basis: "measured",
    freeTier: "sqsRequests",
  });
  const polls = a.eventSourcePollers * a.pollsPerPollerPerMinute * 60 * HOURS_PER_MONTH;
  add({
    service: "SQS",
    item: "worker event source long-polling the idle work queue",
    quantity: polls,
    unit: "requests",
    monthly: polls * PRICES.sqsRequest,
    basis: "modeled",
    freeTier: "sqsRequests",
  });

  const events = ticks * (per("logEvents") + a.platformLogEvents);
  const bytes =
    ticks * (per("logBytes") + a.platformLogBytes) + events * OPERATIONS_PRICES.logEventOverheadBytes;
  add({
    service: "CloudWatch Logs",
    item: `ingestion (${Math.round(events / ticks)} events per tick, EMF and Lambda's own lines included)`,
    quantity: bytes / GB,
    unit: "GB",
    monthly: (bytes / GB) * p.logsIngestedGb,
    basis: "measured",
    freeTier: "logsIngestedGb",
  });
  // Steady state keeps `retention` worth of logs; "never expire" (9999) is shown after a year.
  const keptMonths =
    template.logRetentionDays >= 9999 ? 12 : template.logRetentionDays / (HOURS_PER_MONTH / 24);
  const storedGbMonths = (bytes / GB) * keptMonths;
  add({
    service: "CloudWatch Logs",
    item: `storage (${template.logRetentionDays >= 9999 ? "kept forever, after a year" : `${template.logRetentionDays}-day retention`})`,
    quantity: storedGbMonths,
    unit: "GB-month",
    monthly: storedGbMonths * p.logsStoredGbMonth,
    basis: "measured",
  });

  const metrics = metricMonths(inputs, shops);
  const months = metrics.reduce((total, metric) => total + metric.months, 0);
  add({
    service: "CloudWatch",
    item: `custom metrics (${metrics
      .filter((m) => m.months > 0)
      .map((m) => `${m.name} ${formatCount(m.months)}`)
      .join(", ")})`,
    quantity: months,
    unit: "metric-months",
    monthly: months * p.customMetricMonth,
    basis: "policy",
    freeTier: "customMetrics",
  });

  const ticksPerHour = 60 / template.scheduleMinutes;
  const alarmMetrics = template.alarms.reduce((total, alarm) => {
    if (!alarm.insightsMetric) return total + alarm.metrics;
    const policy = METRIC_POLICY[alarm.insightsMetric];
    const hours =
      policy.emission === "always"
        ? 1
        : hoursWithData(inputs.positiveShare[alarm.insightsMetric] ?? 0, ticksPerHour);
    return total + shops * hours;
  }, 0);
  add({
    service: "CloudWatch",
    item: `alarms (${template.alarms.length}; Metrics Insights alarms bill each shop metric they analyze)`,
    quantity: alarmMetrics,
    unit: "alarm metric-months",
    monthly: alarmMetrics * p.alarmMetricMonth,
    basis: "template",
    freeTier: "alarmMetrics",
  });
  add({
    service: "CloudWatch",
    item: "dashboard (free if the account has at most 3)",
    quantity: template.dashboards,
    unit: "dashboards",
    monthly: template.dashboards * p.dashboardMonth,
    basis: "template",
    freeTier: "dashboards",
  });

  const traces = ticks * a.tracesPerTick;
  add({
    service: "X-Ray",
    item: "traces recorded (tick)",
    quantity: traces,
    unit: "traces",
    monthly: traces * p.xrayTrace,
    basis: "modeled",
    freeTier: "xrayTraces",
  });

  add({
    service: "Secrets Manager",
    item: "secret",
    quantity: template.secrets,
    unit: "secrets",
    monthly: template.secrets * p.secretMonth,
    basis: "template",
  });
  const secretCalls = ticks * a.secretFetchesPerTick;
  add({
    service: "Secrets Manager",
    item: "GetSecretValue (cached 5 minutes by the function)",
    quantity: secretCalls,
    unit: "calls",
    monthly: secretCalls * p.secretsApiCall,
    basis: "modeled",
  });
  add({
    service: "KMS",
    item: "decrypts of the secret (AWS-managed key)",
    quantity: secretCalls,
    unit: "requests",
    monthly: secretCalls * p.kmsRequest,
    basis: "modeled",
    freeTier: "kmsRequests",
  });
  add({
    service: "EventBridge Scheduler",
    item: "tick invocations",
    quantity: ticks,
    unit: "invocations",
    monthly: ticks * p.schedulerInvocation,
    basis: "template",
    freeTier: "schedulerInvocations",
  });

  // Storage: what the orders kept cost, whatever the ticks do.
  const itemBytes = a.bytesPerOrder + p.dynamodbItemOverheadBytes;
  const indexEntryBytes =
    (template.orderIndexesProjectAll ? a.bytesPerOrder : a.summaryIndexEntryBytes) +
    p.dynamodbItemOverheadBytes;
  const tableGb = (shops * a.ordersPerShop * itemBytes) / GB;
  const indexGb = (shops * a.ordersPerShop * template.orderIndexes * indexEntryBytes) / GB;
  add({
    service: "DynamoDB",
    item: `orders table storage (${formatCount(a.ordersPerShop)} orders per shop)`,
    quantity: tableGb,
    unit: "GB-month",
    monthly: tableGb * p.dynamodbStorageGbMonth,
    basis: "assumed",
    freeTier: "dynamodbStorageGb",
    storage: true,
  });
  add({
    service: "DynamoDB",
    item: `${template.orderIndexes} index(es) storage (${template.orderIndexesProjectAll ? "ALL projection: a full copy each" : "keys plus the order summary"})`,
    quantity: indexGb,
    unit: "GB-month",
    monthly: indexGb * p.dynamodbStorageGbMonth,
    basis: "assumed",
    freeTier: "dynamodbStorageGb",
    storage: true,
  });
  add({
    service: "DynamoDB",
    item: "point-in-time recovery (table size)",
    quantity: tableGb,
    unit: "GB-month",
    monthly: tableGb * p.dynamodbPitrGbMonth,
    basis: "assumed",
    storage: true,
  });
  return lines;
}

/**
 * The categories issue 15's "≤ $1 per shop per month" counts: Lambda, DynamoDB requests, SQS, logs and
 * custom metrics. Storage grows with the shop's history, and the dashboard, alarms, secret and traces
 * are per deployment: both are reported beside it, never hidden.
 */
export function isSyncCost(line: CostLine): boolean {
  if (line.storage) return false;
  if (["Lambda", "DynamoDB", "SQS", "CloudWatch Logs"].includes(line.service)) return true;
  return line.service === "CloudWatch" && line.item.startsWith("custom metrics");
}

export interface CostSummary {
  readonly shops: number;
  /** Lambda, DynamoDB requests, SQS, logs and custom metrics (isSyncCost), per shop. */
  readonly syncPerShop: number;
  readonly operations: number;
  readonly storage: number;
  readonly operationsPerShop: number;
  readonly totalPerShop: number;
  /** Operations and storage after the always-free tier, per shop. */
  readonly freeTierPerShop: number;
}

export function summarize(lines: readonly CostLine[], shops: number): CostSummary {
  const operations = lines.filter((line) => !line.storage).reduce((total, line) => total + line.monthly, 0);
  const storage = lines.filter((line) => line.storage).reduce((total, line) => total + line.monthly, 0);
  const sync = lines.filter(isSyncCost).reduce((total, line) => total + line.monthly, 0);
  return {
    shops,
    syncPerShop: sync / shops,
    operations,
    storage,
    operationsPerShop: operations / shops,
    totalPerShop: (operations + storage) / shops,
    freeTierPerShop: withFreeTier(lines) / shops,
  };
}

function formatCount(value: number): string {
  return Number.isInteger(value) ? value.toLocaleString("en-US") : value.toFixed(2);
}
