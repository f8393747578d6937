/**
 * The end of every scenario: what DynamoDB holds for the shop against the emulator's truth. Every order
 * is compared on (id, update_time) through `truthSummary` (cheap even for 283k orders); contents are
 * compared on a random sample of runs of 100 orders (rebuilding 283k full objects would take ~600 MB
 * and minutes), or on every order when the shop is no bigger than the sample: each sampled order is
 * read whole through readStoredOrder (the consumers' reader) and its content hashed again.
 *
 * A full resync is also held to what it reports and leaves behind (`checkFullResyncJob`): the checks
 * the integration test made on a 20,000-order job before it shrank to test size, the call bound among them.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { TikTokEmulator } from "../infra/local/tiktok-emulator";
import { SeededRandom } from "../infra/local/tiktok-emulator/prng";
import type { TikTokOrder } from "../shared/tiktok/api-types";
import { holdsTruth, readStoredOrdersById, storedOrders } from "../test/support/truth";

export interface CheckResult {
  readonly ok: boolean;
  readonly expected: number;
  readonly stored: number;
  readonly missing: number;
  /** Older update_time than the truth, or (sampled) different content. */
  readonly stale: number;
  readonly extra: number;
  readonly hashesCompared: number;
  readonly hashMismatches: number;
  /** A few offending ids, for the log. */
  readonly examples: readonly string[];
  /** Anything else found wrong (a full resync's own figures, its status, metrics, DLQ). */
  readonly problems: readonly string[];
  readonly ms: number;
}

const RUN = 100;

/** The first position whose create_time is at or after `time` (orders sorted by create_time). */
function firstIndexAtOrAfter(orders: readonly { create_time: number }[], time: number): number {
  let low = 0;
  let high = orders.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((orders[middle]?.create_time ?? 0) < time) low = middle + 1;
    else high = middle;
  }
  return low;
}

export async function checkAgainstTruth(input: {
  readonly emulator: TikTokEmulator;
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly shopId: string;
  readonly hashSample: number;
  readonly seed?: number;
  /** Only the orders created in [from, to) (unix seconds) belong in the table. */
  readonly createTimeRange?: { readonly from: number; readonly to: number };
}): Promise<CheckResult> {
  const { emulator, shopId } = input;
  const started = performance.now();
  // The truth comes in create_time order, so a create_time range is one slice of it.
  const all = emulator.truthSummary(shopId);
  const range = input.createTimeRange;
  const first = range ? firstIndexAtOrAfter(all, range.from) : 0;
  const truth = range ? all.slice(first, firstIndexAtOrAfter(all, range.to)) : all;
  const stored = await storedOrders(input.documents, input.tableName, shopId);
  const examples: string[] = [];
  const note = (kind: string, id: string) => {
    if (examples.length < 8) examples.push(`${kind} ${id}`);
  };
  let missing = 0;
  let stale = 0;
  const truthIds = new Set<string>();
  for (const order of truth) {
    truthIds.add(order.id);
    const item = stored.get(order.id);
    if (!item) {
      missing += 1;
      note("missing", order.id);
    } else if (item.updateTime !== order.update_time) {
      stale += 1;
      note(`stale (stored ${item.updateTime}, truth ${order.update_time})`, order.id);
    }
  }
  let extra = 0;
  for (const id of stored.keys()) {
    if (!truthIds.has(id)) {
      extra += 1;
      note("extra", id);
    }
  }

  // The sampled orders are read whole, through the consumers' reader, and their content hashed again.
  const sampled: TikTokOrder[] = [];
  const sample = (offset: number, limit: number) => {
    sampled.push(...emulator.truth(shopId, { offset: first + offset, limit }));
  };
  if (truth.length <= input.hashSample) {
    sample(0, truth.length);
  } else {
    // Seeded, so a run samples the same orders each time.
    const random = new SeededRandom(input.seed ?? 2026);
    for (let run = 0; run < Math.ceil(input.hashSample / RUN); run += 1) {
      sample(Math.floor(random.next() * (truth.length - RUN)), RUN);
    }
  }
  const read = await readStoredOrdersById(
    input.documents,
    input.tableName,
    shopId,
    sampled
      .filter((order) => stored.get(order.id)?.updateTime === order.update_time)
      .map((order) => order.id),
  );
  let hashesCompared = 0;
  let hashMismatches = 0;
  for (const order of sampled) {
    const item = read.get(order.id);
    if (!item) continue;
    hashesCompared += 1;
    if (!holdsTruth(item, order)) {
      hashMismatches += 1;
      note("content differs", order.id);
    }
  }
  stale += hashMismatches;
  return {
    ok: missing === 0 && stale === 0 && extra === 0,
    expected: truth.length,
    stored: stored.size,
    missing,
    stale,
    extra,
    hashesCompared,
    hashMismatches,
    examples,
    problems: [],
    ms: performance.now() - started,
  };
}

/**
 * Successful search calls a full resync of `orders` orders in `windows` windows may make: the floor
 * ceil(orders / 100), one partial last page per window beyond the first, the planner's probes, and per
 * split at most one page more (a split keeps the page it read; its first child goes on by value from
 * that page's newest second, reading the ids there again).
 */
export function fullResyncCallBound(orders: number, windows: number, probes: number, splits: number): number {
  return Math.ceil(orders / 100) + Math.max(0, windows - 1) + probes + splits;
}

/** What the job reported (its status document), and what the run observed around it. */
export interface FullResyncJobFacts {
  readonly jobId: string;
  /** The job's progress when it ended (getJobProgress's fields). */
  readonly progress: Readonly<Record<string, unknown>>;
  /** Orders the job's range holds in the truth. */
  readonly scopeOrders: number;
  /** Successful search calls the emulator served while the job ran. */
  readonly emulatorSuccessfulSearches: number;
  /** The shop's META item after the job. */
  readonly meta: Readonly<Record<string, unknown>> | undefined;
  /** The cursor META must hold: the job's windowEnd for a first sync, else what it held before. */
  readonly expectedCursor: number | undefined;
  /** JobOrders summed and JobWindowsOpen's last value, as the sync process recorded them. */
  readonly metrics: { readonly jobOrders: number; readonly lastWindowsOpen: number | undefined };
  readonly dlqDepth: number;
}

/**
 * A full resync's own accounting against what happened: COMPLETED with every window done, every order of
 * its range counted once, the searches it counted = the searches TikTok served, within the call bound,
 * META recording the full sync, the metrics, and nothing dead-lettered. Empty when all holds.
 */
export function checkFullResyncJob(facts: FullResyncJobFacts): string[] {
  const problems: string[] = [];
  const expect = (what: string, actual: unknown, expected: unknown) => {
    if (actual !== expected)
      problems.push(`${what} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  };
  const { progress, scopeOrders } = facts;
  const number = (field: string) => Number(progress[field] ?? Number.NaN);
  const windows = (progress.windows ?? {}) as {
    total?: number;
    open?: number;
    done?: number;
    failed?: number;
  };
  expect("job status", progress.status, "COMPLETED");
  expect("job orders", progress.orders, scopeOrders);
  expect("job inserted + unchanged", number("inserted") + number("unchanged"), scopeOrders);
  expect("job quarantined", progress.quarantined, 0);
  expect("job eta", progress.eta, null);
  expect("open windows", windows.open, 0);
  expect("failed windows", windows.failed, 0);
  expect("done windows", windows.done, windows.total);
  const searches = facts.emulatorSuccessfulSearches;
  expect("successful searches the job counted", progress.successful_search_calls, searches);
  const bound = fullResyncCallBound(scopeOrders, windows.total ?? 0, number("probes"), number("splits"));
  if (!(searches <= bound)) {
    problems.push(
      `${searches} successful searches exceed the bound ${bound} (${Math.ceil(scopeOrders / 100)} + ` +
        `${windows.total} windows − 1 + ${number("probes")} probes + ${number("splits")} splits)`,
    );
  }
  const meta = facts.meta ?? {};
  expect("META sync_type", meta.sync_type, "full");
  expect("META is_full_sync", meta.is_full_sync, true);
  expect("META records_synced", meta.records_synced, scopeOrders);
  expect("META last_job_id", meta.last_job_id, facts.jobId);
  expect("META last_sync_time", meta.last_sync_time, progress.finished);
  expect("META cursor", meta.cursor, facts.expectedCursor);
  expect("JobOrders metric (sum)", facts.metrics.jobOrders, scopeOrders);
  expect("JobWindowsOpen metric (last)", facts.metrics.lastWindowsOpen, 0);
  expect("DLQ depth", facts.dlqDepth, 0);
  return problems;
}

/**
 * The baseline's table against the truth: every stored order is a real one with the current
 * update_time, and as many were stored as the pages run served (all of them when it ran to the end).
 */
export async function checkBaselineTable(input: {
  readonly emulator: TikTokEmulator;
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly shopId: string;
  readonly expectedCount: number;
}): Promise<CheckResult> {
  const started = performance.now();
  const truth = new Map(input.emulator.truthSummary(input.shopId).map((order) => [order.id, order]));
  const stored = await storedOrders(input.documents, input.tableName, input.shopId);
  const examples: string[] = [];
  let stale = 0;
  let extra = 0;
  for (const [id, item] of stored) {
    const order = truth.get(id);
    if (!order) {
      extra += 1;
      if (examples.length < 8) examples.push(`extra ${id}`);
    } else if (order.update_time !== item.updateTime) {
      stale += 1;
      if (examples.length < 8) examples.push(`stale ${id}`);
    }
  }
  const missing = Math.max(0, input.expectedCount - (stored.size - extra));
  return {
    ok: missing === 0 && stale === 0 && extra === 0,
    expected: input.expectedCount,
    stored: stored.size,
    missing,
    stale,
    extra,
    hashesCompared: 0,
    hashMismatches: 0,
    examples,
    problems: [],
    ms: performance.now() - started,
  };
}
