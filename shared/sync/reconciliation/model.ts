/**
 * The reconciliation's record of a shop (issue 18): its sweep comparing TikTok's counts with the stored
 * ones, the last healing job, and the last run's outcome. Stored by the reconciliation repository (a
 * port, ../ports.ts; the DynamoDB adapter is shared/store/reconciliation-store.ts).
 */

/** A compared `create_time` range (unix seconds, [from, to)) and the two counts. */
export interface ComparedRange {
  readonly from: number;
  readonly to: number;
  /** TikTok's `total_count` for the range. */
  readonly tiktok: number;
  /** Orders stored for the range (orders table plus quarantined orders of the range). */
  readonly stored: number;
}

/** The comparison of one shop's history, checked month by month (possibly over several runs). */
export interface SweepState {
  /** The run that started it. */
  readonly id: string;
  readonly startedAtMs: number;
  /** The compared `create_time` window, fixed when the sweep starts: [from, to). */
  readonly from: number;
  readonly to: number;
  /** The next unchecked month starts here; `to` when the sweep is complete. */
  readonly next: number;
  readonly runs: number;
  readonly lastRunAtMs: number;
  readonly rangesChecked: number;
  readonly rangesMismatched: number;
  /** Orders TikTok has and the table does not, summed over the mismatching ranges. */
  readonly ordersMissing: number;
  /** Orders stored and unknown to TikTok (never deleted), summed over the ranges that hold them. */
  readonly extraOrders: number;
  /** The narrowed ranges holding extra orders (at most MAX_LISTED_RANGES). */
  readonly extraRanges: readonly ComparedRange[];
  /** Ranges found missing orders whose healing could not start yet (time, or a job running). */
  readonly pending: readonly ComparedRange[];
  /** Ranges still missing orders after a completed healing of the same range (at most MAX_LISTED_RANGES). */
  readonly persisting: readonly ComparedRange[];
  /** The healing jobs this sweep started (newest last, at most MAX_LISTED_JOBS). */
  readonly healingJobIds: readonly string[];
  /** A previous healing job that did not complete (FAILED or CANCELLED), found by this sweep. */
  readonly healFailed?: { readonly jobId: string; readonly status: string };
  /** TikTok requests the checks sent (planning the healing job is counted in the job). */
  readonly apiCalls: number;
  /** Quarantined orders without a create_time: TikTok counts them in some range we cannot place them in. */
  readonly unplacedQuarantined: number;
}

/** The last healing job started for the shop: drift found again in its ranges means healing did not hold. */
export interface HealingRecord {
  readonly jobId: string;
  readonly startedAtMs: number;
  readonly ranges: readonly ComparedRange[];
  /** Set once its failure (FAILED or CANCELLED) was reported, so it alarms once. */
  readonly failureReported?: boolean;
}

/** What the last run did (the status route shows it beside the sweep). */
export interface RunOutcome {
  readonly runId: string;
  readonly atMs: number;
  readonly trigger: "schedule" | "api" | "local";
  readonly status: "completed" | "partial" | "skipped" | "failed";
  /** Why a run was skipped or stopped early. */
  readonly reason?: string;
  /** The running job a skipped run found, or the healing job a run started. */
  readonly jobId?: string;
  readonly durationMs: number;
}

export interface ReconciliationRecord {
  readonly sweep?: SweepState;
  readonly healing?: HealingRecord;
  readonly lastOutcome?: RunOutcome;
}

export const MAX_LISTED_RANGES = 20;
export const MAX_LISTED_JOBS = 10;
