/** What the incremental sync is given (ports and settings) and what a run counts: read by its window scan too. */
import type { Clock } from "../clock";
import type { LogPort, MetricsPort } from "../observability/telemetry";
import type { Deadline } from "../time-budget";
import type { ApiCallMeter, OrderRepository, OrderSearchPort, SyncStateRepository } from "./ports";

export interface IncrementalSettings {
  readonly overlapSeconds: number;
  readonly settleSeconds: number;
  readonly lockLeaseMs: number;
  readonly storeRecipientData: boolean;
  readonly pageSize?: number;
}

export interface IncrementalSyncDeps {
  readonly tiktok: OrderSearchPort;
  readonly apiCalls: ApiCallMeter;
  readonly orders: OrderRepository;
  readonly state: SyncStateRepository;
  readonly clock: Clock;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  readonly settings: IncrementalSettings;
  /** Starts a full resync (DESIGN rule 6) for a shop that has never been synced. */
  readonly startFullResync?: (shopId: string, options: { deadline: Deadline }) => Promise<{ jobId: string }>;
  readonly newRunId?: () => string;
}

export interface RunCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  stale: number;
  quarantined: number;
  pages: number;
}
