/**
 * Counts of stored orders by `create_time`, for the reconciliation (issue 18): the `byCreateTime` index
 * (`shopId`, `createTime`) answers "how many orders of this shop were created in [from, to)" with a
 * `Select: "COUNT"` Query, paginated (DynamoDB counts at most 1 MB of index data per page). A count
 * still reads every item it counts: its read units follow the index's projection, not the answer.
 *
 * The index is eventually consistent: an order written a moment ago may not be counted yet. The
 * reconciliation only counts ranges that ended at least its guard period before the cursor.
 */

import { type DynamoDBDocumentClient, paginateQuery, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { StoredOrderCounts } from "../sync/ports";
import { Deadline, DeadlineExceededError } from "../time-budget";

/** The orders table's create-time index (shared/resources.ts, ORDERS_TABLE). */
export const CREATE_TIME_INDEX = "byCreateTime";

export interface OrderCountsOptions {
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
}

export class OrderCounts implements StoredOrderCounts {
  constructor(private readonly options: OrderCountsOptions) {}

  /** Orders stored for the shop with `from ≤ createTime < to` (unix seconds, whole). */
  async countCreated(
    shopId: string,
    from: number,
    to: number,
    options: { readonly deadline?: Deadline } = {},
  ): Promise<{ readonly count: number; readonly pages: number }> {
    if (to <= from) return { count: 0, pages: 0 };
    const deadline = options.deadline ?? Deadline.none();
    let count = 0;
    let pages = 0;
    const outOfTime = () =>
      new DeadlineExceededError("out of time while counting stored orders", deadline.remainingMs());
    if (deadline.expired()) throw outOfTime();
    const counted = paginateQuery(
      { client: this.options.documents },
      {
        TableName: this.options.tableName,
        IndexName: CREATE_TIME_INDEX,
        // createTime is whole seconds: [from, to) is BETWEEN from AND to − 1.
        KeyConditionExpression: "shopId = :shopId AND createTime BETWEEN :from AND :last",
        ExpressionAttributeValues: { ":shopId": shopId, ":from": from, ":last": to - 1 },
        Select: "COUNT",
      },
    );
    for await (const page of counted) {
      count += page.Count ?? 0;
      pages += 1;
      // The next page is requested only when the loop asks for it: stop before asking out of time.
      if (page.LastEvaluatedKey && deadline.expired()) throw outOfTime();
    }
    return { count, pages };
  }

  /** The oldest stored order's `createTime` (one index item), or undefined for a shop with none. */
  async oldestCreateTime(shopId: string): Promise<number | undefined> {
    const page = await this.options.documents.send(
      new QueryCommand({
        TableName: this.options.tableName,
        IndexName: CREATE_TIME_INDEX,
        KeyConditionExpression: "shopId = :shopId",
        ExpressionAttributeValues: { ":shopId": shopId },
        ProjectionExpression: "createTime",
        ScanIndexForward: true,
        Limit: 1,
      }),
    );
    const value = page.Items?.[0]?.createTime;
    return typeof value === "number" ? value : undefined;
  }
}
