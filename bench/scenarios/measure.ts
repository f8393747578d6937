/** What every scenario measures around its timed section, and how it prints a check. */
import os from "node:os";
import type { LocalAws } from "../../infra/local/emulators";
import type { TikTokEmulator } from "../../infra/local/tiktok-emulator";
import { SHOP_ID } from "../fixtures";
import { machineCpuSeconds, processCpuSeconds } from "../instrument";
import type { ProcessMeters } from "../protocol";
import { type CpuWindow, fmtInt, fmtMs } from "../report";
import type { ProductContext } from "../rig";
import type { SyncChild } from "../sync-child";
import { type CheckResult, checkAgainstTruth } from "../verify";

export interface CpuMark {
  readonly at: number;
  readonly machine: { busy: number; total: number };
  readonly dynamodbLocal: number;
  readonly sqsEmulator: number;
  readonly syncProcess: number;
  readonly bench: number;
}

export function cpuMark(aws: LocalAws, sync: SyncChild | undefined): CpuMark {
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

export function cpuWindow(before: CpuMark, after: CpuMark): CpuWindow {
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

export function apiCallsSince(emulator: TikTokEmulator, before: ReturnType<TikTokEmulator["counters"]>) {
  const after = emulator.counters();
  return {
    total: after.total - before.total,
    ok: after.byOutcome.ok - before.byOutcome.ok,
    rateLimited: after.byOutcome.rateLimited - before.byOutcome.rateLimited,
    successfulSearches: after.successfulSearchCalls - before.successfulSearchCalls,
  };
}

/** The product's orders table against the emulator's truth (scenarios 2–5). */
export function checkProduct(context: ProductContext): Promise<CheckResult> {
  return checkAgainstTruth({
    emulator: context.emulator,
    documents: context.documents,
    tableName: context.product.target.tables.ordersTable,
    shopId: SHOP_ID,
    hashSample: context.settings.hashSample,
  });
}

export function describeCheck(name: string, check: CheckResult): string {
  const figures =
    `${fmtInt(check.stored)} stored / ${fmtInt(check.expected)} expected, ${check.missing} missing, ` +
    `${check.stale} stale, ${check.extra} extra, ${fmtInt(check.hashesCompared)} hashes compared ` +
    `(${fmtMs(check.ms)})`;
  const examples = check.examples.length > 0 ? `\n      e.g. ${check.examples.join("; ")}` : "";
  const problems = check.problems.map((problem) => `\n      ✖ ${problem}`).join("");
  return `    check ${name}: ${check.ok ? "OK" : "FAILED"} — ${figures}${check.ok ? "" : examples + problems}`;
}

export function meterSummary(meters: ProcessMeters): Record<string, unknown> {
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
