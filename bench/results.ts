/**
 * The end of a benchmark run: the results printed (tables, bottlenecks, targets, floors, cost,
 * extrapolation), the JSON in bench-results/ and the docs page, all from the same lines and figures;
 * and the exit code (0 only if every check passed and the run completed).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join, relative, resolve } from "node:path";
import { say, writeResultsPage } from "./cli";
import { PRICES } from "./prices";
import {
  analyse,
  type BenchSettings,
  bottleneckLines,
  costOf,
  fmtInt,
  fmtMs,
  fmtUsd,
  resourceTable,
  type ScenarioMeasurement,
  type ScenarioRow,
  type Target,
  targetLines,
  timeTable,
} from "./report";
import type { MachineInfo } from "./rig";
import type { StoreFloor } from "./store-floor";

/** The settings of a run: the bench's, and where its results go. */
export type RunSettings = BenchSettings & { out: string | undefined; doc: string | undefined };

export interface RunOutcome {
  readonly settings: RunSettings;
  readonly machine: MachineInfo;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly storeFloor: StoreFloor;
  readonly syncProcessIdleRssBytes: number | undefined;
  readonly measurements: readonly ScenarioMeasurement[];
  /** What ended the run early, if anything. */
  readonly failure: Error | undefined;
}

/** Linear extrapolation of a smaller run's full syncs to the default 283,300 orders, keyed by scenario. */
type Extrapolation = Record<string, { wallMs: number; apiCalls: number; costUsd: number }>;

/** Prints and writes the results; returns the exit code. */
export function writeResults(outcome: RunOutcome): number {
  const { settings, measurements, failure } = outcome;
  const { rows, targets } = analyse(settings, outcome.storeFloor, measurements);
  const extrapolation = extrapolate(settings, measurements);
  // The results are printed and kept for the docs page the tool writes (figures never copied by hand).
  const resultLines = resultText(outcome, rows, targets, extrapolation);
  for (const line of resultLines) say(line);
  const checksOk = measurements.every((m) => m.check.ok);
  const ok = checksOk && !failure;
  writeJson(outcome, ok, rows, targets, extrapolation);
  if (settings.doc !== "none") writeDocPage(outcome, ok, resultLines);
  if (!checksOk) say("A correctness check FAILED: DynamoDB does not equal the emulator's truth.");
  if (failure) say(`The run did not complete: ${failure.message}`);
  return ok ? 0 : 1;
}

function extrapolate(
  settings: RunSettings,
  measurements: readonly ScenarioMeasurement[],
): Extrapolation | undefined {
  if (settings.orders >= 283_300) return undefined;
  return Object.fromEntries(
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
  );
}

/** The results as printed, line by line (a line may hold a whole table). */
function resultText(
  outcome: RunOutcome,
  rows: readonly ScenarioRow[],
  targets: readonly Target[],
  extrapolation: Extrapolation | undefined,
): string[] {
  const { settings, machine, finishedAt, storeFloor } = outcome;
  const lines: string[] = [];
  const report = (line = "") => {
    lines.push(line);
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
  return lines;
}

/** Everything, for later analysis: bench-results/bench-<time>.json unless --out says otherwise. */
function writeJson(
  outcome: RunOutcome,
  ok: boolean,
  rows: readonly ScenarioRow[],
  targets: readonly Target[],
  extrapolation: Extrapolation | undefined,
): void {
  const { settings, machine, startedAt, finishedAt, storeFloor, measurements, failure } = outcome;
  const idleRss = outcome.syncProcessIdleRssBytes;
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
}

/** The results page (docs/benchmark/<orders>-orders.md unless --doc says otherwise). */
function writeDocPage(outcome: RunOutcome, ok: boolean, resultLines: readonly string[]): void {
  const { settings, machine } = outcome;
  const docFile = resolve(settings.doc ?? join("docs", "benchmark", `${settings.orders}-orders.md`));
  writeResultsPage(
    docFile,
    `Benchmark: ${fmtInt(settings.orders)} orders`,
    `Written by \`npm run bench -- ${process.argv.slice(2).join(" ")}\`` +
      ` (${ok ? "every check OK" : "a check FAILED or the run did not complete"}); ` +
      `load average at start ${machine.loadAverageAtStart.join(" / ")}.`,
    resultLines,
  );
}
