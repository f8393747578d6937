/**
 * `npm run bench`: the seed's headline job — a full sync of 283,300 orders — against its floors and a
 * sequential seed-style baseline, plus incremental ticks and a second full resync, in one run.
 *
 * Everything is real except the far side: the TikTok emulator (in this process) with a fixed latency
 * and QPS limit per shop, AWS's DynamoDB Local and the fauxqs SQS emulator (child processes, started
 * by infra/local/emulators.ts), and the product in a child process of its own (bench/sync-process.ts)
 * wired as `npm start` wires it: real Runtime, real worker handler under the local SQS poller, real
 * tick. Scenarios, each ended by a check against the emulator's truth (a wrong result exits 1):
 *   1. baseline: one sequential loop, page by page, create_time DESC, writing as it goes (sampled and
 *      extrapolated linearly unless --baseline-pages covers the whole history);
 *   2. full resync over SQS at --workers lanes;
 *   3. an incremental tick after --changes orders changed;
 *   4. an incremental tick with nothing changed;
 *   5. a second full resync over the synced table (nothing changed);
 *   6. the worker as deployed: one lane in a process of its own, over the oldest --lane-orders orders.
 * `npm run bench -- push` runs the push (webhook) scenario instead (bench/push.ts).
 * Prints two tables, the bottlenecks and the targets (PASS/MISS); writes JSON to bench-results/.
 *
 * Layout: the rig (emulators, clients, the product's sync process) is bench/rig.ts; each scenario is
 * an object in bench/scenarios/, run in order by bench/scenarios/index.ts; the results are printed and
 * written by bench/results.ts from bench/report.ts's figures.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

import { parseCli, say } from "./cli";
import { SETTLE_SECONDS } from "./fixtures";
import { runPushBench } from "./push";
import { type RunSettings, writeResults } from "./results";
import { type MachineInfo, machineInfo, measureFloor, setUpRig, Teardown } from "./rig";
import { type RunRecord, runScenarios, SCENARIOS } from "./scenarios";

const USAGE = `npm run bench -- [options]      (or: npm run bench -- push --help, the webhook scenario)
  --orders N          orders in the shop (default 283300)
  --latency-ms N      emulator latency per request (default 500)
  --qps N             emulator rate limit per shop; also the client's TIKTOK_MAX_RPS (default 20)
  --workers N         WORKER_CONCURRENCY = poller lanes (default 10: qps × latency requests in flight)
  --batch-size N      SQS records per worker invocation (default 1, as deployed)
  --baseline-pages N  pages the baseline runs before extrapolating (default 30; 0 = all)
  --changes N         orders changed before the incremental tick (default 100)
  --hash-sample N     orders whose content hash is compared in each check (default 20000: every
                      order of a shop that size)
  --floor-items N     items used to measure the store floor (default 2000)
  --lane-orders N     orders of the as-deployed worker scenario: one lane per process, as one Lambda
                      instance runs, into a table of its own (default 5000; 0 skips it)
  --out FILE          JSON results (default bench-results/bench-<time>.json)
  --doc FILE          the results page written (default docs/benchmark/<orders>-orders.md; none: no page)`;

function parseSettings(): RunSettings {
  const { values } = parseCli(
    {
      options: {
        orders: { type: "string", default: "283300" },
        "latency-ms": { type: "string", default: "500" },
        qps: { type: "string", default: "20" },
        workers: { type: "string", default: "10" },
        "batch-size": { type: "string", default: "1" },
        "baseline-pages": { type: "string", default: "30" },
        changes: { type: "string", default: "100" },
        "hash-sample": { type: "string", default: "20000" },
        "floor-items": { type: "string", default: "2000" },
        "lane-orders": { type: "string", default: "5000" },
        out: { type: "string" },
        doc: { type: "string" },
        help: { type: "boolean", default: false },
      },
    },
    USAGE,
  );
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const number = (name: keyof typeof values, min: number, max: number): number => {
    const value = Number(values[name]);
    if (!Number.isFinite(value) || value < min || value > max) {
      process.stderr.write(`--${name} must be a number in [${min}, ${max}]\n${USAGE}\n`);
      process.exit(2);
    }
    return value;
  };
  const orders = Math.floor(number("orders", 100, 2_000_000));
  const baselinePages = Math.floor(number("baseline-pages", 0, 100_000));
  return {
    orders,
    latencyMs: number("latency-ms", 0, 10_000),
    qps: number("qps", 0.1, 1000),
    workers: Math.floor(number("workers", 1, 256)),
    batchSize: Math.floor(number("batch-size", 1, 10)),
    baselinePages: baselinePages === 0 ? Math.ceil(orders / 100) : baselinePages,
    changes: Math.floor(number("changes", 1, 10_000)),
    hashSample: Math.floor(number("hash-sample", 0, 1_000_000)),
    floorItems: Math.floor(number("floor-items", 100, 100_000)),
    laneOrders: Math.min(orders, Math.floor(number("lane-orders", 0, 2_000_000))),
    settleSeconds: SETTLE_SECONDS,
    out: values.out,
    doc: values.doc,
  };
}

function printHeader(settings: RunSettings, machine: MachineInfo, startedAt: Date): void {
  say("tiktok-shop-sync benchmark");
  say(
    `  settings  --orders ${settings.orders} --latency-ms ${settings.latencyMs} --qps ${settings.qps} ` +
      `--workers ${settings.workers} --batch-size ${settings.batchSize} ` +
      `--baseline-pages ${settings.baselinePages} --changes ${settings.changes} ` +
      `--hash-sample ${settings.hashSample} --floor-items ${settings.floorItems} ` +
      `--lane-orders ${settings.laneOrders}`,
  );
  say(
    `  client    TIKTOK_MAX_RPS=${settings.qps} (= the emulator's limit), ` +
      `WORKER_CONCURRENCY=${settings.workers}, one shared limiter per shop ` +
      `(rateShare 1: the lanes share one process), SYNC_SETTLE_SECONDS=${SETTLE_SECONDS}`,
  );
  say(
    `  machine   ${machine.cores} cores (${machine.cpu}), ${machine.memoryGb} GB, node ${machine.node}, ` +
      `load average ${machine.loadAverageAtStart.join(" / ")}, ${startedAt.toISOString()}`,
  );
  say();
}

async function main(): Promise<number> {
  // `npm run bench -- push [options]`: the push scenario alone (bench/push.ts).
  if (process.argv[2] === "push") return runPushBench(process.argv.slice(3));
  const settings = parseSettings();
  const machine = machineInfo();
  const startedAt = new Date();
  printHeader(settings, machine, startedAt);
  const teardown = new Teardown();
  teardown.stopOnSignals();
  const record: RunRecord = { measurements: [] };
  let failure: Error | undefined;
  try {
    const context = await setUpRig(settings, teardown);
    record.storeFloor = await measureFloor(context);
    await runScenarios(SCENARIOS, context, record);
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
    process.stderr.write(`\nbenchmark failed: ${failure.stack ?? failure.message}\n`);
  } finally {
    // Before the results: they are figured and written with every process stopped.
    await teardown.stopAll();
  }
  const finishedAt = new Date();
  const { storeFloor, measurements } = record;
  if (!storeFloor || measurements.length === 0) return 1;
  return writeResults({
    settings,
    machine,
    startedAt,
    finishedAt,
    storeFloor,
    syncProcessIdleRssBytes: record.syncProcessIdleRssBytes,
    measurements,
    failure,
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
