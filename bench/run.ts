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
 *   5. a second full resync over the synced table (nothing changed).
 * `npm run bench -- push` runs the push (webhook) scenario instead (bench/push.ts).
 * Prints two tables, the bottlenecks and the targets (PASS/MISS); writes JSON to bench-results/.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

import { type ChildProcess, fork } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join, relative, resolve } from "node:path";
import { build } from "esbuild";
import { type LocalAws, startLocalAws } from "../infra/local/emulators";
import { createQueues, createTables } from "../infra/local/provision";
import { startTikTokEmulator, type TikTokEmulator } from "../infra/local/tiktok-emulator";
import { createDocumentClient, createDynamoDbClient, createSqsClient } from "../shared/aws-clients";
import { systemClock } from "../shared/clock";
import { isInvalidOrder, type NormalizedOrder, normalizeOrder } from "../shared/orders/normalize";
import { queueDepth } from "../shared/queues/sqs-work-queue";
import { StateStore } from "../shared/store/state-store";
import { createTikTokClient } from "../shared/tiktok/client";
import { AdaptiveRateLimiter } from "../shared/tiktok/rate-limiter";
import { runBaseline } from "./baseline";
import { parseCli } from "./cli";
import {
  ACCESS_TOKEN,
  APP_KEY,
  APP_SECRET,
  DATASET_AGE_SECONDS,
  REFRESH_TOKEN,
  SETTLE_SECONDS,
  SHOP_ID,
} from "./fixtures";
import { diffDynamoCounts, machineCpuSeconds, meterDynamoDb, processCpuSeconds } from "./instrument";
import { PRICES } from "./prices";
import type {
  FullResyncResult,
  ProcessMeters,
  SyncProcessInit,
  SyncRequest,
  SyncResponse,
  TickResult,
} from "./protocol";
import { runPushBench } from "./push";
import {
  analyse,
  type BenchSettings,
  bottleneckLines,
  type CpuWindow,
  costOf,
  fmtInt,
  fmtMs,
  fmtUsd,
  resourceTable,
  type ScenarioMeasurement,
  targetLines,
  timeTable,
} from "./report";
import { dropTables, measureStoreFloor } from "./store-floor";
import { type CheckResult, checkAgainstTruth, checkBaselineTable, checkFullResyncJob } from "./verify";

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

function parseSettings(): BenchSettings & { out: string | undefined; doc: string | undefined } {
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

function machineInfo() {
  return {
    cores: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    memoryGb: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
  };
}

const say = (line = "") => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

/** A request without its id (distributed over the union). */
type RequestBody = SyncRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

/** The sync process (bench/sync-process.ts) and its request/response channel. */
class SyncChild {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (e: Error) => void }
  >();

  constructor(readonly child: ChildProcess) {
    child.on("message", (response: SyncResponse) => {
      const waiter = this.pending.get(response.id);
      if (!waiter) return;
      this.pending.delete(response.id);
      if (response.ok) waiter.resolve(response.result);
      else waiter.reject(new Error(`sync process: ${response.error}`));
    });
    child.on("exit", (code, signal) => {
      for (const waiter of this.pending.values()) {
        waiter.reject(new Error(`sync process exited (code ${code ?? "none"}, signal ${signal ?? "none"})`));
      }
      this.pending.clear();
    });
  }

  /**
   * Bundles bench/sync-process.ts with esbuild and runs the bundle on plain node, as Lambda runs the
   * deployed functions (CDK bundles them with esbuild): no TypeScript loader in the measured memory.
   */
  static async start(): Promise<SyncChild> {
    const dir = mkdtempSync(join(os.tmpdir(), "tss-bench-"));
    const outfile = join(dir, "sync-process.js");
    await build({
      entryPoints: [join(__dirname, "sync-process.ts")],
      bundle: true,
      platform: "node",
      target: "node20",
      outfile,
      logLevel: "warning",
    });
    const child = fork(outfile, [], {
      stdio: "inherit",
      execArgv: ["--expose-gc"],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    });
    child.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    return new SyncChild(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  call<T>(request: RequestBody): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolveCall, rejectCall) => {
      this.pending.set(id, { resolve: resolveCall as (value: unknown) => void, reject: rejectCall });
      this.child.send({ ...request, id } as SyncRequest);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise((resolveExit) => this.child.once("exit", resolveExit));
    // A busy process (lanes mid-page on a starved DynamoDB Local) may not answer: bounded wait.
    await Promise.race([this.call({ type: "stop" }).catch(() => undefined), exited, sleep(10_000)]);
    await Promise.race([exited, sleep(5_000)]);
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

interface CpuMark {
  readonly at: number;
  readonly machine: { busy: number; total: number };
  readonly dynamodbLocal: number;
  readonly sqsEmulator: number;
  readonly syncProcess: number;
  readonly bench: number;
}

function cpuMark(aws: LocalAws, sync: SyncChild | undefined): CpuMark {
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    machine: machineCpuSeconds(),
    dynamodbLocal: processCpuSeconds(aws.dynamodb.pid) ?? 0,
    sqsEmulator: processCpuSeconds(aws.sqs.pid) ?? 0,
    syncProcess: processCpuSeconds(sync?.pid) ?? 0,
    bench: (usage.user + usage.system) / 1e6,
  };
}

function cpuWindow(before: CpuMark, after: CpuMark): CpuWindow {
  return {
    wallMs: after.at - before.at,
    cores: os.availableParallelism(),
    machineBusy: after.machine.busy - before.machine.busy,
    dynamodbLocal: after.dynamodbLocal - before.dynamodbLocal,
    sqsEmulator: after.sqsEmulator - before.sqsEmulator,
    syncProcess: after.syncProcess - before.syncProcess,
    bench: after.bench - before.bench,
  };
}

function apiCallsSince(emulator: TikTokEmulator, before: ReturnType<TikTokEmulator["counters"]>) {
  const after = emulator.counters();
  return {
    total: after.total - before.total,
    ok: after.byOutcome.ok - before.byOutcome.ok,
    rateLimited: after.byOutcome.rateLimited - before.byOutcome.rateLimited,
    successfulSearches: after.successfulSearchCalls - before.successfulSearchCalls,
  };
}

function describeCheck(name: string, check: CheckResult): string {
  const figures =
    `${fmtInt(check.stored)} stored / ${fmtInt(check.expected)} expected, ${check.missing} missing, ` +
    `${check.stale} stale, ${check.extra} extra, ${fmtInt(check.hashesCompared)} hashes compared ` +
    `(${fmtMs(check.ms)})`;
  const examples = check.examples.length > 0 ? `\n      e.g. ${check.examples.join("; ")}` : "";
  const problems = check.problems.map((problem) => `\n      ✖ ${problem}`).join("");
  return `    check ${name}: ${check.ok ? "OK" : "FAILED"} — ${figures}${check.ok ? "" : examples + problems}`;
}

function meterSummary(meters: ProcessMeters): Record<string, unknown> {
  return {
    dynamodbRequests: meters.dynamodb.requests,
    sqsRequests: meters.sqs,
    workerInvocations: meters.workerInvocations,
    workerRecords: meters.workerRecords,
    clientApiCalls: meters.apiCalls,
    tiktokHttp: meters.tiktokHttp,
    retainedHeapBytes: meters.retainedHeapBytes,
    warnings: meters.warnings,
    errors: meters.errors,
    ...(meters.lastProblems.length > 0 ? { lastProblems: meters.lastProblems } : {}),
  };
}

async function main(): Promise<number> {
  // `npm run bench -- push [options]`: the push scenario alone (bench/push.ts).
  if (process.argv[2] === "push") return runPushBench(process.argv.slice(3));
  const settings = parseSettings();
  const machine = machineInfo();
  const startedAt = new Date();
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

  const stoppers: (() => Promise<void>)[] = [];
  // Ctrl-C or a kill must not orphan DynamoDB Local, the SQS emulator or the sync process.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      say(`\n${signal}: stopping the emulators …`);
      void (async () => {
        for (const stop of [...stoppers].reverse()) await stop().catch(() => {});
        process.exit(130);
      })();
    });
  }
  const measurements: ScenarioMeasurement[] = [];
  let failure: Error | undefined;
  let storeFloor: Awaited<ReturnType<typeof measureStoreFloor>> | undefined;
  let idleRss: number | undefined;
  try {
    const aws = await startLocalAws();
    stoppers.push(() => aws.stop());
    const nowSeconds = Math.floor(Date.now() / 1000);
    const generating = performance.now();
    const emulator = await startTikTokEmulator({
      seed: 2026,
      appKey: APP_KEY,
      appSecret: APP_SECRET,
      shops: [{ id: SHOP_ID, orders: settings.orders }],
      clock: { start: nowSeconds - DATASET_AGE_SECONDS },
      presetTokens: [{ accessToken: ACCESS_TOKEN, refreshToken: REFRESH_TOKEN, shopIds: [SHOP_ID] }],
      log: () => {},
    });
    stoppers.push(() => emulator.stop());
    // The history ends DATASET_AGE_SECONDS ago; from now on the emulator's clock is the wall clock.
    emulator.setClock(Math.floor(Date.now() / 1000));
    emulator.configure({ qps: settings.qps, latencyMs: settings.latencyMs });
    const shop = emulator.shops()[0];
    if (!shop) throw new Error("the emulator has no shop");
    say(
      `TikTok emulator ${emulator.baseUrl}: ${fmtInt(emulator.orderCount(SHOP_ID))} orders generated in ` +
        `${fmtMs(performance.now() - generating)}; ${settings.latencyMs} ms per request, ` +
        `${settings.qps} req/s per shop`,
    );
    say(`DynamoDB Local ${aws.dynamodb.endpoint} (in memory) · SQS emulator ${aws.sqs.endpoint}`);

    const dynamodb = createDynamoDbClient({ dynamodbEndpoint: aws.dynamodb.endpoint });
    const documents = createDocumentClient(dynamodb);
    const sqs = createSqsClient({ sqsEndpoint: aws.sqs.endpoint });
    stoppers.push(async () => {
      dynamodb.destroy();
      sqs.destroy();
    });

    // ---------------------------------------------------------------------------------------------
    // Store floor
    const floorOrders = emulator
      .truth(SHOP_ID, { offset: 0, limit: Math.min(settings.floorItems, settings.orders) })
      .map((raw) => normalizeOrder(raw, { storeRecipientData: true }))
      .filter((order): order is NormalizedOrder => !isInvalidOrder(order));
    storeFloor = await measureStoreFloor({
      dynamodb,
      documents,
      namespace: "bench-floor",
      shopId: SHOP_ID,
      orders: floorOrders,
      concurrency: settings.workers,
    });
    say(
      `Store floor (${fmtInt(storeFloor.items)} realistic orders, ` +
        `~${fmtInt(storeFloor.meanItemBytes)} bytes each = ${storeFloor.writeUnitsPerItem} WRU, ` +
        `${storeFloor.concurrency} requests in flight): unconditional BatchWriteItem ` +
        `${fmtInt(storeFloor.writeRate)} orders/s, BatchGetItem ${fmtInt(storeFloor.readRate)} orders/s; ` +
        "for comparison our upsert path (BatchGetItem + conditional PutItem) " +
        `${fmtInt(storeFloor.upsertRate)} orders/s`,
    );
    say();

    // ---------------------------------------------------------------------------------------------
    // 1. Baseline
    say(`1. Baseline: sequential, page by page, create_time DESC, writing as it goes …`);
    {
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
        shop: { shopId: SHOP_ID, shopCipher: shop.cipher },
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
      measurements.push({
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
      });
      say(
        `   ${result.pagesRun} pages in ${fmtMs(result.measuredMs)} ` +
          `(${Math.round(result.fetchMsPerPage)} ms fetch + ` +
          `${Math.round(result.writeMsPerPage)} ms write per page)` +
          (result.extrapolated
            ? ` → ${fmtMs(result.extrapolatedMs)} for ${fmtInt(result.pagesTotal)} pages`
            : ""),
      );
      say(describeCheck("baseline", check));
    }

    // ---------------------------------------------------------------------------------------------
    // The product
    const tables = await createTables(dynamodb, "bench");
    const queues = await createQueues(sqs, "bench");
    const sync = await SyncChild.start();
    stoppers.push(() => sync.stop());
    /** The product's configuration for a sync process on these tables and queues. */
    const syncInit = (
      target: { tables: typeof tables; queues: typeof queues },
      lanes: number,
    ): SyncProcessInit => ({
      env: {
        TIKTOK_API_BASE_URL: emulator.baseUrl,
        TIKTOK_AUTH_BASE_URL: emulator.authBaseUrl,
        TIKTOK_APP_KEY: APP_KEY,
        TIKTOK_APP_SECRET: APP_SECRET,
        TIKTOK_SHOP_ID: SHOP_ID,
        TIKTOK_SHOP_CIPHER: shop.cipher,
        TIKTOK_MAX_RPS: String(settings.qps),
        // As deployed: the planner spreads a job over the workers' concurrency, whatever one process runs.
        WORKER_CONCURRENCY: String(settings.workers),
        SYNC_SETTLE_SECONDS: String(SETTLE_SECONDS),
        DYNAMODB_ENDPOINT: aws.dynamodb.endpoint,
        SQS_ENDPOINT: aws.sqs.endpoint,
        ORDERS_TABLE_NAME: target.tables.ordersTable,
        STATE_TABLE_NAME: target.tables.stateTable,
        WORK_QUEUE_URL: target.queues.workQueueUrl,
        DEAD_LETTER_QUEUE_URL: target.queues.deadLetterQueueUrl,
      },
      shopId: SHOP_ID,
      accessToken: ACCESS_TOKEN,
      refreshToken: REFRESH_TOKEN,
      workers: lanes,
      batchSize: settings.batchSize,
    });
    const { idleRssBytes } = await sync.call<{ idleRssBytes: number }>({
      type: "init",
      init: syncInit({ tables, queues }, settings.workers),
    });
    idleRss = idleRssBytes;
    say(`Sync process ${sync.pid}: ${fmtInt(idleRssBytes / 1024 / 1024)} MB RSS when idle (poller running)`);
    const check = () =>
      checkAgainstTruth({
        emulator,
        documents,
        tableName: tables.ordersTable,
        shopId: SHOP_ID,
        hashSample: settings.hashSample,
      });

    const runFull = async (
      key: "full" | "full-again" | "lane",
      label: string,
      on: {
        process: SyncChild;
        scopeOrders: number;
        range?: { from: number; to: number };
        target: { tables: typeof tables; queues: typeof queues };
      } = {
        process: sync,
        scopeOrders: settings.orders,
        target: { tables, queues },
      },
      checkScenario: () => Promise<CheckResult> = check,
    ) => {
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
      const truthCheck = await checkScenario();
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
      say(describeCheck(key, verdict));
      measurements.push({
        key,
        label,
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
      });
    };

    const runTickScenario = async (key: "tick-changes" | "tick-idle", label: string, changed: number) => {
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
      const verdict = await check();
      say(describeCheck(key, verdict));
      measurements.push({
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
      });
      if (result.status !== "completed") throw new Error(`tick ended ${result.status}`);
    };

    say();
    say(`2. Full resync over SQS, ${settings.workers} worker lanes …`);
    await runFull("full", "2 full resync");

    say();
    say(`3. Incremental tick after ${settings.changes} orders changed …`);
    const changed = emulator.mutate({ count: settings.changes, shopId: SHOP_ID, seed: 7 });
    const distinct = new Set(changed.map((order) => order.id)).size;
    const newest = Math.max(...changed.map((order) => order.update_time));
    // A tick reads up to now − settle: wait until the changes are that old (not part of the timing).
    const visibleAtMs = (newest + SETTLE_SECONDS + 1) * 1000;
    if (visibleAtMs > Date.now()) {
      say(`   waiting ${fmtMs(visibleAtMs - Date.now())} for the ${SETTLE_SECONDS} s settle delay`);
      await sleep(visibleAtMs - Date.now() + 50);
    }
    await runTickScenario("tick-changes", `3 tick, ${distinct} changed`, distinct);

    say();
    say("4. Incremental tick, nothing changed …");
    await runTickScenario("tick-idle", "4 tick, 0 changed", 0);

    say();
    say("5. Second full resync over the synced table (nothing changed) …");
    await runFull("full-again", "5 full resync again");

    if (settings.laneOrders > 0) {
      say();
      say(
        `6. The worker as deployed: one lane per process (one Lambda instance, batches of ` +
          `${settings.batchSize}), a full resync of the oldest ${fmtInt(settings.laneOrders)} orders into a table of its own …`,
      );
      // The truth is in create_time order: the range [oldest, the (laneOrders + 1)th) holds the oldest
      // laneOrders orders (fewer if that one shares its second with earlier ones).
      const truth = emulator.truthSummary(SHOP_ID);
      const from = truth[0]?.create_time ?? 0;
      const to = truth[settings.laneOrders]?.create_time ?? (truth.at(-1)?.create_time ?? from) + 1;
      const scopeOrders = truth.filter((order) => order.create_time >= from && order.create_time < to).length;
      const laneTarget = {
        tables: await createTables(dynamodb, "bench-lane"),
        queues: await createQueues(sqs, "bench-lane"),
      };
      const lane = await SyncChild.start();
      stoppers.push(() => lane.stop());
      const laneIdle = await lane.call<{ idleRssBytes: number }>({
        type: "init",
        init: syncInit(laneTarget, 1),
      });
      say(`   lane process ${lane.pid}: ${fmtInt(laneIdle.idleRssBytes / 1024 / 1024)} MB RSS when idle`);
      await runFull(
        "lane",
        `6 worker as deployed (1 lane, ${fmtInt(scopeOrders)} orders)`,
        { process: lane, scopeOrders, range: { from, to }, target: laneTarget },
        () =>
          checkAgainstTruth({
            emulator,
            documents,
            tableName: laneTarget.tables.ordersTable,
            shopId: SHOP_ID,
            hashSample: settings.hashSample,
            createTimeRange: { from, to },
          }),
      );
      await lane.stop();
    }
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
    process.stderr.write(`\nbenchmark failed: ${failure.stack ?? failure.message}\n`);
  } finally {
    for (const stop of stoppers.reverse()) await stop().catch(() => {});
  }

  const finishedAt = new Date();
  if (!storeFloor || measurements.length === 0) return 1;
  const { rows, targets } = analyse(settings, storeFloor, measurements);
  // The results are printed and kept for the docs page the tool writes (figures never copied by hand).
  const resultLines: string[] = [];
  const report = (line = "") => {
    say(line);
    resultLines.push(line);
  };
  report();
  report(
    `Results — ${fmtInt(settings.orders)} orders, ${settings.latencyMs} ms latency, ` +
      `${settings.qps} req/s, ` +
      `${settings.workers} workers; ${machine.cores} cores, node ${machine.node}, ` +
      finishedAt.toISOString().slice(0, 10),
  );
  report(timeTable(rows));
  report();
  report(resourceTable(rows));
  report();
  report("Bounded by:");
  report(bottleneckLines(rows));
  report();
  report("Targets:");
  report(targetLines(targets));
  report();
  report(
    `Floors: API calls ceil(orders / 100); wall max(calls floor / ${settings.qps} req/s, ` +
      `store floor = orders ÷ ${fmtInt(storeFloor.writeRate)} orders/s unconditional BatchWriteItem, ` +
      `or ÷ ${fmtInt(storeFloor.readRate)} ` +
      "orders/s BatchGetItem where nothing needs writing). Ticks: our time = wall − latency × calls.",
  );
  report(
    `Cost: AWS on-demand ${PRICES.region} as of ${PRICES.asOf} (bench/prices.ts): ` +
      "DynamoDB units as DynamoDB Local " +
      "accounts them (indexes included, transactions ×2), SQS requests, Lambda arm64 GB-s of the handlers " +
      "(worker 1024 MB, API/tick 512 MB); the baseline as one 512 MB function running throughout.",
  );
  const extrapolation =
    settings.orders < 283_300
      ? Object.fromEntries(
          measurements
            .filter((m) => m.key === "full" || m.key === "full-again" || m.key === "baseline")
            .map((m) => {
              const factor = 283_300 / settings.orders;
              return [
                m.key,
                {
                  wallMs: Math.round(m.wallMs * factor),
                  apiCalls: Math.round(m.apiCalls.total * factor),
                  costUsd: costOf(m, factor).total,
                },
              ];
            }),
        )
      : undefined;
  if (extrapolation) {
    report(
      `Linear extrapolation to 283,300 orders: ${Object.entries(extrapolation)
        .map(
          ([key, value]) =>
            `${key} ≈ ${fmtMs(value.wallMs)}, ${fmtInt(value.apiCalls)} calls, ${fmtUsd(value.costUsd)}`,
        )
        .join("; ")}`,
    );
  }
  const checksOk = measurements.every((m) => m.check.ok);
  const ok = checksOk && !failure;
  const outFile = resolve(
    settings.out ?? join("bench-results", `bench-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`),
  );
  mkdirSync(resolve(outFile, ".."), { recursive: true });
  writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        ok,
        ...(failure ? { failure: failure.message } : {}),
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        settings,
        machine: { ...machine, loadAverageAtEnd: os.loadavg().map((v) => Math.round(v * 100) / 100) },
        prices: PRICES,
        storeFloor,
        ...(idleRss ? { syncProcessIdleRssBytes: idleRss } : {}),
        rows,
        targets,
        ...(extrapolation ? { extrapolationTo283300: extrapolation } : {}),
        measurements,
      },
      null,
      2,
    )}\n`,
  );
  say(`JSON: ${relative(process.cwd(), outFile)}`);
  if (settings.doc !== "none") {
    const docFile = resolve(settings.doc ?? join("docs", "benchmark", `${settings.orders}-orders.md`));
    mkdirSync(resolve(docFile, ".."), { recursive: true });
    writeFileSync(
      docFile,
      [
        `# Benchmark: ${fmtInt(settings.orders)} orders`,
        "",
        `Written by \`npm run bench -- ${process.argv.slice(2).join(" ")}\`` +
          ` (${ok ? "every check OK" : "a check FAILED or the run did not complete"}); ` +
          `load average at start ${machine.loadAverageAtStart.join(" / ")}. Do not edit by hand: run the tool again.`,
        "",
        "```text",
        ...resultLines,
        "```",
        "",
      ].join("\n"),
    );
    say(`Report: ${relative(process.cwd(), docFile)}`);
  }
  if (!checksOk) say("A correctness check FAILED: DynamoDB does not equal the emulator's truth.");
  if (failure) say(`The run did not complete: ${failure.message}`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
