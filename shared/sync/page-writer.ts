/**
 * Validates a fetched page, quarantines invalid orders and upserts the rest: the one path by which
 * both incremental sync and full-resync workers store orders.
 */
import { isInvalidOrder, type NormalizedOrder, normalizeOrder } from "../orders/normalize";
import type { OrderStore, UpsertResult } from "../store/order-store";
import type { StateStore } from "../store/state-store";

export interface PageWriteResult extends UpsertResult {
  readonly quarantined: number;
  readonly valid: readonly NormalizedOrder[];
}

export async function writePage(
  deps: { orders: OrderStore; state: StateStore; storeRecipientData: boolean },
  shopId: string,
  rawOrders: readonly unknown[],
  fetchedAt: number,
  options: { source: string; skip?: (order: NormalizedOrder) => boolean } = { source: "sync" },
): Promise<PageWriteResult> {
  const valid: NormalizedOrder[] = [];
  let quarantined = 0;
  for (const raw of rawOrders) {
    const normalized = normalizeOrder(raw, { storeRecipientData: deps.storeRecipientData });
    if (isInvalidOrder(normalized)) {
      quarantined += 1;
      await deps.state.quarantine(shopId, {
        orderId: normalized.quarantineId,
        reason: normalized.reason,
        raw: JSON.stringify(normalized.raw ?? null).slice(0, 100_000),
        source: options.source,
      });
    } else {
      valid.push(normalized);
    }
  }
  const toWrite = options.skip ? valid.filter((order) => !options.skip?.(order)) : valid;
  const result = await deps.orders.upsert(shopId, toWrite, fetchedAt);
  return { ...result, quarantined, valid };
}
