/**
 * The drift check of the reconciliation (issue 18) — not the full-resync reconciler of DESIGN rule 10,
 * which re-enqueues stalled windows of a running job. It compares, for a `create_time` range, TikTok's
 * `total_count` with the orders stored for that range, and narrows a range that differs by bisection:
 * the left half is counted on both sides, the right half is the parent's count minus the left's
 * (settled `create_time` ranges do not change), and only halves that still differ are split again.
 *
 * Bisection stops at a range that is cheaper to re-read than to narrow further:
 * - it holds at most `minRangeOrders` orders (a re-read of 500 orders is 5 calls; each split costs a
 *   probe and a stored count), or spans less than 2 × `minRangeSeconds`;
 * - or its difference is dense: at least one differing order for every two pages of the range, so the
 *   halves would both differ and splitting saves almost nothing.
 */

import type { Deadline } from "../../time-budget";
import type { ComparedRange } from "./model";

export interface DriftCheckSettings {
  /** A range holding at most this many orders (on either side) is not split further. */
  readonly minRangeOrders: number;
  /** A range shorter than twice this is not split further. */
  readonly minRangeSeconds: number;
  /** Orders per page of a re-read (the density rule). */
  readonly pageSize: number;
}

export const DEFAULT_DRIFT_CHECK_SETTINGS: DriftCheckSettings = {
  minRangeOrders: 500,
  minRangeSeconds: 3_600,
  pageSize: 100,
};

/** The two counts of a range, each bounded by the caller's deadline. */
export interface RangeCounts {
  tiktok(from: number, to: number, deadline: Deadline): Promise<number>;
  stored(from: number, to: number, deadline: Deadline): Promise<number>;
}

export interface DriftCheckResult {
  /** The narrowed ranges whose counts still differ (TikTok > stored: missing; < stored: extra). */
  readonly mismatched: readonly ComparedRange[];
  /** Ranges whose two counts were compared (the range itself and every half). */
  readonly rangesChecked: number;
}

/** Whether a differing range is narrowed further. */
export function shouldSplit(range: ComparedRange, settings: DriftCheckSettings): boolean {
  if (range.to - range.from < 2 * settings.minRangeSeconds) return false;
  if (Math.max(range.tiktok, range.stored) <= settings.minRangeOrders) return false;
  const difference = Math.abs(range.tiktok - range.stored);
  return difference * 2 * settings.pageSize < Math.max(range.tiktok, range.stored);
}

async function countBoth(counts: RangeCounts, from: number, to: number, deadline: Deadline) {
  const [tiktok, stored] = await Promise.all([
    counts.tiktok(from, to, deadline),
    counts.stored(from, to, deadline),
  ]);
  return { from, to, tiktok, stored };
}

/** Compares [from, to) and narrows it if it differs. Throws DeadlineExceededError when time runs out. */
export async function checkRange(
  counts: RangeCounts,
  range: { readonly from: number; readonly to: number },
  settings: DriftCheckSettings,
  deadline: Deadline,
): Promise<DriftCheckResult> {
  const root = await countBoth(counts, range.from, range.to, deadline);
  let rangesChecked = 1;
  const mismatched: ComparedRange[] = [];
  const toNarrow: ComparedRange[] = root.tiktok === root.stored ? [] : [root];
  for (let parent = toNarrow.pop(); parent; parent = toNarrow.pop()) {
    if (!shouldSplit(parent, settings)) {
      mismatched.push(parent);
      continue;
    }
    const middle = Math.floor((parent.from + parent.to) / 2);
    const left = await countBoth(counts, parent.from, middle, deadline);
    let right: ComparedRange = {
      from: middle,
      to: parent.to,
      tiktok: parent.tiktok - left.tiktok,
      stored: parent.stored - left.stored,
    };
    // A negative remainder means a count moved between the two reads: count the right half too.
    if (right.tiktok < 0 || right.stored < 0) right = await countBoth(counts, middle, parent.to, deadline);
    rangesChecked += 2;
    for (const half of [right, left]) if (half.tiktok !== half.stored) toNarrow.push(half);
  }
  return { mismatched: mismatched.sort((a, b) => a.from - b.from), rangesChecked };
}

/** Calendar months (UTC) covering [from, to): the first and last may be partial. */
export function calendarMonths(from: number, to: number): { from: number; to: number }[] {
  const months: { from: number; to: number }[] = [];
  for (let start = from; start < to; ) {
    const date = new Date(start * 1000);
    const next = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1) / 1000;
    const end = Math.min(next, to);
    months.push({ from: start, to: end });
    start = end;
  }
  return months;
}

/** The start of the calendar month (UTC) holding `at`. */
export function monthStart(at: number): number {
  const date = new Date(at * 1000);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1) / 1000;
}

/** Adjacent ranges (one's end is the next one's start) joined, for fewer segments in one job. */
export function joinAdjacent(ranges: readonly ComparedRange[]): ComparedRange[] {
  const joined: ComparedRange[] = [];
  for (const range of [...ranges].sort((a, b) => a.from - b.from)) {
    const last = joined.at(-1);
    if (last && last.to === range.from) {
      joined[joined.length - 1] = {
        from: last.from,
        to: range.to,
        tiktok: last.tiktok + range.tiktok,
        stored: last.stored + range.stored,
      };
    } else joined.push({ ...range });
  }
  return joined;
}
