/**
 * The reconciliation (issue 18; shared/sync/reconciliation) as the Runtime builds it beside the full
 * resync: its ports from the runtime's stores, its healing the full resync's ranged job. Also assembles
 * the status route's `reconciliation` block.
 */

import { OrderCounts } from "../store/order-counts";
import { ReconciliationStore } from "../store/reconciliation-store";
import type { FullResyncDeps } from "../sync/full-resync/deps";
import { startFullResync } from "../sync/full-resync/planner";
import { getJobProgress } from "../sync/full-resync/progress";
import type { ComparedRange } from "../sync/reconciliation/model";
import {
  type ReconcileOptions,
  type ReconciliationDeps,
  type ReconciliationSettings,
  reconcileShop,
  reconciliationSettings,
  type ShopReconciliation,
} from "../sync/reconciliation/reconcile-shop";
import type { FullResyncParts } from "./full-resync-wiring";

export interface Reconciliation {
  readonly deps: ReconciliationDeps;
  reconcile(shopId: string, options?: ReconcileOptions): Promise<ShopReconciliation>;
  /** The status route's `reconciliation` block; null before the shop's first run. */
  status(shopId: string): Promise<Record<string, unknown> | null>;
  /** When the shop's last run started (ms), for scheduling the least recently reconciled shops first. */
  lastRunAtMs(shopId: string): Promise<number | undefined>;
}

function reconciliationDeps(
  parts: FullResyncParts,
  fullResync: FullResyncDeps,
  settings: Partial<ReconciliationSettings>,
): ReconciliationDeps {
  const { config } = parts;
  return {
    state: parts.state,
    jobs: fullResync.jobs,
    counts: new OrderCounts({ documents: parts.documents, tableName: config.ORDERS_TABLE_NAME }),
    store: new ReconciliationStore({
      documents: parts.documents,
      tableName: config.STATE_TABLE_NAME,
      clock: parts.clock,
    }),
    resolveShop: fullResync.resolveShop,
    apiCalls: parts.apiCalls,
    heal: async (shopId, segments, options) => {
      const started = await startFullResync(fullResync, shopId, { segments }, options);
      return { jobId: started.jobId, status: started.status };
    },
    clock: parts.clock,
    metrics: parts.metrics,
    log: parts.log,
    settings: reconciliationSettings({
      historyStart: fullResync.settings.historyStart,
      pageSize: fullResync.settings.pageSize,
      retentionDays: config.ORDER_RETENTION_DAYS,
      ...settings,
    }),
  };
}

function iso(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

function listed(ranges: readonly ComparedRange[], field: "missing" | "extra") {
  return ranges.map((range) => ({
    from: iso(range.from),
    to: iso(range.to),
    tiktok: range.tiktok,
    stored: range.stored,
    [field]: Math.abs(range.tiktok - range.stored),
  }));
}

export function buildReconciliation(
  parts: FullResyncParts,
  fullResync: FullResyncDeps,
  settings: Partial<ReconciliationSettings> = {},
): Reconciliation {
  const deps = reconciliationDeps(parts, fullResync, settings);
  return {
    deps,
    reconcile: (shopId, options) => reconcileShop(deps, shopId, options),
    async lastRunAtMs(shopId) {
      return (await deps.store.get(shopId))?.lastOutcome?.atMs;
    },
    async status(shopId) {
      const record = await deps.store.get(shopId);
      if (!record?.lastOutcome) return null;
      const { sweep, healing, lastOutcome } = record;
      // What the sweep's healing jobs restored (inserted) or brought up to date (updated).
      const jobs = await Promise.all(
        (sweep?.healingJobIds ?? []).map((jobId) =>
          getJobProgress(fullResync, shopId, jobId).catch(() => undefined),
        ),
      );
      const healed = jobs.reduce((sum, job) => sum + (job ? job.inserted + job.updated : 0), 0);
      const lastHealing = healing
        ? (jobs.find((job) => job?.job_id === healing.jobId) ??
          (await getJobProgress(fullResync, shopId, healing.jobId).catch(() => undefined)))
        : undefined;
      return {
        last_run: new Date(lastOutcome.atMs).toISOString(),
        last_run_status: lastOutcome.status,
        ...(lastOutcome.reason ? { last_run_reason: lastOutcome.reason } : {}),
        trigger: lastOutcome.trigger,
        sweep_complete: sweep ? sweep.next >= sweep.to : null,
        window: sweep ? { from: iso(sweep.from), to: iso(sweep.to) } : null,
        checked_until: sweep ? iso(sweep.next) : null,
        ranges_checked: sweep?.rangesChecked ?? 0,
        ranges_mismatched: sweep?.rangesMismatched ?? 0,
        orders_missing: sweep?.ordersMissing ?? 0,
        orders_healed: healed,
        extra_orders: sweep?.extraOrders ?? 0,
        extra_ranges: listed(sweep?.extraRanges ?? [], "extra"),
        pending_ranges: listed(sweep?.pending ?? [], "missing"),
        persisting_drift: listed(sweep?.persisting ?? [], "missing"),
        heal_failed: sweep?.healFailed
          ? { job_id: sweep.healFailed.jobId, status: sweep.healFailed.status }
          : null,
        healing: healing
          ? {
              job_id: healing.jobId,
              status: lastHealing?.status ?? null,
              ranges: listed(healing.ranges, "missing"),
              orders_healed: lastHealing ? lastHealing.inserted + lastHealing.updated : 0,
            }
          : null,
        unplaced_quarantined: sweep?.unplacedQuarantined ?? 0,
        api_calls: sweep?.apiCalls ?? 0,
      };
    },
  };
}
