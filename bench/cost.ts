/**
 * `npm run cost`: the steady-state monthly AWS cost per shop at the deployed tick interval, from
 * counted requests and bytes of real ticks (not in `npm test`; about half a minute).
 *
 * 1. Synthesizes the stack from deploy.config.json (bundling skipped) and reads what is billed per
 *    month from the template: alarms and the metrics each evaluates, dashboards, secrets, the orders
 *    table's index projections, the tick's memory, schedule and log retention.
 * 2. Starts DynamoDB Local, the SQS emulator and the TikTok emulator, and runs the product's real tick
 *    (`runTick` on a `Runtime` with the Powertools log and EMF adapters of the Lambda functions, and
 *    the functions' own settings) for a deployment of 1 shop and one of 4 shops. Each shop is synced
 *    up first; then every measured tick follows 5 emulated minutes with a few new and changed orders
 *    per shop. DynamoDB read/write units (DynamoDB Local's own capacity accounting), SQS requests and
 *    every byte and line the code writes to stdout (the function's log events, EMF included) are
 *    counted per tick.
 * 3. Splits the counts into a per-deployment and a per-shop part, and prices 1, 10 and 100 shops
 *    (bench/cost-model.ts), writing docs/cost.md.
 *
 *   npm run cost [-- --ticks 6 --new-orders 1 --updated-orders 3 --orders-per-shop 283300 --out docs/cost.md]
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Template } from "aws-cdk-lib/assertions";
import { createApp } from "../infra/app";
import { toStackProps } from "../infra/deploy-config";
import { startLocalAws } from "../infra/local/emulators";
import { createQueues, createTables, emulatorEnv, localResourceEnv } from "../infra/local/provision";
import { startTikTokEmulator, type TikTokEmulator } from "../infra/local/tiktok-emulator";
import { functionEnvironment } from "../infra/stack";
import { Runtime } from "../shared/app/runtime";
import { runTick } from "../shared/app/tick";
import { createDynamoDbClient, createSqsClient } from "../shared/aws-clients";
import type { Clock } from "../shared/clock";
import { parseConfig } from "../shared/config";
import {
  METRIC_DIMENSION,
  METRIC_NAMESPACE,
  METRIC_POLICY,
  MetricName,
} from "../shared/observability/metric-names";
import { createPowertools } from "../shared/observability/powertools";
import { parseCli } from "./cli";
import {
  type AlarmInventory,
  type CostAssumptions,
  type CostModelInputs,
  fitPerShop,
  monthlyCost,
  OPERATIONS_PRICES,
  summarize,
  type TemplateInventory,
  type TickCounts,
} from "./cost-model";
import { type DynamoCounts, diffDynamoCounts, meterDynamoDb, meterSqs, sumRecord } from "./instrument";
import { LAMBDA_MEMORY_GB, PRICES } from "./prices";

const ROOT = path.resolve(__dirname, "..");

// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation is untyped JSON.
type CfnJson = any;

// ---------------------------------------------------------------------------------------------
// 1. What the template bills per month.

function templateInventory(): { inventory: TemplateInventory; env: Record<string, string> } {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(ROOT, "cdk.json"), "utf8"));
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "tss-cost-"));
  try {
    const { stack, settings } = createApp({
      context: { ...cdkJson.context, "aws:cdk:bundling-stacks": [] },
      outdir,
    });
    const template = Template.fromStack(stack).toJSON() as { Resources: Record<string, CfnJson> };
    const all = Object.entries(template.Resources);
    const ofType = (type: string) => all.filter(([, resource]) => resource.Type === type);
    const alarms: AlarmInventory[] = ofType("AWS::CloudWatch::Alarm").map(([id, alarm]) => {
      const properties = alarm.Properties;
      const queries = (properties.Metrics ?? []) as CfnJson[];
      const insights = queries
        .map((query) => /SELECT \w+\((\w+)\) FROM SCHEMA/.exec(query.Expression ?? "")?.[1])
        .find((name) => name !== undefined);
      if (insights)
        return { name: properties.AlarmName ?? id, metrics: 0, insightsMetric: insights as MetricName };
      const inputs = queries.filter((query) => query.MetricStat).length;
      return { name: properties.AlarmName ?? id, metrics: queries.length > 0 ? inputs : 1 };
    });
    const orders = ofType("AWS::DynamoDB::Table").find(([id]) => id.startsWith("OrdersTable"))?.[1];
    const indexes = (orders?.Properties.GlobalSecondaryIndexes ?? []) as CfnJson[];
    const tick = ofType("AWS::Lambda::Function").find(([id]) => id.startsWith("TickFunction"))?.[1];
    const tickLogGroupId = tick?.Properties.LoggingConfig?.LogGroup?.Ref as string;
    const tickEnv = tick?.Properties.Environment.Variables as Record<string, unknown>;
    const inventory: TemplateInventory = {
      alarms,
      dashboards: ofType("AWS::CloudWatch::Dashboard").length,
      secrets: ofType("AWS::SecretsManager::Secret").length,
      orderIndexes: indexes.length,
      orderIndexesProjectAll: indexes.some((index) => index.Projection?.ProjectionType === "ALL"),
      tickMemoryGb: (tick?.Properties.MemorySize ?? 128) / 1024,
      scheduleMinutes: settings.scheduleMinutes,
      shopConcurrency: Number(
        tickEnv.SHOP_CONCURRENCY ?? parseConfig({ TIKTOK_SECRET_ARN: "x" }).SHOP_CONCURRENCY,
      ),
      logRetentionDays: template.Resources[tickLogGroupId]?.Properties.RetentionInDays ?? 9999,
    };
    if (inventory.tickMemoryGb !== LAMBDA_MEMORY_GB.tick) {
      process.stderr.write(
        `note: the tick has ${inventory.tickMemoryGb} GB; bench/prices.ts says ${LAMBDA_MEMORY_GB.tick}\n`,
      );
    }
    return { inventory, env: functionEnvironment(toStackProps(settings)) };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Real ticks, counted.

/** Moves with the emulator's clock (the emulator stamps orders with its own time). */
class EmulatedClock implements Clock {
  private offsetMs = 0;
  nowMs(): number {
    return Date.now() + this.offsetMs;
  }
  advanceSeconds(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }
}

interface EmfPoint {
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly value: number;
}

interface MeasuredTick {
  readonly counts: TickCounts;
  readonly wallMs: number;
  readonly emf: readonly EmfPoint[];
  readonly logLines: readonly string[];
  readonly dynamodb: DynamoCounts;
  readonly statuses: readonly string[];
}

/** Everything written to stdout while `run` runs: the Lambda function's log events, one per line. */
async function capturingStdout<T>(run: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const original = process.stdout.write.bind(process.stdout);
  let text = "";
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    const callback = rest.find((arg) => typeof arg === "function") as (() => void) | undefined;
    if (callback) queueMicrotask(callback);
    return true;
  }) as typeof process.stdout.write;
  try {
    const result = await run();
    return { result, lines: text.split("\n").filter((line) => line.trim() !== "") };
  } finally {
    process.stdout.write = original;
  }
}

function emfPoints(lines: readonly string[]): EmfPoint[] {
  const points: EmfPoint[] = [];
  for (const line of lines) {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch {
      continue;
    }
    const aws = record._aws as
      | { CloudWatchMetrics?: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] }
      | undefined;
    for (const directive of aws?.CloudWatchMetrics ?? []) {
      if (directive.Namespace !== METRIC_NAMESPACE) continue;
      const dimensionSets = directive.Dimensions.length > 0 ? directive.Dimensions : [[]];
      for (const dimensionSet of dimensionSets) {
        const dimensions = Object.fromEntries(dimensionSet.map((key) => [key, String(record[key])]));
        for (const metric of directive.Metrics) {
          const raw = record[metric.Name];
          const values = Array.isArray(raw) ? raw : [raw];
          for (const value of values) points.push({ name: metric.Name, dimensions, value: Number(value) });
        }
      }
    }
  }
  return points;
}

interface Deployment {
  readonly shops: readonly { id: string; cipher: string }[];
  readonly runtime: Runtime;
  /** Publishes the metrics recorded since the last call (the handler's end of invocation). */
  flushMetrics(): void;
  readonly dynamoCounts: DynamoCounts;
  readonly sqsCounts: Record<string, number>;
  close(): void;
}

async function deploy(
  label: string,
  shops: Deployment["shops"],
  endpoints: { dynamodb: string; sqs: string },
  emulator: TikTokEmulator,
  functionEnv: Record<string, string>,
  clock: EmulatedClock,
): Promise<Deployment> {
  const dynamodb = createDynamoDbClient({ dynamodbEndpoint: endpoints.dynamodb });
  const sqs = createSqsClient({ sqsEndpoint: endpoints.sqs });
  const namespace = `cost-${label}-${Date.now().toString(36)}`;
  const tables = await createTables(dynamodb, namespace);
  const queues = await createQueues(sqs, namespace);
  const dynamoCounts = meterDynamoDb(dynamodb, () => tables.ordersTable);
  const sqsCounts = meterSqs(sqs);
  // The emulator's shops replace the configured ones (a deployment's own shop list is not reachable here).
  const { TIKTOK_SHOP_ID, TIKTOK_SHOP_CIPHER, TIKTOK_SHOPS, TIKTOK_AUTHORIZATIONS, ...settings } =
    functionEnv;
  const config = parseConfig({
    ...settings,
    // On AWS the app key and secret come from the secret; the tick's work does not depend on where.
    ...emulatorEnv(emulator),
    TIKTOK_SHOPS: shops.map((shop) => `${shop.id}:${shop.cipher}`).join(","),
    ...localResourceEnv(
      { ...tables, ...queues, webhookQueueUrl: undefined },
      { dynamodbEndpoint: endpoints.dynamodb, sqsEndpoint: endpoints.sqs },
    ),
  });
  const powertools = createPowertools("tiktok-shop-sync-tick");
  const tokens = emulator.issueTokens();
  const runtime = new Runtime(config, {
    clock,
    dynamodb,
    sqs,
    metrics: powertools.metricsPort,
    log: powertools.logPort,
    credentials: {
      appKey: emulator.appKey,
      appSecret: emulator.appSecret,
      initialTokens: { accessToken: tokens.access_token, refreshToken: tokens.refresh_token },
    },
  });
  // Synced up to the beginning of time: the first tick reads each shop's whole (small) history.
  for (const shop of shops) await runtime.state.setCursorIfMissing(shop.id, 0);
  return {
    shops,
    runtime,
    flushMetrics: () => powertools.metricsPort.flush(),
    dynamoCounts,
    sqsCounts,
    close: () => {
      runtime.destroy();
      dynamodb.destroy();
      sqs.destroy();
    },
  };
}

async function measureTick(deployment: Deployment): Promise<MeasuredTick> {
  const dynamoBefore = structuredClone(deployment.dynamoCounts);
  const sqsBefore = sumRecord(deployment.sqsCounts);
  const callsBefore = deployment.runtime.apiCalls.snapshot();
  const started = performance.now();
  // As the handler's middleware does: the invocation's metrics are flushed once, at its end.
  const { result, lines } = await capturingStdout(async () => {
    const shops = await runTick(deployment.runtime);
    deployment.flushMetrics();
    return shops;
  });
  const wallMs = performance.now() - started;
  const dynamodb = diffDynamoCounts(deployment.dynamoCounts, dynamoBefore);
  const failed = result.filter((shop) => shop.error);
  if (failed.length > 0)
    throw new Error(`tick failed: ${failed.map((shop) => shop.error?.message).join("; ")}`);
  return {
    counts: {
      dynamodbReadUnits: dynamodb.readUnits,
      dynamodbWriteUnits: dynamodb.writeUnits,
      sqsRequests: sumRecord(deployment.sqsCounts) - sqsBefore,
      logEvents: lines.length,
      logBytes: lines.reduce((total, line) => total + Buffer.byteLength(line), 0),
      tiktokCalls: deployment.runtime.apiCalls.since(callsBefore).calls,
    },
    wallMs,
    emf: emfPoints(lines),
    logLines: lines,
    dynamodb,
    statuses: result.map((shop) => (shop.needsReauth ? "needs-reauth" : (shop.outcome?.status ?? "none"))),
  };
}

function average(ticks: readonly MeasuredTick[]): TickCounts {
  const mean = (pick: (counts: TickCounts) => number) =>
    ticks.reduce((total, tick) => total + pick(tick.counts), 0) / ticks.length;
  return {
    dynamodbReadUnits: mean((c) => c.dynamodbReadUnits),
    dynamodbWriteUnits: mean((c) => c.dynamodbWriteUnits),
    sqsRequests: mean((c) => c.sqsRequests),
    logEvents: mean((c) => c.logEvents),
    logBytes: mean((c) => c.logBytes),
    tiktokCalls: mean((c) => c.tiktokCalls),
  };
}

interface Workload {
  readonly ticks: number;
  readonly newOrders: number;
  readonly updatedOrders: number;
}

async function steadyTicks(
  deployment: Deployment,
  emulator: TikTokEmulator,
  clock: EmulatedClock,
  workload: Workload,
  scheduleMinutes: number,
): Promise<{ warmUp: MeasuredTick; measured: MeasuredTick[] }> {
  const warmUp = await measureTick(deployment);
  const measured: MeasuredTick[] = [];
  // Two unmeasured ticks first: the overlap re-reads the previous window, as it does from then on.
  for (let tick = 0; tick < workload.ticks + 2; tick += 1) {
    for (const shop of deployment.shops) {
      if (workload.newOrders > 0) emulator.createOrders({ count: workload.newOrders, shopId: shop.id });
      if (workload.updatedOrders > 0) emulator.mutate({ count: workload.updatedOrders, shopId: shop.id });
    }
    emulator.advance(scheduleMinutes * 60);
    clock.advanceSeconds(scheduleMinutes * 60);
    const result = await measureTick(deployment);
    if (result.statuses.some((status) => status !== "completed")) {
      throw new Error(`a steady-state tick did not complete: ${result.statuses.join(", ")}`);
    }
    if (tick >= 2) measured.push(result);
  }
  return { warmUp, measured };
}

/** Share of measured ticks (per shop for per-shop metrics) in which each metric was above 0. */
function positiveShares(ticks: readonly MeasuredTick[], shops: number): Partial<Record<MetricName, number>> {
  const shares: Partial<Record<MetricName, number>> = {};
  for (const [name, policy] of Object.entries(METRIC_POLICY) as [MetricName, { scope: string }][]) {
    let positive = 0;
    for (const tick of ticks) {
      const points = tick.emf.filter((point) => point.name === name && point.value > 0);
      positive +=
        policy.scope === "shop"
          ? new Set(points.map((point) => point.dimensions[METRIC_DIMENSION] ?? "")).size
          : points.length > 0
            ? 1
            : 0;
    }
    shares[name] = positive / (ticks.length * (policy.scope === "shop" ? shops : 1));
  }
  return shares;
}

/** Where the emitted metrics differ from the policy (dimension sets, zero values, unexpected names). */
function policyDifferences(ticks: readonly MeasuredTick[], detailedMetrics: boolean): string[] {
  const differences = new Set<string>();
  for (const point of ticks.flatMap((tick) => tick.emf)) {
    const policy = METRIC_POLICY[point.name as MetricName];
    if (!policy) {
      differences.add(`${point.name}: not in the policy`);
      continue;
    }
    const keys = Object.keys(point.dimensions).sort().join(",");
    const expected = policy.scope === "shop" ? METRIC_DIMENSION : "";
    if (keys !== expected) {
      differences.add(`${point.name}: published with dimensions [${keys}], the policy says [${expected}]`);
    }
    if (policy.emission === "whenPositive" && point.value <= 0) {
      differences.add(
        `${point.name}: published with value ${point.value}, the policy says only when above 0`,
      );
    }
    if (policy.emission === "detailed" && !detailedMetrics) {
      differences.add(`${point.name}: published although DETAILED_METRICS is off`);
    }
    if (policy.emission === "whileJobRuns") {
      differences.add(`${point.name}: published although no full-resync job runs`);
    }
  }
  // What must be there: every tick publishes each shop's lag (an emitter that never flushed shows here).
  for (const [index, tick] of ticks.entries()) {
    if (!tick.emf.some((point) => point.name === MetricName.SyncLagSeconds)) {
      differences.add(`tick ${index + 1}: no SyncLagSeconds published`);
    }
  }
  return [...differences].sort();
}

// ---------------------------------------------------------------------------------------------
// 3. Report.

const money = (value: number) =>
  value >= 0.01 || value === 0 ? `$${value.toFixed(2)}` : `$${value.toFixed(4)}`;
const amount = (value: number) =>
  value >= 100 ? Math.round(value).toLocaleString("en-US") : value >= 1 ? value.toFixed(1) : value.toFixed(4);

function report(args: {
  inputs: CostModelInputs;
  shopCounts: readonly number[];
  workload: Workload;
  small: { shops: number; ticks: MeasuredTick[] };
  large: { shops: number; ticks: MeasuredTick[] };
  differences: readonly string[];
  sampleLines: readonly string[];
  elapsedMs: number;
}): string {
  const { inputs, shopCounts } = args;
  const a = inputs.assumptions;
  const t = inputs.template;
  const results = shopCounts.map((shops) => ({ shops, lines: monthlyCost(inputs, shops) }));
  const summaries = results.map(({ shops, lines }) => summarize(lines, shops));
  const out: string[] = [];
  const row = (cells: readonly (string | number)[]) => out.push(`| ${cells.join(" | ")} |`);

  out.push("# Steady-state cost");
  out.push("");
  out.push(
    `Written by \`npm run cost\` (bench/cost.ts, arithmetic in bench/cost-model.ts) on ${new Date().toISOString().slice(0, 10)} in ${(args.elapsedMs / 1000).toFixed(0)} s. ` +
      `Prices: AWS on-demand list prices, ${OPERATIONS_PRICES.region}, as of ${OPERATIONS_PRICES.asOf} (bench/prices.ts, bench/cost-model.ts); no free tier counted.`,
  );
  out.push("");
  out.push(
    `Steady state: every shop synced up, a tick every ${t.scheduleMinutes} minutes (${amount((730 * 60) / t.scheduleMinutes)} a month), ` +
      `each finding ${args.workload.newOrders} new and ${args.workload.updatedOrders} changed order(s) per shop, no full resync running. ` +
      "The deployment is the one deploy.config.json synthesizes (settings, alarms, dashboard, index projections).",
  );
  out.push("");
  out.push("## Per shop per month");
  out.push("");
  row([
    "shops",
    "sync per shop (Lambda, DynamoDB requests, SQS, logs, custom metrics)",
    "≤ $1",
    "operations",
    "storage",
    "total",
    "operations per shop",
    "total per shop",
    "total per shop, free tier used",
  ]);
  row(["---:", "---:", ":---:", "---:", "---:", "---:", "---:", "---:", "---:"]);
  for (const s of summaries) {
    row([
      s.shops,
      money(s.syncPerShop),
      s.syncPerShop <= 1 ? "yes" : "no",
      money(s.operations),
      money(s.storage),
      money(s.operations + s.storage),
      money(s.operationsPerShop),
      money(s.totalPerShop),
      money(s.freeTierPerShop),
    ]);
  }
  out.push("");
  out.push(
    "The target of issue 15 counts the sync's own costs (the second column). Operations add what a deployment pays once whatever its shops (dashboard, alarms, secret, traces, the idle work queue's polling); storage grows with each shop's history. List prices, no free tier. The last column subtracts AWS's always-free tier (10 custom metrics, 10 alarms, 3 dashboards, 5 GB of logs, 1 M SQS requests, 25 GB of DynamoDB storage, …; bench/cost-model.ts FREE_TIER): it applies once per account, so only where this deployment is the account's only user of it.",
  );
  out.push("");
  out.push(
    `Storage assumes ${a.ordersPerShop.toLocaleString("en-US")} stored orders per shop of ${Math.round(a.bytesPerOrder).toLocaleString("en-US")} billed bytes each ` +
      `(measured on the emulator's orders)${t.orderIndexesProjectAll ? `; the ${t.orderIndexes} indexes project ALL attributes, so each keeps a full copy of every order (DESIGN "Stored data" asks for keys or a small summary only: that would cut index storage and every order write's index units to a few percent)` : ""}.`,
  );
  out.push("");
  for (const { shops, lines } of results) {
    out.push(`## ${shops} shop${shops === 1 ? "" : "s"}: every line`);
    out.push("");
    row(["service", "item", "quantity", "unit", "per month", "basis"]);
    row(["---", "---", "---:", "---", "---:", "---"]);
    for (const line of lines) {
      row([line.service, line.item, amount(line.quantity), line.unit, money(line.monthly), line.basis]);
    }
    out.push("");
  }

  out.push("## What one tick spent (counted)");
  out.push("");
  const perTick = inputs.perTick;
  row([
    "count",
    `1 shop (mean of ${args.small.ticks.length})`,
    `${args.large.shops} shops (mean of ${args.large.ticks.length})`,
    "per deployment",
    "per shop",
  ]);
  row(["---", "---:", "---:", "---:", "---:"]);
  const smallMean = average(args.small.ticks);
  const largeMean = average(args.large.ticks);
  const labels: Record<keyof TickCounts, string> = {
    dynamodbReadUnits: "DynamoDB read units",
    dynamodbWriteUnits: "DynamoDB write units",
    sqsRequests: "SQS requests",
    logEvents: "log events (lines)",
    logBytes: "log bytes (without CloudWatch's 26 per event)",
    tiktokCalls: "TikTok calls",
  };
  for (const key of Object.keys(labels) as (keyof TickCounts)[]) {
    row([
      labels[key],
      amount(smallMean[key]),
      amount(largeMean[key]),
      amount(perTick.fixed[key]),
      amount(perTick.perShop[key]),
    ]);
  }
  const wall = (ticks: MeasuredTick[]) =>
    ticks.reduce((total, tick) => total + tick.wallMs, 0) / ticks.length;
  row([
    "wall time on the emulators (ms)",
    amount(wall(args.small.ticks)),
    amount(wall(args.large.ticks)),
    "",
    "",
  ]);
  out.push("");
  const requests = (ticks: MeasuredTick[]) => {
    const total: Record<string, number> = {};
    for (const tick of ticks) {
      for (const [operation, count] of Object.entries(tick.dynamodb.requests))
        total[operation] = (total[operation] ?? 0) + count / ticks.length;
    }
    return Object.entries(total)
      .map(([operation, count]) => `${operation} ${amount(count)}`)
      .join(", ");
  };
  out.push(
    `DynamoDB requests per tick, 1 shop: ${requests(args.small.ticks)}; ${args.large.shops} shops: ${requests(args.large.ticks)}.`,
  );
  out.push("");
  out.push("One tick's log lines (1 shop), as CloudWatch receives them:");
  out.push("");
  out.push("```");
  for (const line of args.sampleLines) out.push(line);
  out.push("```");
  out.push("");

  out.push("## Custom metrics (emission policy, shared/observability/metric-names.ts)");
  out.push("");
  row(["metric", "series", "published", "share of ticks above 0 (measured)"]);
  row(["---", "---", "---", "---:"]);
  for (const [name, policy] of Object.entries(METRIC_POLICY)) {
    row([
      name,
      policy.scope === "shop" ? "one per shop (`shopId`)" : "one total (no dimension)",
      policy.emission,
      (inputs.positiveShare[name as MetricName] ?? 0).toFixed(2),
    ]);
  }
  out.push("");
  if (args.differences.length > 0) {
    out.push(
      "**The emitted metrics differ from the policy** (the emitter of this checkout does not follow it yet; the cost above uses the policy, the log bytes are what this emitter wrote):",
    );
    out.push("");
    for (const difference of args.differences) out.push(`- ${difference}`);
  } else {
    out.push("The metrics the ticks emitted match the policy (names, dimension sets, zero values left out).");
  }
  out.push("");

  out.push("## Modeled, not counted");
  out.push("");
  out.push(
    `- Lambda init: ${a.coldStartsPerTick} cold start per tick of ${a.initMs} ms (billed since August 2025; a warm container makes it 0).`,
  );
  out.push(
    `- TikTok answers in ${a.tiktokLatencyMs} ms per call (the emulator in about 1 ms); the tick's other time is the wall time measured on DynamoDB Local.`,
  );
  out.push(
    `- Lambda's own log lines: ${a.platformLogEvents} per invocation, ${a.platformLogBytes} bytes (START, END, REPORT with the X-Ray line).`,
  );
  out.push(
    `- The worker's SQS event source long-polls the idle work queue: ${a.eventSourcePollers} pollers × ${a.pollsPerPollerPerMinute} receives a minute (the poller count is AWS-internal).`,
  );
  out.push(
    `- ${a.secretFetchesPerTick} GetSecretValue (and its KMS decrypt) per tick: the cache lives 5 minutes, the tick interval is ${t.scheduleMinutes}.`,
  );
  out.push(
    `- ${a.tracesPerTick} X-Ray trace per tick (the default sampling rule records the first request each second).`,
  );
  out.push(
    "- Not counted: the free tier; API Gateway and the worker (no requests or jobs in steady state); SNS deliveries; Logs Insights queries (billed per GB scanned when the dashboard is viewed); token refreshes (weekly).",
  );
  out.push("");
  return `${out.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------

const USAGE = `npm run cost -- [options]
  --ticks N            measured ticks per deployment (default 6)
  --new-orders N       new orders per shop before each tick (default 1)
  --updated-orders N   changed orders per shop before each tick (default 3)
  --large-shops N      shops of the larger deployment (default 4)
  --orders-per-shop N  stored orders per shop, for storage (default 283300)
  --out FILE           the docs page written (default docs/cost.md)
  --help               this text`;

async function main(): Promise<void> {
  const started = performance.now();
  const { values } = parseCli(
    {
      options: {
        ticks: { type: "string", default: "6" },
        "new-orders": { type: "string", default: "1" },
        "updated-orders": { type: "string", default: "3" },
        "large-shops": { type: "string", default: "4" },
        "orders-per-shop": { type: "string", default: "283300" },
        out: { type: "string", default: path.join(ROOT, "docs", "cost.md") },
        help: { type: "boolean", default: false },
      },
    },
    USAGE,
  );
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const workload: Workload = {
    ticks: Number(values.ticks),
    newOrders: Number(values["new-orders"]),
    updatedOrders: Number(values["updated-orders"]),
  };
  const largeShops = Number(values["large-shops"]);
  // As on Lambda: JSON logs at INFO, EMF on, no pretty-printing, a trace id in every log line.
  for (const name of ["POWERTOOLS_DEV", "POWERTOOLS_METRICS_DISABLED"]) delete process.env[name];
  process.env.LOG_LEVEL = "INFO";
  delete process.env.DETAILED_METRICS;
  process.env._X_AMZN_TRACE_ID = "Root=1-6756d8a0-3f1c2b4d5e6f708192a3b4c5;Parent=9a8b7c6d5e4f3a2b;Sampled=1";

  const say = (text: string) => process.stderr.write(`[cost] ${text}\n`);
  // First: the synth blocks the event loop the emulators' readiness checks would run on.
  say("synthesizing the stack from deploy.config.json …");
  const { inventory, env } = templateInventory();
  if (env.DETAILED_METRICS) process.env.DETAILED_METRICS = env.DETAILED_METRICS;
  say("starting DynamoDB Local, the SQS emulator and the TikTok emulator …");
  const aws = await startLocalAws();
  let emulator: TikTokEmulator | undefined;
  try {
    emulator = await startTikTokEmulator({
      seed: 15,
      shops: Array.from({ length: largeShops }, (_, index) => ({
        id: `74951000000000000${String(index + 1).padStart(2, "0")}`,
        orders: 300,
      })),
      log: () => {},
      timestampReference: "emulator",
    });
    const shops = emulator.shops().map((shop) => ({ id: shop.id, cipher: shop.cipher }));
    const endpoints = { dynamodb: aws.dynamodb.endpoint, sqs: aws.sqs.endpoint };
    const clock = new EmulatedClock();
    say("1 shop: syncing up, then steady ticks …");
    const one = await deploy("one", shops.slice(0, 1), endpoints, emulator, env, clock);
    const small = await steadyTicks(one, emulator, clock, workload, inventory.scheduleMinutes);
    one.close();
    say(`${largeShops} shops: syncing up, then steady ticks …`);
    const many = await deploy("many", shops, endpoints, emulator, env, clock);
    const large = await steadyTicks(many, emulator, clock, workload, inventory.scheduleMinutes);
    many.close();

    const warm = small.warmUp.dynamodb;
    const bytesPerOrder =
      warm.orderPuts > 0
        ? warm.orderItemBytes / warm.orderPuts
        : warm.orderItemBytes / Math.max(1, warm.orderBatchWrites);
    const assumptions: CostAssumptions = {
      coldStartsPerTick: 1,
      initMs: 1000,
      tiktokLatencyMs: 300,
      platformLogEvents: 3,
      platformLogBytes: platformLogBytes(inventory.tickMemoryGb),
      eventSourcePollers: 5,
      pollsPerPollerPerMinute: 3,
      secretFetchesPerTick: inventory.scheduleMinutes >= 5 ? 1 : inventory.scheduleMinutes / 5,
      tracesPerTick: 1,
      ordersPerShop: Number(values["orders-per-shop"]),
      bytesPerOrder,
      // Keys (shopId, orderId, the sort key) plus status, totalAmount, currency and lineCount.
      summaryIndexEntryBytes: 100,
      detailedMetrics: env.DETAILED_METRICS === "true",
    };
    const inputs: CostModelInputs = {
      perTick: fitPerShop(
        { shops: 1, counts: average(small.measured) },
        { shops: largeShops, counts: average(large.measured) },
      ),
      tickMsPerWave: small.measured.reduce((total, tick) => total + tick.wallMs, 0) / small.measured.length,
      positiveShare: positiveShares([...small.measured], 1),
      template: inventory,
      assumptions,
    };
    const markdown = report({
      inputs,
      shopCounts: [1, 10, 100],
      workload,
      small: { shops: 1, ticks: small.measured },
      large: { shops: largeShops, ticks: large.measured },
      differences: policyDifferences([...small.measured, ...large.measured], assumptions.detailedMetrics),
      sampleLines: small.measured[0]?.logLines ?? [],
      elapsedMs: performance.now() - started,
    });
    fs.mkdirSync(path.dirname(values.out), { recursive: true });
    fs.writeFileSync(values.out, markdown);
    for (const shopsCount of [1, 10, 100]) {
      const s = summarize(monthlyCost(inputs, shopsCount), shopsCount);
      say(
        `${shopsCount} shop(s): sync ${money(s.syncPerShop)} per shop; all in ${money(s.operations + s.storage)} a month, ${money(s.totalPerShop)} per shop (operations ${money(s.operationsPerShop)})`,
      );
    }
    say(
      `wrote ${path.relative(process.cwd(), values.out)} in ${((performance.now() - started) / 1000).toFixed(0)} s (prices as of ${PRICES.asOf})`,
    );
  } finally {
    await emulator?.stop();
    await aws.stop();
  }
}

/** Lambda's START, END and REPORT lines (with the X-Ray line) of one invocation, as it writes them. */
function platformLogBytes(memoryGb: number): number {
  const id = "8f507cfc-4f4d-4b4c-9e0d-2c1b0a9f8e7d";
  const lines = [
    `START RequestId: ${id} Version: $LATEST`,
    `END RequestId: ${id}`,
    `REPORT RequestId: ${id}\tDuration: 412.38 ms\tBilled Duration: 413 ms\tMemory Size: ${memoryGb * 1024} MB\tMax Memory Used: 121 MB\tInit Duration: 987.65 ms\t\nXRAY TraceId: 1-6756d8a0-3f1c2b4d5e6f708192a3b4c5\tSegmentId: 9a8b7c6d5e4f3a2b\tSampled: true\t`,
  ];
  return lines.reduce((total, line) => total + Buffer.byteLength(line), 0);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `[cost] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
