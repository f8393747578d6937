/**
 * A full resync measured end to end (shared by scenarios 2, 5 and 6): the job from its request to
 * its end, then its check against the truth and the job's own facts (its figures, cursor, metrics,
 * dead-letter queue).
 */
import { systemClock } from "../../shared/clock";
import { queueDepth } from "../../shared/queues/sqs-work-queue";
import { StateStore } from "../../shared/store/state-store";
import { say } from "../cli";
import { SHOP_ID } from "../fixtures";
import type { FullResyncResult } from "../protocol";
import { fmtInt, fmtMs, type ScenarioMeasurement } from "../report";
import type { BenchContext, ProductContext, SyncTarget } from "../rig";
import type { SyncChild } from "../sync-child";
import { type CheckResult, checkFullResyncJob } from "../verify";
import { apiCallsSince, checkProduct, cpuMark, cpuWindow, describeCheck, meterSummary } from "./measure";
import type { Scenario } from "./scenario";

export interface FullResyncRun {
  readonly key: "full" | "full-again" | "lane";
  readonly label: string;
  readonly process: SyncChild;
  readonly scopeOrders: number;
  /** A create_time range; the whole history when absent. */
  readonly range?: { readonly from: number; readonly to: number };
  readonly target: SyncTarget;
  readonly check: () => Promise<CheckResult>;
}

export async function measureFullResync(
  context: BenchContext,
  on: FullResyncRun,
): Promise<ScenarioMeasurement> {
  const { aws, emulator, documents, sqs } = context;
  const state = new StateStore({
    documents,
    tableName: on.target.tables.stateTable,
    clock: systemClock,
  });
  const cursorBefore = (await state.getMeta(SHOP_ID))?.cursor;
  const apiBefore = emulator.counters();
  const cpuBefore = cpuMark(aws, on.process);
  const result = await on.process.call<FullResyncResult>({
    type: "full-resync",
    ...(on.range ? { range: on.range } : {}),
  });
  const cpu = cpuWindow(cpuBefore, cpuMark(aws, on.process));
  const calls = apiCallsSince(emulator, apiBefore);
  say(
    `   job ${result.jobId}: ${result.windows} windows from ${result.probes} probes ` +
      `(planning ${fmtMs(result.planningMs)}), ` +
      `${fmtMs(result.wallMs)}, ${fmtInt(calls.total)} API calls (${calls.rateLimited} throttled)`,
  );
  const truthCheck = await on.check();
  const jobProblems = checkFullResyncJob({
    jobId: result.jobId,
    progress: result.progress,
    scopeOrders: on.scopeOrders,
    emulatorSuccessfulSearches: calls.successfulSearches,
    meta: (await state.getMeta(SHOP_ID)) as Record<string, unknown> | undefined,
    // Only a whole-history job sets the cursor, and only a shop's first (rule 6).
    expectedCursor: on.range || cursorBefore !== undefined ? cursorBefore : result.windowEnd,
    metrics: result.metrics,
    dlqDepth: await queueDepth(sqs, on.target.queues.deadLetterQueueUrl),
  });
  const verdict: CheckResult = {
    ...truthCheck,
    ok: truthCheck.ok && jobProblems.length === 0,
    problems: [...truthCheck.problems, ...jobProblems],
  };
  say(describeCheck(on.key, verdict));
  return {
    key: on.key,
    label: on.label,
    scopeOrders: on.scopeOrders,
    wallMs: result.wallMs,
    apiCalls: calls,
    dynamodb: result.meters.dynamodb,
    sqs: result.meters.sqs,
    lambda: {
      workerInvocations: result.meters.workerInvocations,
      workerBusyMs: result.meters.workerBusyMs,
      apiMs: result.planningMs,
      tickMs: 0,
    },
    peakRssBytes: result.meters.peakRssBytes,
    peakHeapBytes: result.meters.peakHeapBytes,
    cpu,
    check: verdict,
    details: {
      jobId: result.jobId,
      windows: result.windows,
      probes: result.probes,
      planningMs: result.planningMs,
      progress: result.progress,
      ...meterSummary(result.meters),
    },
  };
}

/** The product's own full resync of the whole shop, on its tables. */
function productFullResync(context: ProductContext, key: "full" | "full-again", label: string) {
  return measureFullResync(context, {
    key,
    label,
    process: context.product.sync,
    scopeOrders: context.settings.orders,
    target: context.product.target,
    check: () => checkProduct(context),
  });
}

/** 2. The headline job: a full resync over SQS at --workers lanes into the empty table. */
export const fullResync: Scenario = {
  key: "full",
  needs: "product",
  describe: (settings) => `2. Full resync over SQS, ${settings.workers} worker lanes …`,
  run: async (context) => ({ measurement: await productFullResync(context, "full", "2 full resync") }),
};

/** 5. The same job again over the synced table: every page read, nothing to write. */
export const fullResyncAgain: Scenario = {
  key: "full-again",
  needs: "product",
  describe: () => "5. Second full resync over the synced table (nothing changed) …",
  run: async (context) => ({
    measurement: await productFullResync(context, "full-again", "5 full resync again"),
  }),
};
