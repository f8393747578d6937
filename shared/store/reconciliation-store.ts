/**
 * The reconciliation's item in the state table (issue 18): `SHOP#<shopId>` / `RECONCILIATION`. It holds
 * the shop's sweep (the comparison of TikTok's counts with the stored ones, month by month, which may
 * span several runs when a run's time is short), the last healing job started (to tell drift that
 * persists after healing), and a lease so two runs (the schedule and an API request) never check one
 * shop at the same time.
 */

import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { Clock } from "../clock";
import type { ReconciliationRepository } from "../sync/ports";
import type {
  HealingRecord,
  ReconciliationRecord,
  RunOutcome,
  SweepState,
} from "../sync/reconciliation/model";
import { stateKeys } from "./keys";

export interface ReconciliationStoreOptions {
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly clock: Clock;
}

export class ReconciliationStore implements ReconciliationRepository {
  constructor(private readonly options: ReconciliationStoreOptions) {}

  private key(shopId: string) {
    return { pk: stateKeys.shop(shopId), sk: stateKeys.reconciliation };
  }

  async get(shopId: string): Promise<ReconciliationRecord | undefined> {
    const { Item } = await this.options.documents.send(
      new GetCommand({
        TableName: this.options.tableName,
        Key: this.key(shopId),
        ConsistentRead: true,
        ProjectionExpression: "sweep, healing, lastOutcome",
      }),
    );
    if (!Item) return undefined;
    return {
      ...(Item.sweep ? { sweep: Item.sweep as SweepState } : {}),
      ...(Item.healing ? { healing: Item.healing as HealingRecord } : {}),
      ...(Item.lastOutcome ? { lastOutcome: Item.lastOutcome as RunOutcome } : {}),
    };
  }

  /**
   * Takes the shop's reconciliation lease until `untilMs` unless another run holds an unexpired one.
   * False when held (the other run is checking the shop right now).
   */
  async acquire(shopId: string, owner: string, untilMs: number): Promise<boolean> {
    try {
      await this.options.documents.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: this.key(shopId),
          UpdateExpression: "SET leaseOwner = :owner, leaseUntilMs = :until, shopId = :shopId",
          ConditionExpression:
            "attribute_not_exists(leaseUntilMs) OR leaseUntilMs < :now OR leaseOwner = :owner",
          ExpressionAttributeValues: {
            ":owner": owner,
            ":until": untilMs,
            ":shopId": shopId,
            ":now": this.options.clock.nowMs(),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Writes the run's result and releases the lease, conditional on still holding it (a run that
   * outlived its lease leaves the newer run's record alone). False when the lease was lost.
   */
  async save(
    shopId: string,
    owner: string,
    record: { sweep?: SweepState; healing?: HealingRecord; lastOutcome: RunOutcome },
  ): Promise<boolean> {
    const set = ["lastOutcome = :outcome"];
    const values: Record<string, unknown> = { ":outcome": record.lastOutcome, ":owner": owner };
    if (record.sweep) {
      set.push("sweep = :sweep");
      values[":sweep"] = record.sweep;
    }
    if (record.healing) {
      set.push("healing = :healing");
      values[":healing"] = record.healing;
    }
    try {
      await this.options.documents.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: this.key(shopId),
          UpdateExpression: `SET ${set.join(", ")} REMOVE leaseOwner, leaseUntilMs`,
          ConditionExpression: "leaseOwner = :owner",
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Records a run that did not take the lease (skipped before checking anything). */
  async recordSkip(shopId: string, outcome: RunOutcome): Promise<void> {
    await this.options.documents.send(
      new UpdateCommand({
        TableName: this.options.tableName,
        Key: this.key(shopId),
        UpdateExpression: "SET lastOutcome = :outcome, shopId = :shopId",
        ExpressionAttributeValues: { ":outcome": outcome, ":shopId": shopId },
      }),
    );
  }
}
