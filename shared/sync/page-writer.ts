import type { OrderRepository, SyncStateRepository } from "./ports";
/**
 * Validates a fetched page, quarantines invalid orders and orders too large for a DynamoDB item, and
 * upserts the rest: the one path by which both incremental sync and full-resync workers store orders.
 * A quarantined order is counted and kept (QUARANTINE#<orderId>), never a page failure.
 */

import { isInvalidOrder, type NormalizedOrder, normalizeOrder } from "../orders/normalize";
import type { UpsertResult, VersionsRead } from "../orders/versions";

/** Characters of an order's JSON kept in its quarantine item (well inside an item). */
const QUARANTINED_RAW_CHARS = 100_000;

export interface PageWriteResult extends UpsertResult {
  readonly quarantined: number;
  /** Orders validated and stored (or skipped as already written); quarantined ones are not here. */
  readonly valid: readonly NormalizedOrder[];
}

function rawText(raw: unknown): string {
  return JSON.stringify(raw ?? null).slice(0, QUARANTINED_RAW_CHARS);
}

export async function writePage(
  deps: { orders: OrderRepository; state: SyncStateRepository; storeRecipientData: boolean },
  shopId: string,
  rawOrders: readonly unknown[],
  fetchedAt: number,
  options: {
    source: string;
    skip?: (order: NormalizedOrder) => boolean;
    /** Stored versions the caller already read (see OrderRepository.upsert). */
    versionsRead?: VersionsRead;
  } = { source: "sync" },
): Promise<PageWriteResult> {
  const fitting: NormalizedOrder[] = [];
  let quarantined = 0;
  const quarantineOversized = async (order: NormalizedOrder, sizeBytes: number) => {
    quarantined += 1;
    await deps.state.quarantine(shopId, {
      orderId: order.orderId,
      reason: `item size ${sizeBytes} bytes exceeds DynamoDB's ${deps.orders.maxItemBytes}-byte limit`,
      raw: rawText(order.order),
      source: options.source,
      sizeBytes,
      createTime: order.createTime,
    });
  };
  for (const raw of rawOrders) {
    const normalized = normalizeOrder(raw, { storeRecipientData: deps.storeRecipientData });
    if (isInvalidOrder(normalized)) {
      quarantined += 1;
      const createTime = (normalized.raw as { create_time?: unknown } | null)?.create_time;
      await deps.state.quarantine(shopId, {
        orderId: normalized.quarantineId,
        reason: normalized.reason,
        raw: rawText(normalized.raw),
        source: options.source,
        // Kept when valid: the reconciliation counts the order in its create_time range.
        ...(typeof createTime === "number" && Number.isInteger(createTime) && createTime >= 0
          ? { createTime }
          : {}),
      });
      continue;
    }
    const sizeBytes = deps.orders.storedItemBytes(shopId, normalized, fetchedAt);
    if (sizeBytes > deps.orders.maxItemBytes) await quarantineOversized(normalized, sizeBytes);
    else fitting.push(normalized);
  }
  const toWrite = options.skip ? fitting.filter((order) => !options.skip?.(order)) : fitting;
  const result = await deps.orders.upsert(
    shopId,
    toWrite,
    fetchedAt,
    options.versionsRead ? { versionsRead: options.versionsRead } : {},
  );
  // DynamoDB measured one as larger than our estimate did: quarantined all the same.
  const refused = new Set(result.tooLarge.map((order) => order.orderId));
  for (const order of result.tooLarge) {
    await quarantineOversized(order, deps.orders.storedItemBytes(shopId, order, fetchedAt));
  }
  const valid = refused.size === 0 ? fitting : fitting.filter((order) => !refused.has(order.orderId));
  return { ...result, quarantined, valid };
}
