/**
 * 1. The baseline: one sequential loop, page by page, create_time DESC, writing as it goes (sampled
 * and extrapolated linearly unless --baseline-pages covers the whole history), into tables of its own
 * that are dropped afterwards. Runs before the sync process exists, so nothing else loads the machine.
 */
import { createTables } from "../../infra/local/provision";
import { createDocumentClient, createDynamoDbClient } from "../../shared/aws-clients";
import { systemClock } from "../../shared/clock";
import { createTikTokClient } from "../../shared/tiktok/client";
import { AdaptiveRateLimiter } from "../../shared/tiktok/rate-limiter";
import { runBaseline } from "../baseline";
import { say } from "../cli";
import { ACCESS_TOKEN, APP_KEY, APP_SECRET, SHOP_ID } from "../fixtures";
import { diffDynamoCounts, meterDynamoDb } from "../instrument";
import { fmtInt, fmtMs } from "../report";
import type { BenchContext } from "../rig";
import { dropTables } from "../store-floor";
import { checkBaselineTable } from "../verify";
import { apiCallsSince, cpuMark, cpuWindow, describeCheck } from "./measure";
import type { Scenario, ScenarioResult } from "./scenario";

async function run(context: BenchContext): Promise<ScenarioResult> {
  const { settings, aws, emulator, dynamodb, documents } = context;
  const baselineDynamo = createDynamoDbClient({ dynamodbEndpoint: aws.dynamodb.endpoint });
  const tables = await createTables(baselineDynamo, "bench-baseline");
  const counts = meterDynamoDb(baselineDynamo, () => tables.ordersTable);
  const client = createTikTokClient({
    baseUrl: emulator.baseUrl,
    appKey: APP_KEY,
    appSecret: APP_SECRET,
    tokens: { getAccessToken: async () => ACCESS_TOKEN, refreshAfterRejection: async () => ACCESS_TOKEN },
    rateLimiter: new AdaptiveRateLimiter({ maxRps: settings.qps, clock: systemClock }),
    clock: systemClock,
  });
  const apiBefore = emulator.counters();
  const dynamoBefore = structuredClone(counts);
  const cpuBefore = cpuMark(aws, undefined);
  const result = await runBaseline({
    tiktok: client,
    shop: { shopId: SHOP_ID, shopCipher: context.shopCipher },
    documents: createDocumentClient(baselineDynamo),
    tableName: tables.ordersTable,
    totalOrders: settings.orders,
    maxPages: settings.baselinePages,
  });
  const cpu = cpuWindow(cpuBefore, cpuMark(aws, undefined));
  const calls = apiCallsSince(emulator, apiBefore);
  const spent = diffDynamoCounts(counts, dynamoBefore);
  const check = await checkBaselineTable({
    emulator,
    documents,
    tableName: tables.ordersTable,
    shopId: SHOP_ID,
    expectedCount: Math.min(settings.orders, result.pagesRun * 100),
  });
  await dropTables(dynamodb, [tables.ordersTable, tables.stateTable]);
  baselineDynamo.destroy();
  // Scale what the sample spent to every page.
  const scale = result.pagesTotal / result.pagesRun;
  const scaled = {
    ...spent,
    requests: Object.fromEntries(Object.entries(spent.requests).map(([k, v]) => [k, v * scale])),
    readUnits: spent.readUnits * scale,
    writeUnits: spent.writeUnits * scale,
    orderWriteUnits: spent.orderWriteUnits * scale,
    orderBatchWrites: spent.orderBatchWrites * scale,
    orderItemBytes: spent.orderItemBytes * scale,
    busyMs: spent.busyMs * scale,
  };
  say(
    `   ${result.pagesRun} pages in ${fmtMs(result.measuredMs)} ` +
      `(${Math.round(result.fetchMsPerPage)} ms fetch + ` +
      `${Math.round(result.writeMsPerPage)} ms write per page)` +
      (result.extrapolated
        ? ` → ${fmtMs(result.extrapolatedMs)} for ${fmtInt(result.pagesTotal)} pages`
        : ""),
  );
  say(describeCheck("baseline", check));
  return {
    measurement: {
      key: "baseline",
      label: "1 baseline (sequential)",
      scopeOrders: settings.orders,
      wallMs: result.extrapolatedMs,
      ...(result.extrapolated
        ? { wallNote: `extrapolated from ${result.pagesRun} of ${fmtInt(result.pagesTotal)} pages` }
        : {}),
      apiCalls: {
        total: Math.round(calls.total * scale),
        ok: Math.round(calls.ok * scale),
        rateLimited: Math.round(calls.rateLimited * scale),
      },
      dynamodb: scaled,
      sqs: {},
      // Priced as one 512 MB function running for the whole loop (it would outlive Lambda's 15 min).
      lambda: { workerInvocations: 0, workerBusyMs: 0, apiMs: 0, tickMs: result.extrapolatedMs },
      cpu,
      check,
      details: {
        pagesRun: result.pagesRun,
        pagesTotal: result.pagesTotal,
        measuredMs: Math.round(result.measuredMs),
        fetchMsPerPage: Math.round(result.fetchMsPerPage),
        writeMsPerPage: Math.round(result.writeMsPerPage),
        sampleApiCalls: calls,
        sampleDynamodbRequests: spent.requests,
      },
    },
  };
}

export const baseline: Scenario = {
  key: "baseline",
  needs: "rig",
  describe: () => "1. Baseline: sequential, page by page, create_time DESC, writing as it goes …",
  run,
};
