/**
 * The reconciliation's item in the state table (issue 18): `SHOP#<shopId>` / `RECONCILIATION`. It holds
 * the shop's sweep (the comparison of TikTok's counts with the stored ones, month by month, which may
 * span several runs when a run's time is short), the last healing job started (to tell drift that
 * persists after healing), and a lease so two runs (the schedule and an API request) never check one
 * shop at the same time.
 */

import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { Clock } from "../clock";
import type { ReconciliationRepository } from "../sync/ports";
import type {
  HealingRecord,
  ReconciliationRecord,
  RunOutcome,
  SweepState,
} from "../sync/reconciliation/model";
import { ConditionalWriter, updateItem } from "./conditional-writes";
import { DEFAULT_CONFLICT_RETRY } from "./conflict-retry";
import { stateKeys } from "./keys";

export interface ReconciliationStoreOptions {
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly clock: Clock;
}

export class ReconciliationStore implements ReconciliationRepository {
  private readonly writer: ConditionalWriter;

  constructor(private readonly options: ReconciliationStoreOptions) {
    this.writer = new ConditionalWriter(options.documents, "a shop's reconciliation", DEFAULT_CONFLICT_RETRY);
  }

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
  acquire(shopId: string, owner: string, untilMs: number): Promise<boolean> {
    return this.writer.update(
      updateItem(this.options.tableName, this.key(shopId), (expr) => ({
        update: { set: { leaseOwner: owner, leaseUntilMs: untilMs, shopId } },
        condition:
          `attribute_not_exists(${expr.name("leaseUntilMs")}) OR ` +
          `${expr.name("leaseUntilMs")} < ${expr.value(this.options.clock.nowMs())} OR ${expr.eq("leaseOwner", owner)}`,
      })),
    );
  }

  /**
   * Writes the run's result and releases the lease, conditional on still holding it (a run that
   * outlived its lease leaves the newer run's record alone). False when the lease was lost.
   */
  save(
    shopId: string,
    owner: string,
    record: { sweep?: SweepState; healing?: HealingRecord; lastOutcome: RunOutcome },
  ): Promise<boolean> {
    return this.writer.update(
      updateItem(this.options.tableName, this.key(shopId), (expr) => ({
        update: {
          set: { lastOutcome: record.lastOutcome, sweep: record.sweep, healing: record.healing },
          remove: ["leaseOwner", "leaseUntilMs"],
        },
        condition: expr.eq("leaseOwner", owner),
      })),
    );
  }

  /** Records a run that did not take the lease (skipped before checking anything). */
  async recordSkip(shopId: string, outcome: RunOutcome): Promise<void> {
    await this.writer.update(
      updateItem(this.options.tableName, this.key(shopId), () => ({
        update: { set: { lastOutcome: outcome, shopId } },
      })),
    );
  }
}
