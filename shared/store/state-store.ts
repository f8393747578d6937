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
  ConditionalCheckFailedException,
  TransactionCanceledException,
  TransactionConflictException,
} from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
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
import {
  type ConflictRetryOptions,
  cancellationCodes,
  DEFAULT_CONFLICT_RETRY,
  isTransactionConflict,
  retryOnConflict,
  StateConflictError,
} from "./conflict-retry";
import { stateKeys } from "./keys";

export { type ConflictRetryOptions, cancellationCodes, StateConflictError } from "./conflict-retry";

function isConditionFailure(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException;
}

export interface StateStoreOptions {
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly clock: Clock;
  readonly conflictRetry?: Partial<ConflictRetryOptions>;
}

export class StateStore implements SyncStateRepository {
  private readonly conflictRetry: ConflictRetryOptions;

  constructor(private readonly options: StateStoreOptions) {
    this.conflictRetry = { ...DEFAULT_CONFLICT_RETRY, ...options.conflictRetry };
  }

  /** Runs a single-item write again while DynamoDB refuses it for an ongoing transaction on the item. */
  private retryingConflicts<T>(write: () => Promise<T>): Promise<T> {
    return retryOnConflict(write, this.conflictRetry);
  }

  private get table() {
    return this.options.tableName;
  }

  async getMeta(shopId: string): Promise<SyncMeta | undefined> {
    const { Item } = await this.options.documents.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: stateKeys.shop(shopId), sk: stateKeys.meta },
        ConsistentRead: true,
      }),
    );
    return Item as SyncMeta | undefined;
  }

  /** DESIGN rule 6: a new full resync sets the cursor to its windowEnd, only if the shop has none. */
  async setCursorIfMissing(shopId: string, cursor: number): Promise<boolean> {
    try {
      await this.options.documents.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: stateKeys.shop(shopId), sk: stateKeys.meta },
          UpdateExpression: "SET #cursor = :cursor, shopId = :shopId",
          ConditionExpression: "attribute_not_exists(#cursor)",
          ExpressionAttributeNames: { "#cursor": "cursor" },
          ExpressionAttributeValues: { ":cursor": cursor, ":shopId": shopId },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Merges fields into META (no condition): job bookkeeping, full-sync results, cipher. */
  async updateMeta(shopId: string, fields: Partial<Omit<SyncMeta, "shopId" | "cursor">>): Promise<void> {
    const entries = Object.entries(fields).filter(([, value]) => value !== undefined);
    if (entries.length === 0) return;
    await this.options.documents.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: stateKeys.shop(shopId), sk: stateKeys.meta },
        UpdateExpression: `SET shopId = :shopId, ${entries.map((_, index) => `#f${index} = :v${index}`).join(", ")}`,
        ExpressionAttributeNames: Object.fromEntries(entries.map(([name], index) => [`#f${index}`, name])),
        ExpressionAttributeValues: {
          ":shopId": shopId,
          ...Object.fromEntries(entries.map(([, value], index) => [`:v${index}`, value])),
        },
      }),
    );
  }

  /** Takes the lock if free, expired, or already ours. Returns false when another live owner holds it. */
  async acquireLock(shopId: string, owner: string, leaseMs: number): Promise<boolean> {
    const now = this.options.clock.nowMs();
    try {
      await this.retryingConflicts(() =>
        this.options.documents.send(
          new PutCommand({
            TableName: this.table,
            Item: {
              pk: stateKeys.shop(shopId),
              sk: stateKeys.lock,
              owner,
              leaseUntil: now + leaseMs,
              acquiredAt: new Date(now).toISOString(),
              expiresAt: Math.ceil((now + leaseMs) / 1000) + 86_400,
            },
            ConditionExpression: "attribute_not_exists(pk) OR leaseUntil < :now OR #owner = :owner",
            ExpressionAttributeNames: { "#owner": "owner" },
            ExpressionAttributeValues: { ":now": now, ":owner": owner },
          }),
        ),
      );
      return true;
    } catch (error) {
      // Still conflicting after the retries: another run is writing the lock item, so it is held.
      if (isConditionFailure(error) || error instanceof TransactionConflictException) return false;
      throw error;
    }
  }

  async releaseLock(shopId: string, owner: string): Promise<void> {
    try {
      await this.retryingConflicts(() =>
        this.options.documents.send(
          new DeleteCommand({
            TableName: this.table,
            Key: { pk: stateKeys.shop(shopId), sk: stateKeys.lock },
            ConditionExpression: "#owner = :owner",
            ExpressionAttributeNames: { "#owner": "owner" },
            ExpressionAttributeValues: { ":owner": owner },
          }),
        ),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  private lockRenewal(shopId: string, owner: string, leaseMs: number) {
    const now = this.options.clock.nowMs();
    return {
      Update: {
        TableName: this.table,
        Key: { pk: stateKeys.shop(shopId), sk: stateKeys.lock },
        UpdateExpression: "SET leaseUntil = :leaseUntil, expiresAt = :expiresAt",
        ConditionExpression: "#owner = :owner",
        ExpressionAttributeNames: { "#owner": "owner" },
        ExpressionAttributeValues: {
          ":owner": owner,
          ":leaseUntil": now + leaseMs,
          ":expiresAt": Math.ceil((now + leaseMs) / 1000) + 86_400,
        },
      },
    };
  }

  /** After a committed page: renew the lease and record the checkpoint, only if we still hold the lock. */
  async checkpoint(
    shopId: string,
    owner: string,
    leaseMs: number,
    checkpoint: Omit<Checkpoint, "updatedAt">,
  ) {
    await this.transactUnderLock(shopId, [
      this.lockRenewal(shopId, owner, leaseMs),
      {
        Put: {
          TableName: this.table,
          Item: {
            pk: stateKeys.shop(shopId),
            sk: stateKeys.checkpoint,
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
        Key: { pk: stateKeys.shop(shopId), sk: stateKeys.checkpoint },
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
    const fields: Record<string, unknown> = {
      shopId,
      cursor: result.cursor,
      sync_type: "incremental",
      is_full_sync: false,
      last_sync_time: result.lastRun.finished_at,
      records_synced: result.recordsSynced,
      last_run: result.lastRun,
    };
    if (result.lastRecordTime) fields.last_record_time = result.lastRecordTime;
    const names = Object.keys(fields);
    await this.transactUnderLock(shopId, [
      {
        Delete: {
          TableName: this.table,
          Key: { pk: stateKeys.shop(shopId), sk: stateKeys.lock },
          ConditionExpression: "#owner = :owner",
          ExpressionAttributeNames: { "#owner": "owner" },
          ExpressionAttributeValues: { ":owner": owner },
        },
      },
      {
        Update: {
          TableName: this.table,
          Key: { pk: stateKeys.shop(shopId), sk: stateKeys.meta },
          // Never move the cursor backwards (a full resync may have set a later one meanwhile).
          UpdateExpression: `SET ${names.map((_, index) => `#m${index} = :m${index}`).join(", ")} REMOVE #stopped`,
          ConditionExpression: "attribute_not_exists(#cursorName) OR #cursorName <= :newCursor",
          ExpressionAttributeNames: {
            "#cursorName": "cursor",
            "#stopped": "incremental_stopped",
            ...Object.fromEntries(names.map((name, index) => [`#m${index}`, name])),
          },
          ExpressionAttributeValues: {
            ":newCursor": result.cursor,
            ...Object.fromEntries(names.map((name, index) => [`:m${index}`, fields[name]])),
          },
        },
      },
      { Delete: { TableName: this.table, Key: { pk: stateKeys.shop(shopId), sk: stateKeys.checkpoint } } },
    ]);
  }

  /**
   * A transaction whose item `lockIndex` carries the owner condition on the lock. That condition failing
   * is a lost lock; conflicts are retried (the conditions are evaluated afresh each time); any other
   * cancellation is rethrown as it is.
   */
  private async transactUnderLock(
    shopId: string,
    items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]["TransactItems"]>,
    lockIndex = 0,
  ) {
    try {
      await retryOnConflict(async () => {
        try {
          await this.options.documents.send(new TransactWriteCommand({ TransactItems: items }));
        } catch (error) {
          if (
            error instanceof TransactionCanceledException &&
            cancellationCodes(error)[lockIndex] === "ConditionalCheckFailed"
          ) {
            throw new LockLostError(shopId, { cause: error });
          }
          throw error;
        }
      }, this.conflictRetry);
    } catch (error) {
      if (!isTransactionConflict(error)) throw error;
      throw new StateConflictError(`shop ${shopId}`, this.conflictRetry.retries + 1, { cause: error });
    }
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
