/** What the full resync (planner, worker, reconciler, operator actions) is given: ports and settings. */
import type { Clock } from "../../clock";
import type { LogPort, MetricsPort } from "../../observability/telemetry";
import type {
  JobRepository,
  OrderRepository,
  OrderSearchPort,
  ShopRef,
  SyncStateRepository,
  WindowRepository,
} from "../ports";
import type { ScopedApiCallMeter } from "./api-calls";
import type { DeadLetterPort, WorkQueuePort } from "./work-queue";

/** A shop and the TikTok port to reach it (its own token and per-shop request budget). */
export interface ShopAccess {
  readonly shop: ShopRef;
  readonly tiktok: OrderSearchPort;
}

export interface FullResyncSettings {
  /** Newest orders are left to settle this long (the job's windowEnd = now − settle). */
  readonly settleSeconds: number;
  /** Default start of a full resync (unix seconds): the shop can hold nothing older. */
  readonly historyStart: number;
  readonly pageSize: number;
  /** Most pages a window should take; the planner sizes windows to this. */
  readonly pageBudget: number;
  /** Orders one query may page through (TIKTOK_RESULT_CAP); windows are sized not to exceed it. */
  readonly resultCap: number;
  /**
   * Planner probes at most (default 0: none). A window's first page is its own probe — it carries
   * total_count, and a window found too big splits there keeping the page it read — so the planner
   * writes one window over the whole range and the workers size it. Probes (page_size 1) only cost
   * calls; set this to size windows up front from exact counts instead (the first probe is the job's
   * total).
   */
  readonly maxProbes: number;
  /** Children at most when a worker splits a window. */
  readonly maxSplitFanout: number;
  /**
   * Windows the planner aims for at least (the worker concurrency), so a shop smaller than
   * `minWindows` full windows still keeps every worker busy; never below MIN_PAGES_PER_WINDOW pages.
   */
  readonly minWindows: number;
  readonly storeRecipientData: boolean;
  /** The work queue's visibility timeout: stall detection and the duplicate re-send grace use it. */
  readonly visibilityTimeoutSeconds: number;
  /** The work queue's redrive maxReceiveCount: the last attempt marks its window FAILED. */
  readonly maxReceiveCount: number;
  /** Reconciler re-enqueues of a window without progress before it is marked FAILED. */
  readonly maxRequeues: number;
  /**
   * By-value restarts in a row (refused page tokens) that commit no new order before the window is
   * marked FAILED: a second holding more than a page of orders, with every token refused, would
   * otherwise restart forever.
   */
  readonly maxRestartsWithoutProgress: number;
  /** A job still planning after this long was interrupted (the planner died): it is failed. */
  readonly planningTimeoutMs: number;
  /**
   * How long one work message may go on paging its window before sending its continuation (default a
   * third of the visibility timeout; the invocation's deadline bounds it too). 0: one page a message.
   */
  readonly maxRunMs?: number;
}

/** TikTok Shop opened in 2016: nothing older can exist, and empty years cost one probe each. */
export const DEFAULT_HISTORY_START = Date.UTC(2016, 0, 1) / 1000;

export function fullResyncSettings(
  settings: Partial<FullResyncSettings> &
    Pick<FullResyncSettings, "settleSeconds" | "visibilityTimeoutSeconds" | "maxReceiveCount">,
): FullResyncSettings {
  return {
    historyStart: DEFAULT_HISTORY_START,
    pageSize: 100,
    pageBudget: 50,
    resultCap: 5_000,
    maxProbes: 0,
    maxSplitFanout: 16,
    minWindows: 1,
    storeRecipientData: true,
    maxRequeues: 3,
    maxRestartsWithoutProgress: 10,
    planningTimeoutMs: 15 * 60_000,
    ...settings,
  };
}

/** Orders one window may hold: its page budget, and never more than one query can page through. */
export function windowOrderLimit(settings: FullResyncSettings): number {
  return Math.max(settings.pageSize, Math.min(settings.pageBudget * settings.pageSize, settings.resultCap));
}

/** Smaller windows than this cost more in partial last pages than parallelism returns. */
export const MIN_PAGES_PER_WINDOW = 5;

/**
 * Spreading a job over the workers adds windows, and every window ends on a partial page (half a call
 * on average): a spread may spend about this share of the job's call floor on them, and may always
 * make MIN_SPREAD_WINDOWS windows. 20,000 orders on 10 workers: 6 windows (~1.5 % more calls), not 10.
 */
export const SPREAD_CALL_SHARE = 0.015;
export const MIN_SPREAD_WINDOWS = 6;

/**
 * The size windows are cut to for a job of `total` orders: the window limit, lowered so the job spreads
 * over up to `minWindows` windows when it is small (within SPREAD_CALL_SHARE of extra calls), but never
 * below MIN_PAGES_PER_WINDOW pages.
 */
export function plannedWindowLimit(settings: FullResyncSettings, total: number): number {
  const pages = Math.ceil(total / settings.pageSize);
  const spread = Math.max(
    1,
    Math.min(settings.minWindows, Math.max(MIN_SPREAD_WINDOWS, Math.floor(2 * SPREAD_CALL_SHARE * pages))),
  );
  return Math.min(
    windowOrderLimit(settings),
    Math.max(settings.pageSize * MIN_PAGES_PER_WINDOW, Math.ceil(total / spread)),
  );
}

/** A window sized to the API's limits is cut into children this full, so few of them exceed it. */
export const LIMIT_FILL = 0.96;
/** A window sized for the spread is split again only when it holds this much more than planned. */
export const SPREAD_TOLERANCE = 1.25;

/**
 * When a window's first page shows `count` orders, for a job of `total`: it is split when `count`
 * exceeds `splitAbove`, into children of about `childTarget` orders. Above the window limit (page budget
 * or result cap) a split is required (DESIGN rule 8); below it only the spread asks for one, and a
 * child a little over its share is not worth another window's partial page.
 */
export function windowSplitLimits(
  settings: FullResyncSettings,
  total: number,
): { readonly splitAbove: number; readonly childTarget: number } {
  const limit = windowOrderLimit(settings);
  const planned = plannedWindowLimit(settings, total);
  if (planned >= limit) {
    return { splitAbove: limit, childTarget: Math.max(settings.pageSize, Math.floor(limit * LIMIT_FILL)) };
  }
  return { splitAbove: Math.min(limit, Math.floor(planned * SPREAD_TOLERANCE)), childTarget: planned };
}

/** Where a test stops a worker as if its process died (DESIGN rule 8 crash points). */
export type CrashPoint = "after-upsert" | "after-window-transaction" | "after-send";

export interface CrashContext {
  readonly jobId: string;
  readonly window: number;
  readonly sequence: number;
  readonly receiveCount: number;
  /** The step splits its window on the page it read (its crash points are the split's). */
  readonly split: boolean;
}

export interface FullResyncDeps {
  readonly jobs: JobRepository;
  readonly windows: WindowRepository;
  readonly state: SyncStateRepository;
  readonly orders: OrderRepository;
  readonly resolveShop: (shopId: string) => Promise<ShopAccess>;
  /** Fed by every TikTok client's `onApiCall`; attributes calls to the message being processed. */
  readonly apiCalls: ScopedApiCallMeter;
  readonly workQueue: WorkQueuePort;
  /** Enables resumeJob's removal of the job's dead letters. */
  readonly deadLetters?: DeadLetterPort;
  readonly clock: Clock;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  readonly settings: FullResyncSettings;
  readonly newJobId?: () => string;
  /** Test hook: throw here to simulate a crash at that point. */
  readonly crashAt?: (point: CrashPoint, context: CrashContext) => void | Promise<void>;
  readonly random?: () => number;
}
