/**
 * The chaos run's final checks (issue 9), once the rig is at rest: DynamoDB equals the emulator's truth
 * (0 missing, 0 stale, 0 extra), the status document agrees with what is stored, the TikTok calls the
 * sync counted are the requests the emulator received, push really ran, and the logs hold no secret or
 * personal data. Also the counts of what the emulator saw injected.
 */
import { paginateQuery } from "@aws-sdk/lib-dynamodb";
import type { InvalidOrderField } from "../../infra/local/tiktok-emulator";
import { pushStatsStore } from "../../shared/app/push-status";
import type { Runtime } from "../../shared/app/runtime";
import { createSyncService } from "../../shared/app/service";
import { MAX_ITEM_BYTES } from "../../shared/store/item-size";
import type { CrashPoint } from "../../shared/sync/full-resync/deps";
import type { JobProgress } from "../../shared/sync/full-resync/progress";
import type { TikTokOrder } from "../../shared/tiktok/api-types";
import { diffWithTruth } from "../support/truth";
import { CRASH_POINTS } from "./injectors";
import type { ChaosPlan } from "./plan";
import type { ChaosRig } from "./rig";

export interface ChaosResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly plan: ChaosPlan;
  /** What was really injected (counts). */
  readonly injected: Record<string, number>;
  /** Empty when ok; else each difference found. */
  readonly problems: readonly string[];
  /** What the checks found after `tamper` (empty when no tamper was given). */
  readonly recheckProblems: readonly string[];
  readonly stored: number;
  readonly durationMs: number;
  /** Secrets and personal data the run handled: none may appear in its logs. */
  readonly secrets: ReadonlySet<string>;
  readonly personalData: ReadonlySet<string>;
  /** The product's log lines (when the default recorder was used). */
  readonly logText: string;
}

/**
 * Checks the rig at rest (`progress`: the job's last progress), runs `afterChecks` and the checks again if
 * given, and reports the run.
 */
export async function checkRig(rig: ChaosRig, progress: JobProgress | undefined): Promise<ChaosResult> {
  const { options, emulator, shopId, invalid, injected, problems } = rig;
  const tickRuntime = rig.runtimes.tick;
  rig.print(`  seed ${options.seed}: at rest, checking`);
  const truth = emulator.truth(shopId);
  const oversized = new Set(emulator.oversizedOrders(shopId).keys());
  const checkAll = async () => {
    const found: string[] = [];
    const expected = truth.filter((order) => !invalid.has(order.id) && !oversized.has(order.id));
    const diff = await diffWithTruth(tickRuntime.documents, rig.tables.ordersTable, shopId, expected);
    const list = (ids: readonly string[]) =>
      `${ids.length} (${ids.slice(0, 10).join(", ")}${ids.length > 10 ? ", …" : ""})`;
    if (diff.missing.length > 0) {
      const byId = new Map(truth.map((order) => [order.id, order]));
      const details = diff.missing.slice(0, 5).map((id) => {
        const order = byId.get(id);
        return `${id} created ${order?.create_time} updated ${order?.update_time} ${order?.status}`;
      });
      found.push(`missing orders: ${list(diff.missing)} — ${details.join("; ")}`);
    }
    if (diff.stale.length > 0) found.push(`stale orders: ${list(diff.stale)}`);
    if (diff.extra.length > 0) found.push(`extra orders: ${list(diff.extra)}`);
    if (diff.stored !== expected.length) {
      found.push(
        `stored ${diff.stored} orders, the truth has ${expected.length} valid ones that fit an item`,
      );
    }
    found.push(
      ...(await checkStatus({
        runtime: tickRuntime,
        shopId,
        truth,
        invalid,
        oversized,
        quarantined: await quarantineItems(tickRuntime, shopId),
        crashes: (point) => injected[`crash:${point}`] ?? 0,
      })),
    );
    return { found, stored: diff.stored };
  };
  const checked = await checkAll();
  problems.push(...checked.found);
  // api_calls counts every HTTP request sent to TikTok, retries, timeouts and refreshes included.
  const metered = Object.values(rig.runtimes).reduce((total, runtime) => total + runtime.apiCalls.calls, 0);
  if (metered !== emulator.counters().total) {
    problems.push(
      `the sync counted ${metered} TikTok calls, the emulator received ${emulator.counters().total}`,
    );
  }
  let recheckProblems: string[] = [];
  if (options.afterChecks) {
    await options.afterChecks({ runtime: tickRuntime, ordersTable: rig.tables.ordersTable, shopId, truth });
    recheckProblems = (await checkAll()).found;
  }
  for (const [outcome, value] of Object.entries(emulator.counters().byOutcome)) {
    if (outcome !== "ok" && outcome !== "total" && value > 0) injected[`api:${outcome}`] = value;
  }
  for (const [kind, value] of Object.entries(emulator.counters().faultsByKind)) {
    injected[`fault:${kind}`] = value;
  }
  injected.apiCalls = emulator.counters().total;
  injected.lockedTicks = rig.outcomes.filter((outcome) => outcome.status === "locked").length;
  injected.completedTicks = rig.outcomes.filter((outcome) => outcome.status === "completed").length;
  injected.windowRestarts = progress?.restarts ?? 0;
  injected.windowSplits = progress?.splits ?? 0;
  if (injected.lockedTicks === 0) problems.push("no tick ever found the dead holder's lock");
  // Push really ran: webhooks delivered (some dropped, some twice), consumed, orders refreshed by them.
  const webhookCounts = emulator.webhookCounters();
  for (const kind of ["emitted", "delivered", "dropped", "duplicated", "failed"] as const) {
    injected[`webhooks:${kind}`] = webhookCounts[kind];
  }
  const push = await pushStatsStore(rig.runtimes.webhook).get(shopId);
  injected["push:ordersRefreshed"] = push?.orders_refreshed ?? 0;
  if (webhookCounts.delivered === 0) problems.push("no webhook was delivered");
  if (!push || push.orders_refreshed === 0) {
    problems.push(`webhooks refreshed no order (push status: ${JSON.stringify(push ?? null)})`);
  }
  const logText = rig.recorder?.text() ?? "";
  const personalData = personalDataOf(truth);
  if (rig.recorder) problems.push(...scanLogs(logText, rig.secrets, personalData));
  return {
    seed: options.seed,
    ok: problems.length === 0,
    plan: rig.plan,
    injected,
    problems,
    recheckProblems,
    stored: checked.stored,
    durationMs: Date.now() - rig.started,
    secrets: rig.secrets,
    personalData,
    logText,
  };
}

/**
 * "Status counters agree with what is stored" (docs/sync-protocol.md "Guarantees"), on the status route's document:
 * - job: COMPLETED, no open or failed window; `orders − quarantined` (what the job stored, each order
 *   once; the value finalize writes as `records_synced`) = the valid orders of the truth in its range
 *   that fit an item (bulk orders are quarantined);
 * - `quarantined_orders` = QUARANTINE items = the invalid orders the API served plus the bulk orders,
 *   one item each; each bulk order's item records a size beyond DynamoDB's limit;
 * - last run: `records_synced` = its inserted + updated; the cursor is the run's window end, in the past;
 *   no incremental run left stopped (`incremental_stopped` null);
 * - `dlq_depth` 0, the token not in need of re-authorization.
 * (checkRig adds: the API calls the runtimes metered = the requests the emulator received.)
 */
async function checkStatus(input: {
  runtime: Runtime;
  shopId: string;
  truth: readonly TikTokOrder[];
  invalid: ReadonlyMap<string, InvalidOrderField>;
  oversized: ReadonlySet<string>;
  quarantined: ReadonlyMap<string, number | undefined>;
  /** Workers killed at a crash point. */
  crashes: (point: CrashPoint) => number;
}): Promise<string[]> {
  const { runtime, shopId, truth, invalid, oversized, quarantined } = input;
  const problems: string[] = [];
  const [status] = (await createSyncService(runtime).status([shopId])) as Record<string, unknown>[];
  if (!status) return ["the status route lists no shop"];
  const job = status.job as JobProgress | null;
  if (!job) problems.push("status shows no full-resync job");
  else {
    if (job.status !== "COMPLETED") problems.push(`job ${job.job_id} is ${job.status}: ${job.reason ?? ""}`);
    if (job.windows.open !== 0 || job.windows.failed !== 0) {
      problems.push(`job windows: ${JSON.stringify(job.windows)}`);
    }
    const from = Date.parse(job.range.from) / 1000;
    const to = Date.parse(job.range.to) / 1000;
    const inRange = truth.filter(
      (order) =>
        !invalid.has(order.id) &&
        !oversized.has(order.id) &&
        order.create_time >= from &&
        order.create_time < to,
    ).length;
    if (job.orders - job.quarantined !== inRange) {
      problems.push(
        `job stored ${job.orders - job.quarantined} orders (orders ${job.orders} − quarantined ${job.quarantined}), the truth has ${inRange} in its range`,
      );
    }
  }
  const expectedQuarantined = invalid.size + oversized.size;
  if (status.quarantined_orders !== expectedQuarantined || quarantined.size !== expectedQuarantined) {
    problems.push(
      `quarantined: status ${String(status.quarantined_orders)}, items ${quarantined.size} (${[...quarantined.keys()].join(", ")}), invalid orders served ${invalid.size} + bulk orders ${oversized.size}`,
    );
  }
  for (const [id, field] of invalid) {
    if (field !== "id" && !quarantined.has(id)) problems.push(`invalid order ${id} not quarantined`);
  }
  for (const id of oversized) {
    const size = quarantined.get(id);
    if (size === undefined || size <= MAX_ITEM_BYTES) {
      problems.push(`bulk order ${id} not quarantined for its size (item: ${String(size)})`);
    }
  }
  if (status.incremental_stopped !== null) {
    problems.push(`an incremental run is left stopped: ${JSON.stringify(status.incremental_stopped)}`);
  }
  const lastRun = status.last_run as { inserted: number; updated: number; window_end: number } | null;
  if (status.sync_type !== "incremental" || !lastRun) problems.push("status shows no last incremental run");
  else {
    if (status.records_synced !== lastRun.inserted + lastRun.updated) {
      problems.push(`records_synced ${String(status.records_synced)} ≠ last run's inserted + updated`);
    }
    if (status.cursor !== new Date(lastRun.window_end * 1000).toISOString()) {
      problems.push(`cursor ${String(status.cursor)} is not the last run's window end`);
    }
  }
  if (status.dlq_depth !== 0) problems.push(`dlq_depth ${String(status.dlq_depth)}`);
  const token = status.token as { needs_reauth: boolean } | null;
  if (!token || token.needs_reauth) problems.push(`token: ${JSON.stringify(token)}`);
  for (const point of CRASH_POINTS) {
    if (!input.crashes(point)) problems.push(`no worker was killed ${point}`);
  }
  return problems;
}

/** Every secret or personal value found in the logs (an empty list when clean). */
export function scanLogs(
  logText: string,
  secrets: ReadonlySet<string>,
  personalData: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  for (const secret of secrets) {
    if (secret.length >= 8 && logText.includes(secret)) {
      problems.push(`a secret (${secret.slice(0, 4)}…, ${secret.length} chars) appears in the logs`);
    }
  }
  for (const value of personalData) {
    if (logText.includes(value)) problems.push(`personal data "${value.slice(0, 3)}…" appears in the logs`);
  }
  if (/sign=[0-9a-f]{16,}/i.test(logText)) problems.push("a request signature (sign=…) appears in the logs");
  return problems;
}

/** Recipient personal data in the truth: names, phones, addresses, e-mails (strings of 6+ chars). */
function personalDataOf(orders: readonly TikTokOrder[]): Set<string> {
  const found = new Set<string>();
  const walk = (value: unknown) => {
    if (typeof value === "string") {
      if (value.length >= 6) found.add(value);
    } else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === "object") Object.values(value).forEach(walk);
  };
  for (const order of orders) {
    const record = order as unknown as Record<string, unknown>;
    walk(record.recipient_address);
    walk(record.buyer_email);
  }
  // Region and country codes are not personal, and may well appear in a log line.
  for (const common of ["United States", "United Kingdom"]) found.delete(common);
  return found;
}

/** The shop's QUARANTINE items: order id → the size recorded (bulk orders), or undefined (invalid ones). */
async function quarantineItems(runtime: Runtime, shopId: string): Promise<Map<string, number | undefined>> {
  const items = new Map<string, number | undefined>();
  for await (const page of paginateQuery(
    { client: runtime.documents },
    {
      TableName: runtime.config.STATE_TABLE_NAME,
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": `SHOP#${shopId}`, ":prefix": "QUARANTINE#" },
      ProjectionExpression: "sk, sizeBytes",
    },
  )) {
    for (const item of page.Items ?? []) {
      const size = item.sizeBytes;
      items.set(String(item.sk).slice("QUARANTINE#".length), typeof size === "number" ? size : undefined);
    }
  }
  return items;
}
