/**
 * The orders table and its conditional upsert (DESIGN rule 5, contract):
 * write iff the item is new, or the incoming update_time is newer, or it is equal, the content hash
 * differs and the incoming fetch is later. A stale write is skipped and counted, never an error.
 *
 * Strategy (measured on DynamoDB Local by `npm run bench:upsert`; figures in docs/sync-protocol.md: read-then-write
 * 150 orders/s on a first load vs 182 for conditional-put, but 3,813 vs 250 orders/s and 0 vs 1 writes
 * per order when re-reading unchanged data; PartiQL two-step 101 and 27 orders/s, 2 statements/order):
 * - `read-then-write` (default): BatchGetItem the stored updateTime/contentHash/fetchedAt of the page,
 *   decide per order, and send a conditional PutItem only for orders that need writing. The condition
 *   still guards against a concurrent writer. On AWS a failed condition costs a write, and a full
 *   resync over an already-synced table would otherwise pay ~1 write per order for nothing: with the
 *   read first it pays ~0 writes and 0.5 read units per order.
 * - `conditional-put`: a conditional PutItem for every order (ReturnValues tell inserted/updated,
 *   ReturnValuesOnConditionCheckFailure tells unchanged/stale). One round trip less for new data.
 * Plain BatchWriteItem takes no condition, and PartiQL has no single-statement upsert (UPDATE of a
 * missing item fails its condition; INSERT of an existing key fails as duplicate), so neither is used.
 *
 * An order whose item DynamoDB refuses as larger than 400 KB is reported in `tooLarge`, never thrown:
 * the caller quarantines it (callers also measure with `storedItemBytes` before writing).
 */
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
  PutCommand,
} from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { chunk, mapWithConcurrency } from "../concurrency";
import { dedupeByOrderId, type NormalizedOrder } from "../orders/normalize";
import {
  DEFAULT_ORDER_ENCODING,
  encodeOrder,
  type OrderEncoding,
  orderSummary,
} from "../orders/stored-order";
import {
  type Decision,
  decideWrite,
  type StoredVersion,
  type UpsertCounts,
  type UpsertResult,
  type VersionsRead,
} from "../orders/versions";
import type { OrderRepository } from "../sync/ports";
import { isItemTooLargeError, itemBytes, MAX_ITEM_BYTES } from "./item-size";

export type UpsertStrategy = "read-then-write" | "conditional-put";

export interface OrderStoreOptions {
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly strategy?: UpsertStrategy;
  /** Parallel PutItem requests per page. */
  readonly writeConcurrency?: number;
  /** Optional retention: items expire this many days after their create_time (DynamoDB TTL). */
  readonly retentionDays?: number;
  /** How the `order` attribute is written (default DEFAULT_ORDER_ENCODING; the bench compares others). */
  readonly orderEncoding?: OrderEncoding;
}

export interface StoredItemOptions {
  /** Items expire this many days after their create_time (DynamoDB TTL). */
  readonly retentionDays?: number | undefined;
  /** How the `order` attribute is written (default DEFAULT_ORDER_ENCODING). */
  readonly encoding?: OrderEncoding;
  /** The `order` attribute already encoded (the store caches it per order). */
  readonly encoded?: unknown;
}

/**
 * The orders-table item of an order (DESIGN "Stored data"): keys, the sync's version attributes, the
 * order in its encoding, the summary the indexes project, and its TTL when retention is set.
 */
export function storedItem(
  shopId: string,
  order: NormalizedOrder,
  fetchedAt: number,
  options: StoredItemOptions = {},
): Record<string, unknown> {
  return {
    shopId,
    orderId: order.orderId,
    status: order.status,
    createTime: order.createTime,
    updateTime: order.updateTime,
    order: options.encoded ?? encodeOrder(order.order, options.encoding ?? DEFAULT_ORDER_ENCODING),
    contentHash: order.contentHash,
    fetchedAt,
    syncedAt: new Date(fetchedAt).toISOString(),
    ...orderSummary(order.order),
    ...(options.retentionDays ? { expiresAt: order.createTime + options.retentionDays * 86_400 } : {}),
  };
}

const WRITE_CONDITION =
  "attribute_not_exists(shopId) OR updateTime < :updateTime OR " +
  "(updateTime = :updateTime AND contentHash <> :contentHash AND fetchedAt < :fetchedAt)";

export class OrderStore implements OrderRepository {
  /** DynamoDB's item limit: a larger order is quarantined instead. */
  readonly maxItemBytes = MAX_ITEM_BYTES;
  private readonly strategy: UpsertStrategy;
  private readonly writeConcurrency: number;
  private readonly encoding: OrderEncoding;
  /** Each order is encoded once, though the size check and the write both need it. */
  private readonly encoded = new WeakMap<NormalizedOrder, unknown>();

  constructor(private readonly options: OrderStoreOptions) {
    this.strategy = options.strategy ?? "read-then-write";
    this.writeConcurrency = options.writeConcurrency ?? 25;
    this.encoding = options.orderEncoding ?? DEFAULT_ORDER_ENCODING;
  }

  /** The item this store writes for `order`. */
  itemFor(shopId: string, order: NormalizedOrder, fetchedAt: number): Record<string, unknown> {
    let encoded = this.encoded.get(order);
    if (encoded === undefined) {
      encoded = encodeOrder(order.order, this.encoding);
      this.encoded.set(order, encoded);
    }
    return storedItem(shopId, order, fetchedAt, { retentionDays: this.options.retentionDays, encoded });
  }

  /**
   * Upserts a page of orders for one shop; duplicates within the page are collapsed first.
   * `versionsRead`: stored versions the caller already read for `ids` (absent from `versions` = not
   * stored then), reused instead of reading again. Safe even if older than now: stored versions only
   * grow, and the conditional put decides, so a stale read can only cost a refused write.
   */
  async upsert(
    shopId: string,
    orders: readonly NormalizedOrder[],
    fetchedAt: number,
    options: { readonly versionsRead?: VersionsRead } = {},
  ): Promise<UpsertResult> {
    const unique = dedupeByOrderId(orders);
    const counts: UpsertCounts = { inserted: 0, updated: 0, unchanged: 0, stale: 0 };
    let candidates: { order: NormalizedOrder; expected: Decision | undefined }[];
    let itemsRead = 0;
    if (this.strategy === "read-then-write") {
      const known = options.versionsRead;
      const unread = unique.map((order) => order.orderId).filter((orderId) => !known?.ids.has(orderId));
      const stored = unread.length > 0 ? await this.readVersions(shopId, unread) : new Map();
      for (const [orderId, version] of known?.versions ?? []) stored.set(orderId, version);
      itemsRead = unread.length;
      candidates = [];
      for (const order of unique) {
        const decision = decideWrite({ ...order, fetchedAt }, stored.get(order.orderId));
        if (decision === "unchanged" || decision === "stale") counts[decision] += 1;
        else candidates.push({ order, expected: decision });
      }
    } else {
      candidates = unique.map((order) => ({ order, expected: undefined }));
    }
    const outcomes = await mapWithConcurrency(candidates, this.writeConcurrency, ({ order, expected }) =>
      this.conditionalPut(shopId, order, fetchedAt, expected),
    );
    const tooLarge: NormalizedOrder[] = [];
    outcomes.forEach((outcome, index) => {
      if (outcome === "tooLarge") tooLarge.push((candidates[index] as { order: NormalizedOrder }).order);
      else if (outcome === "insert") counts.inserted += 1;
      else if (outcome === "update") counts.updated += 1;
      else counts[outcome] += 1;
    });
    return { ...counts, writeRequests: candidates.length, itemsRead, tooLarge };
  }

  /** DynamoDB's size of the item this order would be stored as (see item-size.ts). */
  storedItemBytes(shopId: string, order: NormalizedOrder, fetchedAt: number): number {
    return itemBytes(this.itemFor(shopId, order, fetchedAt));
  }

  /** What is stored of these orders (update time, hash, fetch time): one BatchGetItem per 100. */
  async readVersions(shopId: string, orderIds: readonly string[]): Promise<Map<string, StoredVersion>> {
    const versions = new Map<string, StoredVersion>();
    for (const ids of chunk(orderIds, 100)) {
      let keys: Record<string, unknown>[] | undefined = ids.map((orderId) => ({ shopId, orderId }));
      for (let attempt = 0; keys && keys.length > 0; attempt += 1) {
        if (attempt > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
        const response: BatchGetCommandOutput = await this.options.documents.send(
          new BatchGetCommand({
            RequestItems: {
              [this.options.tableName]: {
                Keys: keys,
                ProjectionExpression: "orderId, updateTime, contentHash, fetchedAt",
              },
            },
          }),
        );
        for (const item of response.Responses?.[this.options.tableName] ?? []) {
          versions.set(item.orderId as string, item as unknown as StoredVersion);
        }
        keys = response.UnprocessedKeys?.[this.options.tableName]?.Keys;
      }
    }
    return versions;
  }

  /**
   * One conditional PutItem. With the pre-read (`expected` known) nothing comes back on success
   * (ReturnValues NONE: the decision is already made); without it, ALL_OLD tells inserted from updated.
   * A failed condition returns the stored item to classify it as unchanged or stale.
   */
  private async conditionalPut(
    shopId: string,
    order: NormalizedOrder,
    fetchedAt: number,
    expected: Decision | undefined,
  ): Promise<Decision | "tooLarge"> {
    const item = this.itemFor(shopId, order, fetchedAt);
    try {
      const response = await this.options.documents.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: item,
          ConditionExpression: WRITE_CONDITION,
          ExpressionAttributeValues: {
            ":updateTime": order.updateTime,
            ":contentHash": order.contentHash,
            ":fetchedAt": fetchedAt,
          },
          ReturnValues: expected ? "NONE" : "ALL_OLD",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      if (expected) return expected;
      return response.Attributes ? "update" : "insert";
    } catch (error) {
      if (isItemTooLargeError(error)) return "tooLarge";
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Someone stored a version at least as new: classify against it for the counters.
      const stored = error.Item ? (unmarshall(error.Item) as StoredVersion) : undefined;
      const decision = stored ? decideWrite({ ...order, fetchedAt }, stored) : "stale";
      return decision === "unchanged" ? "unchanged" : "stale";
    }
  }
}
