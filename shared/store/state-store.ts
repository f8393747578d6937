/**
 * Per-shop sync state in the state table: metadata and cursor (META), the incremental lock with a
 * lease (LOCK), the running checkpoint (CHECKPOINT) and quarantined orders (QUARANTINE#<id>).
 * Cursor and checkpoint writes are conditional on the caller holding the lock (DESIGN rules 4, 7).
 *
 * Only a failed owner condition on the lock item means the lock is lost. A transaction conflict (another
 * request touching one of the items at that moment, e.g. a tick trying to take the lock) is retried a
 * bounded number of times: taking it for a lost lock would discard the run's cursor advance and leave
 * the lock held until its lease ends.
 */

import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  type QueryCommandInput,
} from "@aws-sdk/lib-dynamodb";
import type { Clock } from "../clock";
import type { SyncStateRepository } from "../sync/ports";
import {
  type Checkpoint,
  type LastRun,
  LockLostError,
  type QuarantinedOrder,
  type SyncMeta,
} from "../sync/sync-state";
import { ConditionalWriter, type TransactItem, type TransactItems, updateItem } from "./conditional-writes";
import { type ConflictRetryOptions, DEFAULT_CONFLICT_RETRY, StateConflictError } from "./conflict-retry";
import { stateKeys } from "./keys";

export interface StateStoreOptions {
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly clock: Clock;
  readonly conflictRetry?: Partial<ConflictRetryOptions>;
}

export class StateStore implements SyncStateRepository {
  private readonly writer: ConditionalWriter;

  constructor(private readonly options: StateStoreOptions) {
    this.writer = new ConditionalWriter(options.documents, "a shop's sync state", {
      ...DEFAULT_CONFLICT_RETRY,
      ...options.conflictRetry,
    });
  }

  private get table() {
    return this.options.tableName;
  }

  private key(shopId: string, sk: string) {
    return { pk: stateKeys.shop(shopId), sk };
  }

  async getMeta(shopId: string): Promise<SyncMeta | undefined> {
    const { Item } = await this.options.documents.send(
      new GetCommand({ TableName: this.table, Key: this.key(shopId, stateKeys.meta), ConsistentRead: true }),
    );
    return Item as SyncMeta | undefined;
  }

  /** DESIGN rule 6: a new full resync sets the cursor to its windowEnd, only if the shop has none. */
  async setCursorIfMissing(shopId: string, cursor: number): Promise<boolean> {
    return this.writer.update(
      updateItem(this.table, this.key(shopId, stateKeys.meta), (expr) => ({
        update: { set: { cursor, shopId } },
        condition: `attribute_not_exists(${expr.name("cursor")})`,
      })),
    );
  }

  /** Merges fields into META (no condition): job bookkeeping, full-sync results, cipher. */
  async updateMeta(shopId: string, fields: Partial<Omit<SyncMeta, "shopId" | "cursor">>): Promise<void> {
    if (Object.values(fields).every((value) => value === undefined)) return;
    await this.writer.update(
      updateItem(this.table, this.key(shopId, stateKeys.meta), () => ({
        update: { set: { shopId, ...fields } },
      })),
    );
  }

  /** Takes the lock if free, expired, or already ours. Returns false when another live owner holds it. */
  async acquireLock(shopId: string, owner: string, leaseMs: number): Promise<boolean> {
    const now = this.options.clock.nowMs();
    try {
      return await this.writer.update({
        Put: {
          TableName: this.table,
          Item: {
            ...this.key(shopId, stateKeys.lock),
            owner,
            leaseUntil: now + leaseMs,
            acquiredAt: new Date(now).toISOString(),
            expiresAt: Math.ceil((now + leaseMs) / 1000) + 86_400,
          },
          ConditionExpression: "attribute_not_exists(pk) OR leaseUntil < :now OR #owner = :owner",
          ExpressionAttributeNames: { "#owner": "owner" },
          ExpressionAttributeValues: { ":now": now, ":owner": owner },
        },
      });
    } catch (error) {
      // Still conflicting after the retries: another run is writing the lock item, so it is held.
      if (error instanceof StateConflictError) return false;
      throw error;
    }
  }

  /** Releases the lock if it is still ours (a lost lock is left to its new owner). */
  async releaseLock(shopId: string, owner: string): Promise<void> {
    await this.writer.update(this.ownLockDelete(shopId, owner));
  }

  private ownLockDelete(shopId: string, owner: string): TransactItem {
    return {
      Delete: {
        TableName: this.table,
        Key: this.key(shopId, stateKeys.lock),
        ConditionExpression: "#owner = :owner",
        ExpressionAttributeNames: { "#owner": "owner" },
        ExpressionAttributeValues: { ":owner": owner },
      },
    };
  }

  private lockRenewal(shopId: string, owner: string, leaseMs: number): TransactItem {
    const leaseUntil = this.options.clock.nowMs() + leaseMs;
    return updateItem(this.table, this.key(shopId, stateKeys.lock), (expr) => ({
      update: { set: { leaseUntil, expiresAt: Math.ceil(leaseUntil / 1000) + 86_400 } },
      condition: expr.eq("owner", owner),
    }));
  }

  /** After a committed page: renew the lease and record the checkpoint, only if we still hold the lock. */
  async checkpoint(
    shopId: string,
    owner: string,
    leaseMs: number,
    checkpoint: Omit<Checkpoint, "updatedAt">,
  ) {
    await this.writeUnderLock(shopId, [
      this.lockRenewal(shopId, owner, leaseMs),
      {
        Put: {
          TableName: this.table,
          Item: {
            ...this.key(shopId, stateKeys.checkpoint),
            ...checkpoint,
            updatedAt: new Date(this.options.clock.nowMs()).toISOString(),
          },
        },
      },
    ]);
  }

  async getCheckpoint(shopId: string): Promise<Checkpoint | undefined> {
    const { Item } = await this.options.documents.send(
      new GetCommand({
        TableName: this.table,
        Key: this.key(shopId, stateKeys.checkpoint),
        ConsistentRead: true,
      }),
    );
    return Item as Checkpoint | undefined;
  }

  /**
   * Completes an incremental run in one transaction: cursor = windowEnd, metadata, checkpoint removed,
   * lock released — all conditional on the lock still being ours (rule 4: only the holder moves the cursor).
   */
  async completeIncrementalRun(
    shopId: string,
    owner: string,
    result: { cursor: number; lastRun: LastRun; lastRecordTime?: string; recordsSynced: number },
  ): Promise<void> {
    await this.writeUnderLock(shopId, [
      this.ownLockDelete(shopId, owner),
      updateItem(this.table, this.key(shopId, stateKeys.meta), (expr) => ({
        update: {
          set: {
            shopId,
            cursor: result.cursor,
            sync_type: "incremental",
            is_full_sync: false,
            last_sync_time: result.lastRun.finished_at,
            records_synced: result.recordsSynced,
            last_run: result.lastRun,
            last_record_time: result.lastRecordTime || undefined,
          },
          remove: ["incremental_stopped"],
        },
        // Never move the cursor backwards (a full resync may have set a later one meanwhile).
        condition: `attribute_not_exists(${expr.name("cursor")}) OR ${expr.name("cursor")} <= ${expr.value(result.cursor)}`,
      })),
      { Delete: { TableName: this.table, Key: this.key(shopId, stateKeys.checkpoint) } },
    ]);
  }

  /**
   * A write whose first item carries the owner condition on the lock: that condition failing is a lost
   * lock (LockLostError); conflicts are retried by the writer (the conditions evaluated afresh each time).
   */
  private async writeUnderLock(shopId: string, items: TransactItems): Promise<void> {
    const result = await this.writer.write(items);
    if (result.ok) return;
    if (result.failed.includes(0)) throw new LockLostError(shopId);
    throw new Error(
      `shop ${shopId}: the sync state moved past this run (conditions ${result.failed.join(", ")} failed)`,
    );
  }

  /** Keeps an invalid or oversized order (raw) so it is counted and visible, never silently dropped. */
  async quarantine(shopId: string, order: Omit<QuarantinedOrder, "quarantinedAt">): Promise<void> {
    await this.options.documents.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: stateKeys.shop(shopId),
          sk: stateKeys.quarantine(order.orderId),
          ...order,
          quarantinedAt: new Date(this.options.clock.nowMs()).toISOString(),
        },
      }),
    );
  }

  /**
   * The create_time of every quarantined order of the shop that has one (from the item, or from its raw
   * JSON for items written before `createTime` was kept), and how many have none: the reconciliation
   * counts quarantined orders as stored, since TikTok counts them in their range.
   */
  async quarantinedCreateTimes(shopId: string): Promise<{ createTimes: number[]; unplaced: number }> {
    const createTimes: number[] = [];
    let unplaced = 0;
    for await (const page of this.quarantinePages(shopId, {
      ProjectionExpression: "createTime, #raw",
      ExpressionAttributeNames: { "#raw": "raw" },
    })) {
      for (const item of page.Items ?? []) {
        const createTime = typeof item.createTime === "number" ? item.createTime : createTimeOfRaw(item.raw);
        if (createTime === undefined) unplaced += 1;
        else createTimes.push(createTime);
      }
    }
    return { createTimes: createTimes.sort((a, b) => a - b), unplaced };
  }

  async countQuarantined(shopId: string): Promise<number> {
    let count = 0;
    for await (const page of this.quarantinePages(shopId, { Select: "COUNT" })) count += page.Count ?? 0;
    return count;
  }

  /** Every page of the shop's QUARANTINE# items, with the given projection or select. */
  private quarantinePages(
    shopId: string,
    read: Pick<QueryCommandInput, "ProjectionExpression" | "ExpressionAttributeNames" | "Select">,
  ) {
    return paginateQuery(
      { client: this.options.documents },
      {
        TableName: this.table,
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": stateKeys.shop(shopId), ":prefix": "QUARANTINE#" },
        ...read,
      },
    );
  }
}

/** A whole, non-negative `create_time` in a quarantined order's raw JSON (cut JSON does not parse). */
function createTimeOfRaw(raw: unknown): number | undefined {
  if (typeof raw !== "string") return undefined;
  try {
    const value = (JSON.parse(raw) as { create_time?: unknown } | null)?.create_time;
    return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
  } catch {
    return undefined;
  }
}
