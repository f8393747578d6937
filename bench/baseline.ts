/**
 * The seed's way, for comparison: one sequential loop over the whole history, page by page
 * (page_size 100, `create_time` DESC, following page_token), writing each page before fetching the
 * next. Its writes are the fastest DynamoDB offers — unconditional BatchWriteItem, the page's four
 * requests in parallel — so the baseline is, if anything, faster than the seed was. It may stop after
 * `maxPages`; its time is then extrapolated linearly to every page (the per-page cost does not depend
 * on the position: keyset tokens, constant page size).
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { chunk } from "../shared/concurrency";
import { isInvalidOrder, type NormalizedOrder, normalizeOrder } from "../shared/orders/normalize";
import { storedItem } from "../shared/store/order-store";
import type { OrderSearchPort, ShopRef } from "../shared/sync/ports";
import { batchWrite } from "./store-floor";

export interface BaselineResult {
  readonly pagesRun: number;
  readonly pagesTotal: number;
  readonly ordersWritten: number;
  readonly measuredMs: number;
  /** Time for every page at the measured pace (= measuredMs when the whole history ran). */
  readonly extrapolatedMs: number;
  readonly extrapolated: boolean;
  /** Mean time per page spent waiting for TikTok, and writing. */
  readonly fetchMsPerPage: number;
  readonly writeMsPerPage: number;
  readonly writtenIds: ReadonlyMap<string, number>;
}

export async function runBaseline(input: {
  readonly tiktok: OrderSearchPort;
  readonly shop: ShopRef;
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly totalOrders: number;
  readonly maxPages: number;
}): Promise<BaselineResult> {
  const pagesTotal = Math.max(1, Math.ceil(input.totalOrders / 100));
  const writtenIds = new Map<string, number>();
  let pageToken: string | undefined;
  let pagesRun = 0;
  let fetchMs = 0;
  let writeMs = 0;
  const started = performance.now();
  while (pagesRun < input.maxPages) {
    const fetchStarted = performance.now();
    const page = await input.tiktok.searchOrders({
      shopCipher: input.shop.shopCipher,
      query: {
        page_size: 100,
        sort_field: "create_time",
        sort_order: "DESC",
        ...(pageToken ? { page_token: pageToken } : {}),
      },
      body: {},
    });
    const writeStarted = performance.now();
    fetchMs += writeStarted - fetchStarted;
    const fetchedAt = Date.now();
    const orders = page.orders
      .map((raw) => normalizeOrder(raw, { storeRecipientData: true }))
      .filter((order): order is NormalizedOrder => !isInvalidOrder(order));
    const items = orders.map((order) => storedItem(input.shop.shopId, order, fetchedAt));
    await Promise.all(chunk(items, 25).map((group) => batchWrite(input.documents, input.tableName, group)));
    for (const order of orders) writtenIds.set(order.orderId, order.updateTime);
    writeMs += performance.now() - writeStarted;
    pagesRun += 1;
    pageToken = page.nextPageToken || undefined;
    if (!pageToken) break;
  }
  const measuredMs = performance.now() - started;
  const extrapolated = pageToken !== undefined && pagesRun < pagesTotal;
  return {
    pagesRun,
    pagesTotal: extrapolated ? pagesTotal : pagesRun,
    ordersWritten: writtenIds.size,
    measuredMs,
    extrapolatedMs: extrapolated ? (measuredMs / pagesRun) * pagesTotal : measuredMs,
    extrapolated,
    fetchMsPerPage: fetchMs / Math.max(1, pagesRun),
    writeMsPerPage: writeMs / Math.max(1, pagesRun),
    writtenIds,
  };
}
