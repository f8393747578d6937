/**
 * A shop's sync state as the core sees it (DESIGN "Stored data"): the META record with its cursor and
 * last run, the running incremental checkpoint, and quarantined orders. Stored by the sync-state
 * repository (a port, ./ports.ts; the DynamoDB adapter is shared/store/state-store.ts).
 */

export interface LastRun {
  readonly run_id: string;
  readonly started_at: string;
  readonly finished_at: string;
  readonly window_start: number;
  readonly window_end: number;
  readonly api_calls: number;
  readonly successful_api_calls: number;
  readonly throttled_api_calls: number;
  readonly duration_ms: number;
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly stale: number;
  readonly quarantined: number;
  readonly pages: number;
}

/** META item: the seed dashboard's fields plus the cursor and the last run's figures. */
export interface SyncMeta {
  readonly shopId: string;
  readonly sync_type?: "incremental" | "full";
  /** ISO 8601 UTC of the last completed run. */
  readonly last_sync_time?: string;
  /** ISO 8601 UTC of the newest update_time stored. */
  readonly last_record_time?: string;
  readonly records_synced?: number;
  readonly is_full_sync?: boolean;
  /** Unix seconds: every order updated before this is stored (the next run reads from cursor − overlap). */
  readonly cursor?: number;
  readonly last_run?: LastRun;
  /** The job of the shop's last full resync (running or finished). */
  readonly last_job_id?: string;
  /**
   * Set when an incremental run stopped because TikTok's search cannot get past one second (the cursor
   * stays, every tick tries again); removed by the next completed run.
   */
  readonly incremental_stopped?: IncrementalStop;
  readonly shop_cipher?: string;
}

export interface IncrementalStop {
  readonly run_id: string;
  /** ISO 8601 UTC. */
  readonly at: string;
  /** The typed error's name, e.g. ResultCapExceededError. */
  readonly error: string;
  readonly message: string;
  /** The update_time second (unix s) the run could not get past. */
  readonly second: number;
}

export interface Checkpoint {
  readonly runId: string;
  /** Highest update_time committed by the interrupted or running run. */
  readonly position: number;
  /**
   * Set while the run reads update_time second `position` in parts (more orders than one query serves):
   * every order of that second created before this is committed.
   */
  readonly createFrom?: number;
  readonly windowEnd: number;
  readonly updatedAt: string;
}

export interface QuarantinedOrder {
  readonly orderId: string;
  readonly reason: string;
  /** The order's JSON as received, cut to its first 100,000 characters. */
  readonly raw: string;
  readonly quarantinedAt: string;
  readonly source: string;
  /** An order too large for an orders-table item: the item's size in bytes. */
  readonly sizeBytes?: number;
  /** The order's create_time when it had a valid one (the reconciliation counts it in its range). */
  readonly createTime?: number;
}

export class LockLostError extends Error {
  constructor(shopId: string, options?: { cause?: unknown }) {
    super(`the incremental-sync lock of shop ${shopId} is no longer ours`, options);
    this.name = "LockLostError";
  }
}
