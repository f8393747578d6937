/**
 * How an incremental run reads its window [lower, windowEnd) from TikTok's order search (DESIGN
 * "Sync semantics" rules 2 and 4).
 *
 * - By value: every next query restarts at the highest update_time committed so far (only orders inside
 *   the query's range count) and skips what this run already wrote. page_token is followed only while a
 *   page sits inside one second, so an offset-style token never skips an unchanged order when another
 *   leaves the window mid-paging, and each query serves at most a page or two.
 * - The end of a query is a page without a next token whose query served everything it counted; a short
 *   page with a token is not the end.
 * - One second a query cannot get past (more orders share it than one query serves: the result cap; or
 *   tokens refused every time) is read whole in parts: by create_time, by value, inside that update_time
 *   second; a create_time second still too large is read status by status (`order_status`, a documented
 *   filter). Only what no filter can split stops the run, with a typed error and the checkpoint kept.
 */

import type { NormalizedOrder } from "../orders/normalize";
import { isPageTokenRefusal } from "../tiktok/api-errors";
import { ORDER_STATUSES, type SearchOrdersBody, type SearchOrdersQuery } from "../tiktok/api-types";
import { type Deadline, isOutOfTime, TIME_BUDGET } from "../time-budget";
import type { IncrementalSyncDeps, RunCounts } from "./incremental-deps";
import { writePage } from "./page-writer";
import type { SearchPage, ShopRef } from "./ports";

/**
 * Requests in a row that one query may spend without progress (no new order committed, restart point
 * unmoved: refused page tokens, re-read or empty pages) before the second it is in is read another way.
 * A token refused every time while more than a page of orders shares one second would otherwise loop:
 * each restart by value re-reads that second and needs a token again. One refusal and the re-read
 * first page stay well inside the bound.
 */
export const MAX_REQUESTS_WITHOUT_PROGRESS = 4;

/** Where inside an update_time second the run got stuck, when it was reading that second in parts. */
export interface SecondPart {
  readonly createTime: number;
  readonly status?: string;
}

function describePlace(second: number, part: SecondPart | undefined): string {
  if (part === undefined) return `update_time ${second}`;
  const status = part.status === undefined ? "" : ` and status ${part.status}`;
  return `update_time ${second}, create_time ${part.createTime}${status}`;
}

/**
 * The run stopped rather than skip orders or loop: TikTok's search cannot get past one update_time
 * second. The checkpoint keeps what was written; the cursor does not move; every tick tries again.
 */
export abstract class SearchStuckError extends Error {
  constructor(
    readonly shopId: string,
    readonly second: number,
    readonly part: SecondPart | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** More orders share one (update_time, create_time, status) than one query serves (the result cap). */
export class ResultCapExceededError extends SearchStuckError {
  constructor(
    shopId: string,
    second: number,
    readonly totalCount: number,
    readonly served: number,
    part?: SecondPart,
  ) {
    super(
      shopId,
      second,
      part,
      `shop ${shopId}: ${totalCount} orders share ${describePlace(second, part)}, but one query stopped after ${served} (result cap) and no search filter splits them further`,
    );
  }
}

/** No progress inside one second: page tokens refused (or pages adding nothing) every time. */
export class SearchStalledError extends SearchStuckError {
  constructor(
    shopId: string,
    second: number,
    readonly requests: number,
    part: SecondPart | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      shopId,
      second,
      part,
      `shop ${shopId}: no progress inside ${describePlace(second, part)} after ${requests} requests in a row (page tokens refused or pages adding nothing); stopped with the checkpoint kept`,
      options,
    );
  }
}

/** Read status by status, one create_time second held fewer orders than its count: a status we do not know. */
export class StatusSplitIncompleteError extends SearchStuckError {
  constructor(
    shopId: string,
    second: number,
    createTime: number,
    readonly totalCount: number,
    readonly served: number,
  ) {
    super(
      shopId,
      second,
      { createTime },
      `shop ${shopId}: ${totalCount} orders share ${describePlace(second, { createTime })}, but reading them status by status served ${served}: some have a status outside the documented list`,
    );
  }
}

/** The run stops between pages with its checkpoint kept: no time left (unwinds nested scans). */
export class RunPaused extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RunPaused";
  }
}

/** Why a scan cannot get past one key second by value. */
type StuckSecond =
  | { readonly kind: "result-cap"; readonly totalCount: number; readonly served: number }
  | { readonly kind: "stalled"; readonly requests: number; readonly cause: unknown }
  /** A run resuming inside a second an earlier run was reading in parts. */
  | { readonly kind: "resumed" };

/** One way of reading a key range by value; the run's main scan is on update_time. */
interface ByValueScan {
  readonly sortField: "update_time" | "create_time";
  readonly keyOf: (order: NormalizedOrder) => number;
  /** The query restarting at key `from`. */
  readonly body: (from: number) => SearchOrdersBody;
  /** Whether a served order lies inside the query from `from`: only those move the restart point. */
  readonly inRange: (order: NormalizedOrder, from: number) => boolean;
  /** Exclusive end of the key range. */
  readonly end: number;
  /** What the checkpoint records while the scan restarts at `from`. */
  readonly position: (from: number) => RestartPoint;
  /** Reads key second `key` whole when queries from it cannot get past it, or throws. */
  readonly readSecond: (key: number, why: StuckSecond) => Promise<void>;
  /** Forgets written orders no later query of this scan serves again (memory only). */
  readonly forget?: (written: Map<string, number>, from: number) => void;
  /** Log fields locating the query. */
  readonly describe: (from: number) => Record<string, unknown>;
}

/** Where a resumed run restarts: an update_time, and inside it a create_time when it was read in parts. */
export interface RestartPoint {
  readonly position: number;
  readonly createFrom?: number;
}

export type WindowReaderDeps = Pick<
  IncrementalSyncDeps,
  "tiktok" | "orders" | "state" | "clock" | "log" | "settings"
>;

/** One run's window: its counts, checkpoint and time budget, shared by the scans that read it. */
export class WindowReader {
  readonly counts: RunCounts = {
    inserted: 0,
    updated: 0,
    unchanged: 0,
    stale: 0,
    quarantined: 0,
    pages: 0,
  };
  maxUpdateTime: number | undefined;
  /** Orders this run wrote that a later query may serve again: id → the update_time written. */
  private readonly written = new Map<string, number>();

  constructor(
    private readonly deps: WindowReaderDeps,
    private readonly shop: ShopRef,
    private readonly runId: string,
    readonly windowEnd: number,
    private readonly pageSize: number,
    private readonly deadline: Deadline,
    private readonly signal: AbortSignal | undefined,
  ) {}

  private get shopId(): string {
    return this.shop.shopId;
  }

  /**
   * Reads [start.position, windowEnd), first the rest of second `start.position` by create_time when the
   * run resumes inside it. Throws RunPaused when out of time, SearchStuckError when stuck.
   */
  async read(start: RestartPoint): Promise<void> {
    const { windowEnd } = this;
    let lower = start.position;
    if (start.createFrom !== undefined && lower < windowEnd) {
      await this.readUpdateSecond(lower, { kind: "resumed" }, start.createFrom);
      lower += 1;
      await this.checkpoint({ position: lower });
    }
    await this.scanByValue(
      {
        sortField: "update_time",
        keyOf: (order) => order.updateTime,
        body: (from) => ({ update_time_ge: from, update_time_lt: windowEnd }),
        // An order served at or past windowEnd (a search index lagging the order's current state) is
        // stored all the same, but would jump the restart point past everything not read yet.
        inRange: (order, from) => order.updateTime >= from && order.updateTime < windowEnd,
        end: windowEnd,
        position: (from) => ({ position: from }),
        forget: (written, from) => {
          for (const [orderId, updateTime] of written) if (updateTime < from) written.delete(orderId);
        },
        readSecond: (second, why) => this.readUpdateSecond(second, why),
        describe: (from) => ({ lower: from, windowEnd }),
      },
      lower,
    );
  }

  /** Update_time second `second`, whole, by create_time value (its orders' create_times differ). */
  private async readUpdateSecond(second: number, why: StuckSecond, createFrom = 0): Promise<void> {
    this.deps.log.warn(`update_time second ${second} ${explain(why)}: reading it by create_time`, {
      shopId: this.shopId,
      second,
      ...detailsOf(why),
      createFrom,
    });
    const sameSecond = { update_time_ge: second, update_time_lt: second + 1 };
    await this.scanByValue(
      {
        sortField: "create_time",
        keyOf: (order) => order.createTime,
        body: (from) => (from > 0 ? { ...sameSecond, create_time_ge: from } : sameSecond),
        inRange: (order, from) => order.updateTime === second && order.createTime >= from,
        end: Number.POSITIVE_INFINITY,
        position: (from) => ({ position: second, createFrom: from }),
        readSecond: (createTime, stuck) => this.readByStatus(second, createTime, stuck),
        describe: (from) => ({ second, createFrom: from }),
      },
      createFrom,
    );
  }

  /**
   * One (update_time, create_time) second, whole, status by status (a `create` flood shares both).
   * Orders changing meanwhile leave the second and are read later at their new update_time.
   */
  private async readByStatus(second: number, createTime: number, why: StuckSecond): Promise<void> {
    this.deps.log.warn(
      `update_time second ${second}, create_time ${createTime} ${explain(why)}: reading it status by status`,
      { shopId: this.shopId, second, createTime, ...detailsOf(why) },
    );
    const body: SearchOrdersBody = {
      update_time_ge: second,
      update_time_lt: second + 1,
      create_time_ge: createTime,
      create_time_lt: createTime + 1,
    };
    let served = 0;
    for (const status of ORDER_STATUSES) {
      served += await this.readStatusPart(second, { ...body, order_status: status }, { createTime, status });
    }
    // An order in a status outside the documented list would be passed over in silence: count them all.
    const count = await this.search({ page_size: 1, sort_field: "create_time", sort_order: "ASC" }, body);
    if (count.totalCount > served) {
      throw new StatusSplitIncompleteError(this.shopId, second, createTime, count.totalCount, served);
    }
  }

  /** One status of one (update_time, create_time) second, following tokens; returns the orders served. */
  private async readStatusPart(second: number, body: SearchOrdersBody, part: SecondPart): Promise<number> {
    let pageToken: string | undefined;
    let served = 0;
    let withoutProgress = 0;
    let lastRefusal: unknown;
    for (;;) {
      if (withoutProgress >= MAX_REQUESTS_WITHOUT_PROGRESS) {
        throw new SearchStalledError(this.shopId, second, withoutProgress, part, { cause: lastRefusal });
      }
      let page: SearchPage;
      try {
        page = await this.search(this.pageQuery("create_time", pageToken), body);
      } catch (error) {
        if (!isPageTokenRefusal(error, pageToken !== undefined)) throw error;
        this.tokenRefused(error, { second, ...part });
        lastRefusal = error;
        withoutProgress += 1;
        pageToken = undefined;
        served = 0;
        continue;
      }
      const { fresh } = await this.commit(page.orders);
      served += page.orders.length;
      await this.checkpoint({ position: second, createFrom: part.createTime });
      if (page.nextPageToken) {
        pageToken = page.nextPageToken;
        withoutProgress = fresh > 0 ? 0 : withoutProgress + 1;
        continue;
      }
      if (served > 0 && served < page.totalCount) {
        throw new ResultCapExceededError(this.shopId, second, page.totalCount, served, part);
      }
      return served;
    }
  }

  /**
   * Pages through a scan by value: every next query restarts at the highest key committed so far, and
   * page_token is followed only while a page sits inside key second `from`. The end is a page without a
   * next token whose query served everything it counted.
   */
  private async scanByValue(scan: ByValueScan, start: number): Promise<void> {
    let from = start;
    let pageToken: string | undefined;
    /** Orders the current query (its first page and those its tokens led to) has served. */
    let servedInQuery = 0;
    let withoutProgress = 0;
    let lastRefusal: unknown;
    const restartAt = (key: number) => {
      if (key !== from) {
        from = key;
        scan.forget?.(this.written, from);
        withoutProgress = 0;
      }
      pageToken = undefined;
      servedInQuery = 0;
    };
    const readWholeSecond = async (why: StuckSecond) => {
      await scan.readSecond(from, why);
      restartAt(from + 1);
      await this.checkpoint(scan.position(from));
    };

    while (from < scan.end) {
      if (withoutProgress >= MAX_REQUESTS_WITHOUT_PROGRESS) {
        await readWholeSecond({ kind: "stalled", requests: withoutProgress, cause: lastRefusal });
        continue;
      }
      let page: SearchPage;
      try {
        page = await this.search(this.pageQuery(scan.sortField, pageToken), scan.body(from));
      } catch (error) {
        if (!isPageTokenRefusal(error, pageToken !== undefined)) throw error;
        // Restart the query at its last committed key; what this run wrote there is skipped.
        this.tokenRefused(error, scan.describe(from));
        lastRefusal = error;
        withoutProgress += 1;
        restartAt(from);
        continue;
      }
      const { valid, fresh } = await this.commit(page.orders);
      servedInQuery += page.orders.length;
      const inRange = valid.filter((order) => scan.inRange(order, from));
      this.reportIrregularPage(scan, from, valid, inRange);
      const pageMax = inRange.reduce((max, order) => Math.max(max, scan.keyOf(order)), from);
      // A query can end before its total_count: TikTok pages through a limited number of results per
      // query (the result cap). Only a query that served everything it counted has reached the end; one
      // that served nothing at all has too (a count no query can serve is not a cap to split around).
      const capped = !page.nextPageToken && servedInQuery > 0 && servedInQuery < page.totalCount;
      if (capped && pageMax <= from) {
        // More orders share key second `from` than one query serves: restarting there by value would
        // ask the same query again.
        await readWholeSecond({ kind: "result-cap", totalCount: page.totalCount, served: servedInQuery });
        continue;
      }
      if (capped) {
        this.deps.log.warn("query ended before its total_count (result cap); continuing by value", {
          shopId: this.shopId,
          ...scan.describe(pageMax),
          served: servedInQuery,
          totalCount: page.totalCount,
        });
      }
      const lastPage = !page.nextPageToken && !capped;
      if (pageMax > from) {
        restartAt(pageMax);
      } else {
        // The page sits in key second `from`: only the token can move past it.
        pageToken = page.nextPageToken;
        if (fresh > 0) withoutProgress = 0;
        else if (!lastPage) withoutProgress += 1;
      }
      // After the last page the caller commits (the run's completion, or the outer scan's checkpoint),
      // both conditional on the lock: a checkpoint here would be one more round trip for nothing.
      if (lastPage) return;
      await this.checkpoint(scan.position(from));
    }
  }

  private pageQuery(sortField: ByValueScan["sortField"], pageToken: string | undefined): SearchOrdersQuery {
    return {
      page_size: this.pageSize,
      sort_field: sortField,
      sort_order: "ASC",
      ...(pageToken ? { page_token: pageToken } : {}),
    };
  }

  private async search(query: SearchOrdersQuery, body: SearchOrdersBody): Promise<SearchPage> {
    if (!this.deadline.allows(TIME_BUDGET.pageStartMs)) throw new RunPaused("no time left to start a page");
    try {
      return await this.deps.tiktok.searchOrders({
        shopCipher: this.shop.shopCipher,
        query,
        body,
        ...(this.signal ? { signal: this.signal } : {}),
        ...(this.deadline.bounded ? { deadline: this.deadline.minus(TIME_BUDGET.pageCommitReserveMs) } : {}),
      });
    } catch (error) {
      if (!isOutOfTime(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      this.deps.log.info("incremental sync paused: the page does not fit in the time left", {
        shopId: this.shopId,
        body,
        reason,
      });
      throw new RunPaused(reason, { cause: error });
    }
  }

  /**
   * Stores a page, skipping orders this run already wrote in the same version, and remembers what it
   * wrote. `fresh` counts the orders new to this run (progress).
   */
  private async commit(
    rawOrders: readonly unknown[],
  ): Promise<{ valid: readonly NormalizedOrder[]; fresh: number }> {
    const { deps, written } = this;
    const alreadyWritten = (order: NormalizedOrder) => written.get(order.orderId) === order.updateTime;
    const result = await writePage(
      { orders: deps.orders, state: deps.state, storeRecipientData: deps.settings.storeRecipientData },
      this.shopId,
      rawOrders,
      deps.clock.nowMs(),
      { source: "incremental", skip: alreadyWritten },
    );
    const counts = this.counts;
    counts.pages += 1;
    counts.inserted += result.inserted;
    counts.updated += result.updated;
    counts.unchanged += result.unchanged;
    counts.stale += result.stale;
    counts.quarantined += result.quarantined;
    let fresh = 0;
    for (const order of result.valid) {
      if (!alreadyWritten(order)) fresh += 1;
      written.set(order.orderId, order.updateTime);
      this.maxUpdateTime = Math.max(this.maxUpdateTime ?? order.updateTime, order.updateTime);
    }
    return { valid: result.valid, fresh };
  }

  /** Commits the restart point and renews the lock lease (conditional on holding the lock). */
  private checkpoint(point: RestartPoint): Promise<void> {
    const { deps } = this;
    return deps.state.checkpoint(this.shopId, this.runId, deps.settings.lockLeaseMs, {
      runId: this.runId,
      ...point,
      windowEnd: this.windowEnd,
    });
  }

  private tokenRefused(error: unknown, where: Record<string, unknown>): void {
    this.deps.log.warn("page token refused; restarting the query from its last committed key", {
      shopId: this.shopId,
      ...where,
      error: error instanceof Error ? error.message : String(error),
    });
  }

  /** Logs (ids only) a page holding orders outside its query's range, or not sorted by its key. */
  private reportIrregularPage(
    scan: ByValueScan,
    from: number,
    served: readonly NormalizedOrder[],
    inRange: readonly NormalizedOrder[],
  ): void {
    if (inRange.length < served.length) {
      const inside = new Set(inRange);
      this.deps.log.warn(
        "search page holds orders outside the query's range; they do not move the restart point",
        {
          shopId: this.shopId,
          ...scan.describe(from),
          orderIds: served.filter((order) => !inside.has(order)).map((order) => order.orderId),
        },
      );
    }
    const sorted = served.every(
      (order, index) => index === 0 || scan.keyOf(order) >= scan.keyOf(served[index - 1] as NormalizedOrder),
    );
    if (!sorted) {
      this.deps.log.warn(
        `search page not sorted by ${scan.sortField}; the restart point is its highest key in range`,
        {
          shopId: this.shopId,
          ...scan.describe(from),
          orderIds: served.map((order) => order.orderId),
        },
      );
    }
  }
}

function explain(why: StuckSecond): string {
  switch (why.kind) {
    case "result-cap":
      return "holds more orders than one query serves (result cap)";
    case "stalled":
      return "makes no progress (page tokens refused or pages adding nothing)";
    case "resumed":
      return "was being read in parts when the run stopped";
  }
}

function detailsOf(why: StuckSecond): Record<string, unknown> {
  switch (why.kind) {
    case "result-cap":
      return { totalCount: why.totalCount, served: why.served };
    case "stalled":
      return { requests: why.requests };
    case "resumed":
      return {};
  }
}
