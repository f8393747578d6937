/** Messages between the benchmark (bench/sync-child.ts) and its sync process (bench/sync-process.ts), over IPC. */
import type { DynamoCounts } from "./instrument";

export interface SyncProcessInit {
  /** Environment for parseConfig: endpoints, tables, queues, TikTok, budget, concurrency. */
  readonly env: Record<string, string>;
  readonly shopId: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly workers: number;
  readonly batchSize: number;
}

export type SyncRequest =
  | { readonly id: number; readonly type: "init"; readonly init: SyncProcessInit }
  | {
      readonly id: number;
      readonly type: "full-resync";
      /** A create_time range (unix seconds, [from, to)); the whole history when absent. */
      readonly range?: { readonly from: number; readonly to: number };
    }
  | { readonly id: number; readonly type: "tick" }
  | { readonly id: number; readonly type: "stop" };

export type SyncResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** What the sync process spent on one scenario (deltas), as Lambda and AWS would bill it. */
export interface ProcessMeters {
  readonly dynamodb: DynamoCounts;
  /** SQS requests by action. */
  readonly sqs: Record<string, number>;
  /** TikTok requests as the client counted them (retries included). */
  readonly apiCalls: { calls: number; successful: number; throttled: number; successfulSearches: number };
  /** TikTok HTTP requests timed at the client: summed durations, and wall time with any in flight. */
  readonly tiktokHttp: { calls: number; sumMs: number; busyMs: number };
  /** Worker handler invocations (one per SQS batch, as Lambda invokes) and their summed duration. */
  readonly workerInvocations: number;
  readonly workerBusyMs: number;
  /** Records handed to the worker (deliveries, duplicates included). */
  readonly workerRecords: number;
  readonly peakRssBytes: number;
  readonly peakHeapBytes: number;
  /** Heap still in use after a full garbage collection at the end of the scenario (what is retained). */
  readonly retainedHeapBytes: number;
  /** Warnings and errors the product logged meanwhile. */
  readonly warnings: number;
  readonly errors: number;
  readonly lastProblems: readonly string[];
}

export interface FullResyncResult {
  readonly meters: ProcessMeters;
  /** From the request until the job was COMPLETED (its finishedAt). */
  readonly wallMs: number;
  /** The API function's part: probing, planning, writing windows, enqueueing. */
  readonly planningMs: number;
  readonly jobId: string;
  /** The job's windowEnd (unix seconds): a first sync's cursor. */
  readonly windowEnd: number;
  readonly windows: number;
  readonly probes: number;
  readonly progress: Record<string, unknown>;
  /** The JobOrders metric summed and JobWindowsOpen's last value, over this job. */
  readonly metrics: { readonly jobOrders: number; readonly lastWindowsOpen: number | undefined };
}

export interface TickResult {
  readonly meters: ProcessMeters;
  readonly wallMs: number;
  readonly status: string;
  readonly lastRun?: Record<string, unknown>;
}
