/** 3 and 4: the product's incremental tick, after --changes orders changed and with nothing changed. */
import { setTimeout as sleep } from "node:timers/promises";
import { say } from "../cli";
import { SETTLE_SECONDS, SHOP_ID } from "../fixtures";
import type { TickResult } from "../protocol";
import { fmtMs } from "../report";
import type { ProductContext } from "../rig";
import { apiCallsSince, checkProduct, cpuMark, cpuWindow, describeCheck, meterSummary } from "./measure";
import type { Scenario, ScenarioResult } from "./scenario";

/** One tick, timed from the request to its answer, then checked; `changed` orders are its scope. */
async function measureTick(
  context: ProductContext,
  key: "tick-changes" | "tick-idle",
  label: string,
  changed: number,
): Promise<ScenarioResult> {
  const { aws, emulator } = context;
  const { sync } = context.product;
  const apiBefore = emulator.counters();
  const cpuBefore = cpuMark(aws, sync);
  const result = await sync.call<TickResult>({ type: "tick" });
  const cpu = cpuWindow(cpuBefore, cpuMark(aws, sync));
  const calls = apiCallsSince(emulator, apiBefore);
  const run = result.lastRun ?? {};
  const read = ["inserted", "updated", "unchanged", "stale"].reduce((t, k) => t + Number(run[k] ?? 0), 0);
  say(
    `   tick ${result.status}: ${Math.round(result.wallMs)} ms, ${calls.total} API call(s), ` +
      `${read} orders read, ` +
      `${Number(run.inserted ?? 0) + Number(run.updated ?? 0)} written`,
  );
  const verdict = await checkProduct(context);
  say(describeCheck(key, verdict));
  return {
    measurement: {
      key,
      label,
      scopeOrders: changed,
      wallMs: result.wallMs,
      apiCalls: calls,
      dynamodb: result.meters.dynamodb,
      sqs: result.meters.sqs,
      lambda: { workerInvocations: 0, workerBusyMs: 0, apiMs: 0, tickMs: result.wallMs },
      peakRssBytes: result.meters.peakRssBytes,
      peakHeapBytes: result.meters.peakHeapBytes,
      cpu,
      check: verdict,
      details: { status: result.status, lastRun: run, ordersRead: read, ...meterSummary(result.meters) },
    },
    ...(result.status !== "completed" ? { failure: new Error(`tick ended ${result.status}`) } : {}),
  };
}

/** 3. The emulator changes --changes orders; the tick runs once they are past the settle delay. */
export const tickAfterChanges: Scenario = {
  key: "tick-changes",
  needs: "product",
  describe: (settings) => `3. Incremental tick after ${settings.changes} orders changed …`,
  run: async (context) => {
    const changed = context.emulator.mutate({ count: context.settings.changes, shopId: SHOP_ID, seed: 7 });
    const distinct = new Set(changed.map((order) => order.id)).size;
    const newest = Math.max(...changed.map((order) => order.update_time));
    // A tick reads up to now − settle: wait until the changes are that old (not part of the timing).
    const visibleAtMs = (newest + SETTLE_SECONDS + 1) * 1000;
    if (visibleAtMs > Date.now()) {
      say(`   waiting ${fmtMs(visibleAtMs - Date.now())} for the ${SETTLE_SECONDS} s settle delay`);
      await sleep(visibleAtMs - Date.now() + 50);
    }
    return measureTick(context, "tick-changes", `3 tick, ${distinct} changed`, distinct);
  },
};

/** 4. A tick with nothing changed: one search call, nothing to write. */
export const tickIdle: Scenario = {
  key: "tick-idle",
  needs: "product",
  describe: () => "4. Incremental tick, nothing changed …",
  run: (context) => measureTick(context, "tick-idle", "4 tick, 0 changed", 0),
};
