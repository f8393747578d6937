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
import { stateKeys } from "./keys";

/** A compared `create_time` range (unix seconds, [from, to)) and the two counts. */
export interface ComparedRange {
  readonly from: number;
  readonly to: number;
  /** TikTok's `total_count` for the range. */
  readonly tiktok: number;
  /** Orders stored for the range (orders table plus quarantined orders of the range). */
  readonly stored: number;
}

/** The comparison of one shop's history, checked month by month (possibly over several runs). */
export interface SweepState {
  /** The run that started it. */
  readonly id: string;
  readonly startedAtMs: number;
  /** The compared `create_time` window, fixed when the sweep starts: [from, to). */
  readonly from: number;
  readonly to: number;
  /** The next unchecked month starts here; `to` when the sweep is complete. */
  readonly next: number;
  readonly runs: number;
  readonly lastRunAtMs: number;
  readonly rangesChecked: number;
  readonly rangesMismatched: number;
  /** Orders TikTok has and the table does not, summed over the mismatching ranges. */
  readonly ordersMissing: number;
  /** Orders stored and unknown to TikTok (never deleted), summed over the ranges that hold them. */
  readonly extraOrders: number;
  /** The narrowed ranges holding extra orders (at most MAX_LISTED_RANGES). */
  readonly extraRanges: readonly ComparedRange[];
  /** Ranges found missing orders whose healing could not start yet (time, or a job running). */
  readonly pending: readonly ComparedRange[];
  /** Ranges still missing orders after a completed healing of the same range (at most MAX_LISTED_RANGES). */
  readonly persisting: readonly ComparedRange[];
  /** The healing jobs this sweep started (newest last, at most MAX_LISTED_JOBS). */
  readonly healingJobIds: readonly string[];
  /** A previous healing job that did not complete (FAILED or CANCELLED), found by this sweep. */
  readonly healFailed?: { readonly jobId: string; readonly status: string };
  /** TikTok requests the checks sent (planning the healing job is counted in the job). */
  readonly apiCalls: number;
  /** Quarantined orders without a create_time: TikTok counts them in some range we cannot place them in. */
  readonly unplacedQuarantined: number;
}

/** The last healing job started for the shop: drift found again in its ranges means healing did not hold. */
export interface HealingRecord {
  readonly jobId: string;
  readonly startedAtMs: number;
  readonly ranges: readonly ComparedRange[];
  /** Set once its failure (FAILED or CANCELLED) was reported, so it alarms once. */
  readonly failureReported?: boolean;
}

/** What the last run did (the status route shows it beside the sweep). */
export interface RunOutcome {
  readonly runId: string;
  readonly atMs: number;
  readonly trigger: "schedule" | "api" | "local";
  readonly status: "completed" | "partial" | "skipped" | "failed";
  /** Why a run was skipped or stopped early. */
  readonly reason?: string;
  /** The running job a skipped run found, or the healing job a run started. */
  readonly jobId?: string;
  readonly durationMs: number;
}

export interface ReconciliationRecord {
  readonly sweep?: SweepState;
  readonly healing?: HealingRecord;
  readonly lastOutcome?: RunOutcome;
}

export const MAX_LISTED_RANGES = 20;
export const MAX_LISTED_JOBS = 10;

export interface ReconciliationStoreOptions {
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly clock: Clock;
}

export class ReconciliationStore {
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
