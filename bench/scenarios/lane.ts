/**
 * 6. The worker as deployed: a second sync process with one poller lane (one Lambda instance, one
 * batch of --batch-size records at a time) runs a full resync of the oldest --lane-orders orders into
 * tables and queues of its own; its peak RSS is the worker-memory figure.
 */
import { createQueues, createTables } from "../../infra/local/provision";
import { say } from "../cli";
import { SHOP_ID } from "../fixtures";
import { fmtInt } from "../report";
import { syncInit } from "../rig";
import { SyncChild } from "../sync-child";
import { checkAgainstTruth } from "../verify";
import { measureFullResync } from "./full-resync";
import type { Scenario } from "./scenario";

export const workerAsDeployed: Scenario = {
  key: "lane",
  // Its own process and tables: it needs only the rig (the product process, if started, idles meanwhile).
  needs: "rig",
  skip: (settings) => settings.laneOrders === 0,
  describe: (settings) =>
    `6. The worker as deployed: one lane per process (one Lambda instance, batches of ` +
    `${settings.batchSize}), a full resync of the oldest ${fmtInt(settings.laneOrders)} orders into a table of its own …`,
  run: async (context) => {
    const { settings, emulator, documents } = context;
    // The truth is in create_time order: the range [oldest, the (laneOrders + 1)th) holds the oldest
    // laneOrders orders (fewer if that one shares its second with earlier ones).
    const truth = emulator.truthSummary(SHOP_ID);
    const from = truth[0]?.create_time ?? 0;
    const to = truth[settings.laneOrders]?.create_time ?? (truth.at(-1)?.create_time ?? from) + 1;
    const scopeOrders = truth.filter((order) => order.create_time >= from && order.create_time < to).length;
    const laneTarget = {
      tables: await createTables(context.dynamodb, "bench-lane"),
      queues: await createQueues(context.sqs, "bench-lane"),
    };
    const lane = await SyncChild.start();
    context.teardown.add(() => lane.stop());
    const laneIdle = await lane.call<{ idleRssBytes: number }>({
      type: "init",
      init: syncInit(context, laneTarget, 1),
    });
    say(`   lane process ${lane.pid}: ${fmtInt(laneIdle.idleRssBytes / 1024 / 1024)} MB RSS when idle`);
    const measurement = await measureFullResync(context, {
      key: "lane",
      label: `6 worker as deployed (1 lane, ${fmtInt(scopeOrders)} orders)`,
      process: lane,
      scopeOrders,
      range: { from, to },
      target: laneTarget,
      check: () =>
        checkAgainstTruth({
          emulator,
          documents,
          tableName: laneTarget.tables.ordersTable,
          shopId: SHOP_ID,
          hashSample: settings.hashSample,
          createTimeRange: { from, to },
        }),
    });
    await lane.stop();
    return { measurement };
  },
};
