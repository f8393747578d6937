/**
 * One shop's orders with two indexes kept sorted by (create_time, id) and (update_time, id), so a search
 * is a binary search plus a walk over the page, and an update moves the order within the update index
 * (as TikTok's own results do when an order changes while a client pages).
 */
import type { OrderStatus, TikTokOrder } from "../../../shared/tiktok/api-types";
import type { BurstOptions, ResolvedShop } from "./config";
import {
  applyTransition,
  buildShopProfile,
  compareIds,
  generateShopOrders,
  materializeOrder,
  newOrderRecord,
  nextStatus,
  type OrderRecord,
  type ShopProfile,
  TERMINAL_STATUSES,
} from "./dataset";
import type { SeededRandom } from "./prng";

export type SortField = "create_time" | "update_time";
export type SortOrder = "ASC" | "DESC";

/** Time bounds are unix seconds, `Ge` inclusive and `Lt` exclusive, as TikTok's body filters. */
export interface OrderFilter {
  readonly createGe?: number;
  readonly createLt?: number;
  readonly updateGe?: number;
  readonly updateLt?: number;
  readonly status?: string;
}

export type PagePosition =
  | { readonly kind: "start" }
  /** Keyset: continue strictly after this (sort key, id) in the requested order. */
  | { readonly kind: "after"; readonly key: number; readonly id: string }
  /** Offset: skip this many matching orders from the start, as a naive server would. */
  | { readonly kind: "offset"; readonly offset: number };

export interface PageResult {
  readonly records: OrderRecord[];
  readonly hasMore: boolean;
}

export interface OrderSummary {
  readonly shop_id: string;
  readonly id: string;
  readonly status: string;
  readonly create_time: number;
  readonly update_time: number;
}

/** An array kept sorted by (key, id) with binary searches for range bounds and positions. */
class SortedIndex {
  constructor(
    private readonly keyOf: (record: OrderRecord) => number,
    readonly items: OrderRecord[],
  ) {}

  get length(): number {
    return this.items.length;
  }

  at(position: number): OrderRecord {
    const record = this.items[position];
    if (record === undefined) throw new RangeError(`index position ${position} out of range`);
    return record;
  }

  key(record: OrderRecord): number {
    return this.keyOf(record);
  }

  /** First position whose key is >= `key`. */
  lowerBound(key: number): number {
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.keyOf(this.at(middle)) < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** First position whose (key, id) is >= (`key`, `id`), or > when `strictlyAfter`. */
  pairBound(key: number, id: string, strictlyAfter: boolean): number {
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const record = this.at(middle);
      const order = this.keyOf(record) - key || compareIds(record.id, id);
      if (order < 0 || (strictlyAfter && order === 0)) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Must be called while the record still has the key it was inserted with. */
  remove(record: OrderRecord): void {
    const position = this.pairBound(this.keyOf(record), record.id, false);
    if (this.items[position] !== record) throw new Error(`order ${record.id} is missing from its index`);
    this.items.splice(position, 1);
  }

  insert(record: OrderRecord): void {
    this.items.splice(this.pairBound(this.keyOf(record), record.id, false), 0, record);
  }
}

interface Range {
  readonly from: number;
  readonly to: number;
}

function matchesFilter(record: OrderRecord, filter: OrderFilter): boolean {
  return (
    (filter.createGe === undefined || record.createTime >= filter.createGe) &&
    (filter.createLt === undefined || record.createTime < filter.createLt) &&
    (filter.updateGe === undefined || record.updateTime >= filter.updateGe) &&
    (filter.updateLt === undefined || record.updateTime < filter.updateLt) &&
    (filter.status === undefined || record.status === filter.status)
  );
}

/** A field the sync relies on, which `corrupt` can leave out of an order as served. */
export const INVALID_ORDER_FIELDS = ["id", "status", "create_time", "update_time"] as const;
export type InvalidOrderField = (typeof INVALID_ORDER_FIELDS)[number];

export class ShopOrderStore {
  readonly profile: ShopProfile;
  private readonly byId = new Map<string, OrderRecord>();
  private readonly byCreate: SortedIndex;
  private readonly byUpdate: SortedIndex;
  /** Non-terminal orders, so the mutation feed advances orders that can still move. */
  private readonly open: OrderRecord[] = [];
  private nextSequence: number;
  /** Bumped on every change; invalidates cached counts. */
  private version = 0;
  private readonly countCache = new Map<string, number>();
  private readonly corrupted = new Map<string, InvalidOrderField>();
  /** Orders served with a chosen number of line items (bulk orders): id → line items. */
  private readonly lineItemCounts = new Map<string, number>();
  private countCacheVersion = 0;

  constructor(
    readonly shop: ResolvedShop,
    bursts: BurstOptions,
    now: number,
  ) {
    this.profile = buildShopProfile(shop);
    const generated = generateShopOrders(shop, bursts, now);
    this.nextSequence = generated.nextSequence;
    for (const record of generated.byCreate) {
      this.byId.set(record.id, record);
      if (!TERMINAL_STATUSES.has(record.status)) this.addOpen(record);
    }
    this.byCreate = new SortedIndex((record) => record.createTime, generated.byCreate);
    this.byUpdate = new SortedIndex((record) => record.updateTime, generated.byUpdate);
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): OrderRecord | undefined {
    return this.byId.get(id);
  }

  materialize(record: OrderRecord): TikTokOrder {
    return materializeOrder(record, this.profile, this.lineItemCounts.get(record.id));
  }

  /** From now on `id` has `count` line items (one per unit), in the truth and as served. */
  setLineItems(id: string, count: number): void {
    this.lineItemCounts.set(id, count);
  }

  /** Orders with a chosen number of line items: id → line items. */
  lineItemOverrides(): ReadonlyMap<string, number> {
    return this.lineItemCounts;
  }

  /** From now on `id` is served without `field` (an invalid order from the API); the truth keeps it whole. */
  corrupt(id: string, field: InvalidOrderField): void {
    this.corrupted.set(id, field);
  }

  /** Orders served without a field: id → the field left out. */
  corruptedOrders(): ReadonlyMap<string, InvalidOrderField> {
    return this.corrupted;
  }

  /** The order as the API serves it: materialized, minus the field `corrupt` removed, if any. */
  served(record: OrderRecord): TikTokOrder {
    const order = this.materialize(record);
    const field = this.corrupted.get(record.id);
    if (field === undefined) return order;
    const { [field]: _dropped, ...rest } = order;
    return rest as TikTokOrder;
  }

  /** Every order, in (create_time, id) order. */
  records(): readonly OrderRecord[] {
    return this.byCreate.items;
  }

  summary(record: OrderRecord): OrderSummary {
    return {
      shop_id: this.shop.id,
      id: record.id,
      status: record.status,
      create_time: record.createTime,
      update_time: record.updateTime,
    };
  }

  private indexFor(field: SortField): SortedIndex {
    return field === "create_time" ? this.byCreate : this.byUpdate;
  }

  private rangeOf(index: SortedIndex, greaterOrEqual?: number, lessThan?: number): Range {
    const from = greaterOrEqual === undefined ? 0 : index.lowerBound(greaterOrEqual);
    const to = lessThan === undefined ? index.length : index.lowerBound(lessThan);
    return { from, to: Math.max(from, to) };
  }

  private sortRange(field: SortField, filter: OrderFilter): Range {
    return field === "create_time"
      ? this.rangeOf(this.byCreate, filter.createGe, filter.createLt)
      : this.rangeOf(this.byUpdate, filter.updateGe, filter.updateLt);
  }

  /** Whether anything beyond the sort field's own bounds must be checked per order. */
  private needsPredicate(field: SortField, filter: OrderFilter): boolean {
    if (filter.status !== undefined) return true;
    return field === "create_time"
      ? filter.updateGe !== undefined || filter.updateLt !== undefined
      : filter.createGe !== undefined || filter.createLt !== undefined;
  }

  /**
   * One page in the requested order. Keyset positions cost a binary search; offset positions cost
   * nothing more when only the sort field is filtered (else the skipped matches are walked).
   */
  searchPage(
    filter: OrderFilter,
    sortField: SortField,
    sortOrder: SortOrder,
    position: PagePosition,
    limit: number,
  ): PageResult {
    const index = this.indexFor(sortField);
    const { from, to } = this.sortRange(sortField, filter);
    const checked = this.needsPredicate(sortField, filter);
    const matches = (at: number) => !checked || matchesFilter(index.at(at), filter);
    const ascending = sortOrder === "ASC";
    const step = ascending ? 1 : -1;
    const inRange = (at: number) => at >= from && at < to;
    let cursor: number;
    switch (position.kind) {
      case "start":
        cursor = ascending ? from : to - 1;
        break;
      case "after":
        cursor = ascending
          ? Math.max(from, index.pairBound(position.key, position.id, true))
          : Math.min(to, index.pairBound(position.key, position.id, false)) - 1;
        break;
      case "offset":
        cursor = ascending ? from : to - 1;
        if (!checked) {
          cursor += step * position.offset;
        } else {
          for (let skipped = 0; skipped < position.offset && inRange(cursor); cursor += step) {
            if (matches(cursor)) skipped++;
          }
        }
        break;
    }
    const records: OrderRecord[] = [];
    for (; records.length < limit && inRange(cursor); cursor += step) {
      if (matches(cursor)) records.push(index.at(cursor));
    }
    let hasMore = false;
    for (; inRange(cursor); cursor += step) {
      if (matches(cursor)) {
        hasMore = true;
        break;
      }
    }
    return { records, hasMore };
  }

  /** Orders matching the filter now; binary search only when nothing else is filtered. */
  count(filter: OrderFilter): number {
    const createRange = this.rangeOf(this.byCreate, filter.createGe, filter.createLt);
    const updateRange = this.rangeOf(this.byUpdate, filter.updateGe, filter.updateLt);
    const hasCreate = filter.createGe !== undefined || filter.createLt !== undefined;
    const hasUpdate = filter.updateGe !== undefined || filter.updateLt !== undefined;
    if (filter.status === undefined && !(hasCreate && hasUpdate)) {
      return hasCreate ? createRange.to - createRange.from : updateRange.to - updateRange.from;
    }
    if (this.countCacheVersion !== this.version) {
      this.countCache.clear();
      this.countCacheVersion = this.version;
    }
    const cacheKey = JSON.stringify(filter);
    const cached = this.countCache.get(cacheKey);
    if (cached !== undefined) return cached;
    const useCreate = createRange.to - createRange.from <= updateRange.to - updateRange.from;
    const index = useCreate ? this.byCreate : this.byUpdate;
    const range = useCreate ? createRange : updateRange;
    let total = 0;
    for (let at = range.from; at < range.to; at++) if (matchesFilter(index.at(at), filter)) total++;
    if (this.countCache.size > 256) this.countCache.clear();
    this.countCache.set(cacheKey, total);
    return total;
  }

  /** Advances one lifecycle step at `at` (terminal orders only get a newer update_time, e.g. a note). */
  advance(record: OrderRecord, at: number, random: SeededRandom): void {
    const next = nextStatus(record.status, random);
    const stampedAt = Math.max(at, record.updateTime);
    this.byUpdate.remove(record);
    if (next === undefined) record.updateTime = stampedAt;
    else applyTransition(record, next as OrderStatus, stampedAt);
    this.byUpdate.insert(record);
    if (TERMINAL_STATUSES.has(record.status)) this.removeOpen(record);
    this.version++;
  }

  /** A new UNPAID order created at `at`. */
  create(at: number, random: SeededRandom): OrderRecord {
    let record = newOrderRecord(this.shop, this.nextSequence++, at, random);
    while (this.byId.has(record.id)) record = newOrderRecord(this.shop, this.nextSequence++, at, random);
    this.byId.set(record.id, record);
    this.byCreate.insert(record);
    this.byUpdate.insert(record);
    this.addOpen(record);
    this.version++;
    return record;
  }

  /** `count` distinct orders drawn at random from all of the shop's (terminal ones included). */
  pickDistinct(count: number, random: SeededRandom): OrderRecord[] {
    const pool = [...this.byCreate.items];
    const picked: OrderRecord[] = [];
    for (let index = 0; index < count && index < pool.length; index++) {
      const swap = index + Math.floor(random.next() * (pool.length - index));
      const chosen = pool[swap] as OrderRecord;
      pool[swap] = pool[index] as OrderRecord;
      pool[index] = chosen;
      picked.push(chosen);
    }
    return picked;
  }

  /** A random order that can still move; any order once all are terminal. */
  pickForMutation(random: SeededRandom): OrderRecord | undefined {
    if (this.open.length > 0) return random.pick(this.open);
    if (this.byCreate.length === 0) return undefined;
    return this.byCreate.at(Math.floor(random.next() * this.byCreate.length));
  }

  get openCount(): number {
    return this.open.length;
  }

  private addOpen(record: OrderRecord): void {
    record.openSlot = this.open.length;
    this.open.push(record);
  }

  private removeOpen(record: OrderRecord): void {
    const slot = record.openSlot;
    if (slot < 0) return;
    const last = this.open.pop();
    if (last !== undefined && last !== record) {
      this.open[slot] = last;
      last.openSlot = slot;
    }
    record.openSlot = -1;
  }
}
