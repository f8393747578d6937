import type { FullResyncDeps } from "./deps";

/**
 * Job progress for the status route and the local progress bar. Page-level counts live on the
 * windows (so page commits never contend on the job item) and are summed here; window states are
 * counted from the windows themselves. Split parents are replaced by their children: they count
 * neither in `windows` nor in the sums of orders (the page a split kept is counted on its first child,
 * as `carried`); their API calls are counted.
 */

import type { JobStatus, WindowRecord } from "./model";
import { JobNotFoundError } from "./resync-errors";

export interface JobProgress {
  readonly job_id: string;
  readonly shop_id: string;
  readonly status: JobStatus;
  /** The create_time range, ISO 8601 UTC: [from, to). */
  readonly range: { readonly from: string; readonly to: string };
  readonly full_history: boolean;
  /** total = open + done + failed. */
  readonly windows: {
    readonly total: number;
    readonly open: number;
    readonly done: number;
    readonly failed: number;
  };
  /** Orders stored (or quarantined) by the job, each once. */
  readonly orders: number;
  /** Orders the windows' first pages (or the planner) announced. */
  readonly expected_orders: number;
  readonly pages: number;
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly stale: number;
  readonly quarantined: number;
  /** HTTP requests to TikTok, retries included (planner probes too). */
  readonly api_calls: number;
  readonly successful_search_calls: number;
  readonly throttled: number;
  /** Planning probes and window splits, reported beside the floor ceil(orders / 100). */
  readonly probes: number;
  readonly splits: number;
  /** By-value restarts (refused page tokens, capped queries). */
  readonly restarts: number;
  readonly started: string;
  readonly finished: string | null;
  /** Orders per second since the start. */
  readonly rate: number;
  /** ISO 8601 estimate of the end while running, else null. */
  readonly eta: string | null;
  readonly failed_windows?: readonly { readonly window: number; readonly reason: string }[];
  readonly reason?: string;
}

/** Progress of `jobId`, or of the shop's last job; undefined when the shop never had one. */
export async function getJobProgress(
  deps: Pick<FullResyncDeps, "jobs" | "windows" | "clock">,
  shopId: string,
  jobId?: string,
): Promise<JobProgress | undefined> {
  const id = jobId ?? (await deps.jobs.getJobPointers(shopId)).lastJobId;
  if (!id) return undefined;
  const job = await deps.jobs.getJob(shopId, id);
  if (!job) {
    if (jobId) throw new JobNotFoundError(shopId, jobId);
    return undefined;
  }
  const all = await deps.windows.listWindows(shopId, id);
  const windows = all.filter((window) => window.status !== "SPLIT");
  const sum = (field: keyof WindowRecord, list: readonly WindowRecord[] = windows) =>
    list.reduce((total, window) => total + (Number(window[field]) || 0), 0);
  const open = windows.filter((window) => window.status === "OPEN").length;
  const done = windows.filter((window) => window.status === "DONE").length;
  const failed = windows.filter((window) => window.status === "FAILED");
  const orders = sum("orders");
  const expected = windows.reduce(
    (total, window) =>
      total +
      (window.status === "DONE"
        ? window.orders
        : Math.max(
            window.orders,
            window.totalCount !== undefined
              ? window.totalCount + (window.carried ?? 0)
              : (window.expected ?? 0),
          )),
    0,
  );
  const now = deps.clock.nowMs();
  const startedMs = Date.parse(job.startedAt);
  const endMs = job.finishedAt ? Date.parse(job.finishedAt) : now;
  const elapsedSeconds = Math.max(0.001, (endMs - startedMs) / 1000);
  const rate = orders / elapsedSeconds;
  let eta: string | null = null;
  if (job.status === "RUNNING" && job.phase === "running" && rate > 0) {
    eta = new Date(now + (Math.max(0, expected - orders) / rate) * 1000).toISOString();
  }
  // Split parents spent calls too (their first page): count them in the API figures.
  return {
    job_id: job.jobId,
    shop_id: shopId,
    status: job.status,
    range: {
      from: new Date(job.rangeStart * 1000).toISOString(),
      to: new Date(job.rangeEnd * 1000).toISOString(),
    },
    full_history: job.fullHistory,
    windows: { total: windows.length, open, done, failed: failed.length },
    orders,
    expected_orders: expected,
    pages: sum("pages"),
    inserted: sum("inserted"),
    updated: sum("updated"),
    unchanged: sum("unchanged"),
    stale: sum("stale"),
    quarantined: sum("quarantined"),
    api_calls: job.plannerApiCalls + sum("apiCalls", all),
    successful_search_calls: job.plannerSuccessfulSearches + sum("successfulSearches", all),
    throttled: sum("throttled", all),
    probes: job.probes,
    splits: job.splits,
    restarts: sum("restarts", all),
    started: job.startedAt,
    finished: job.finishedAt ?? null,
    rate: Math.round(rate * 10) / 10,
    eta,
    ...(failed.length > 0
      ? {
          failed_windows: failed.map((window) => ({
            window: window.window,
            reason: window.failedReason ?? "",
          })),
        }
      : {}),
    ...(job.reason ? { reason: job.reason } : {}),
  };
}
