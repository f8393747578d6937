/** What the full resync (planner, worker, reconciler, operator actions) is given: ports and settings. */
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { Clock } from "../../clock";
import type { LogPort, MetricsPort } from "../../observability/telemetry";
import type { JobStore } from "../../store/job-store";
import type { OrderStore } from "../../store/order-store";
import type { StateStore } from "../../store/state-store";
import type { OrderSearchPort, ShopRef } from "../ports";
import type { ScopedApiCallMeter } from "./api-calls";

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
  /** Planner probes at most; windows still too big are split by workers on their first page. */
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
    maxProbes: 200,
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

/** Smaller windows than this cost more in probes and partial last pages than parallelism returns. */
export const MIN_PAGES_PER_WINDOW = 5;

/**
 * The size the planner cuts windows to for a job of `total` orders: the window limit, lowered so the
 * job spreads over `minWindows` windows when it is small, but never below MIN_PAGES_PER_WINDOW pages.
 */
export function plannedWindowLimit(settings: FullResyncSettings, total: number): number {
  const spread = Math.ceil(total / Math.max(1, settings.minWindows));
  return Math.min(windowOrderLimit(settings), Math.max(settings.pageSize * MIN_PAGES_PER_WINDOW, spread));
}

/** Where a test stops a worker as if its process died (DESIGN rule 8 crash points). */
export type CrashPoint = "after-upsert" | "after-window-transaction" | "after-send";

export interface CrashContext {
  readonly jobId: string;
  readonly window: number;
  readonly sequence: number;
  readonly receiveCount: number;
}

export interface FullResyncDeps {
  readonly jobs: JobStore;
  readonly state: StateStore;
  readonly orders: OrderStore;
  readonly resolveShop: (shopId: string) => Promise<ShopAccess>;
  /** Fed by every TikTok client's `onApiCall`; attributes calls to the message being processed. */
  readonly apiCalls: ScopedApiCallMeter;
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** Enables resumeJob's removal of the job's dead letters. */
  readonly deadLetterQueueUrl?: string;
  readonly clock: Clock;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  readonly settings: FullResyncSettings;
  readonly newJobId?: () => string;
  /** Test hook: throw here to simulate a crash at that point. */
  readonly crashAt?: (point: CrashPoint, context: CrashContext) => void | Promise<void>;
  readonly random?: () => number;
}
