/**
 * The sync service behind the HTTP API: turns requests into runs and jobs, and assembles the status
 * document (DESIGN "HTTP API"): the seed dashboard's field names plus cursor, lag, last run, job,
 * DLQ depth and token expiry — never the token itself.
 */
import { unixSeconds } from "../clock";
import type { SyncService } from "../http/api";
import { routeNamed } from "../http/routes";
import { pushStatsStore } from "./push-status";
import type { Runtime } from "./runtime";

const STATUS_PATH = routeNamed("status").path;

function iso(unix: number | undefined): string | null {
  return unix === undefined ? null : new Date(unix * 1000).toISOString();
}

/** The service needs the work queue: full resyncs and the reconciliation's healing run on it. */
export function createSyncService(runtime: Runtime): SyncService {
  const { fullResync, reconciliation } = runtime;
  if (!fullResync || !reconciliation) {
    throw new Error("WORK_QUEUE_URL is required for the sync API (full resyncs run on the work queue)");
  }
  const pushStats = pushStatsStore(runtime);

  return {
    configuration: () => runtime.configuration(),

    listShopIds: () => runtime.shops.ids(),

    async syncNow(shopId, options = {}) {
      const outcome = await runtime.incremental(shopId, options);
      const statusUrl = `${STATUS_PATH}?shop_id=${encodeURIComponent(shopId)}`;
      switch (outcome.status) {
        case "completed":
          return {
            run_id: outcome.runId,
            sync_type: "incremental",
            status: "completed",
            status_url: statusUrl,
            last_run: outcome.lastRun,
          };
        case "full-sync-started":
          return {
            job_id: outcome.jobId,
            run_id: outcome.runId,
            sync_type: "full",
            status: "started",
            status_url: statusUrl,
          };
        case "locked":
          return { run_id: null, sync_type: "incremental", status: "already_running", status_url: statusUrl };
        default:
          // Out of time (the request's deadline) or lock lost: the checkpoint is kept, the next tick resumes.
          return {
            run_id: outcome.runId,
            sync_type: "incremental",
            status: "continuing",
            status_url: statusUrl,
          };
      }
    },

    async startFullResync(shopId, range, options = {}) {
      const result = await fullResync.start(shopId, range, options);
      return {
        ...result,
        job_id: result.jobId,
        sync_type: "full",
        status_url: `${STATUS_PATH}?shop_id=${encodeURIComponent(shopId)}`,
      };
    },

    async status(shopIds) {
      const dlqDepth = await fullResync.deadLetterDepth();
      const configuration = runtime.configuration();
      return Promise.all(
        shopIds.map(async (shopId) => {
          const [meta, token, quarantined, push] = await Promise.all([
            runtime.state.getMeta(shopId),
            runtime.shops.tokenStatus(shopId),
            runtime.state.countQuarantined(shopId),
            pushStats.get(shopId),
          ]);
          const job = await fullResync.progress(shopId);
          const reconciled = await reconciliation.status(shopId);
          return {
            shop_id: shopId,
            // The app credentials (one per deployment): without them nothing syncs.
            configured: configuration.configured,
            ...(configuration.configured ? {} : { not_configured_reason: configuration.reason }),
            sync_type: meta?.sync_type ?? null,
            last_sync_time: meta?.last_sync_time ?? null,
            last_record_time: meta?.last_record_time ?? null,
            records_synced: meta?.records_synced ?? 0,
            is_full_sync: meta?.is_full_sync ?? false,
            cursor: iso(meta?.cursor),
            lag_seconds:
              meta?.cursor === undefined ? null : Math.max(0, unixSeconds(runtime.clock) - meta.cursor),
            last_run: meta?.last_run ?? null,
            // An incremental run stopped at one second TikTok's search cannot get past (until one completes).
            incremental_stopped: meta?.incremental_stopped ?? null,
            quarantined_orders: quarantined,
            job: job ?? null,
            // Issue 18: the last comparison of TikTok's counts with the stored ones, and its healing.
            reconciliation: reconciled,
            dlq_depth: dlqDepth,
            // What TikTok's webhooks did for the shop (null until the first one).
            push: push ?? null,
            // The shop's authorization (shared by every shop of the seller's grant); never the tokens.
            token: token.pair
              ? {
                  authorization: token.authId,
                  expires_at: iso(token.pair.accessTokenExpiresAt),
                  refresh_expires_at: token.pair.refreshTokenExpiresAt
                    ? iso(token.pair.refreshTokenExpiresAt)
                    : null,
                  needs_reauth: token.pair.needsReauth === true,
                  // Announced by TikTok's "authorization expiring" webhook (type 7): authorize again before.
                  ...(token.pair.authorizationExpiresAt
                    ? { authorization_expires_at: iso(token.pair.authorizationExpiresAt) }
                    : {}),
                  ...(token.pair.needsReauth
                    ? {
                        reauth_reason: token.pair.reauthReason ?? null,
                        reauth_command: `npm run reauth -- --auth ${token.authId} --auth-code <code>`,
                      }
                    : {}),
                }
              : {
                  authorization: token.authId,
                  expires_at: null,
                  needs_reauth: true,
                  reauth_reason: "no token stored",
                },
          };
        }),
      );
    },

    webhookSummary: async () => {
      const summary = await pushStats.summary();
      return summary ? { ...summary } : undefined;
    },

    cancelJob: async (shopId, jobId) => ({ ...(await fullResync.cancel(shopId, jobId)) }),
    resumeJob: async (shopId, jobId) => ({ ...(await fullResync.resume(shopId, jobId)) }),

    async reconcile(shopId, options = {}) {
      const result = await reconciliation.reconcile(shopId, { ...options, trigger: "api" });
      const iso = (unix: number) => new Date(unix * 1000).toISOString();
      const ranges = (list: readonly { from: number; to: number; tiktok: number; stored: number }[]) =>
        list.map((range) => ({
          from: iso(range.from),
          to: iso(range.to),
          tiktok: range.tiktok,
          stored: range.stored,
          missing: range.tiktok - range.stored,
        }));
      const skipped = result.status === "skipped";
      return {
        sync_type: "reconciliation",
        run_id: result.runId,
        status: result.status,
        ...(result.reason ? { reason: result.reason } : {}),
        ...(skipped && result.jobId ? { running_job_id: result.jobId } : {}),
        ...(result.window ? { window: { from: iso(result.window.from), to: iso(result.window.to) } } : {}),
        ...(result.checkedUntil !== undefined ? { checked_until: iso(result.checkedUntil) } : {}),
        ranges_checked: result.rangesChecked,
        ranges_mismatched: result.rangesMismatched,
        orders_missing: result.ordersMissing,
        extra_orders: result.extraOrders,
        healing:
          result.healedRanges.length > 0 && result.jobId
            ? { job_id: result.jobId, ranges: ranges(result.healedRanges) }
            : null,
        pending_ranges: ranges(result.pendingRanges),
        persisting_drift: result.persisting,
        api_calls: result.apiCalls,
        duration_ms: result.durationMs,
        status_url: `${STATUS_PATH}?shop_id=${encodeURIComponent(shopId)}`,
      };
    },
  };
}
