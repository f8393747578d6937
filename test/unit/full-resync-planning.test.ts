/** Planner sizing (probes, bisection, merging), worker split cuts and limits, the work message and job ids. */

import {
  fullResyncSettings,
  type ShopAccess,
  windowOrderLimit,
  windowSplitLimits,
} from "../../shared/sync/full-resync/deps";
import { encodeWorkMessage, parseWorkMessage } from "../../shared/sync/full-resync/messages";
import type { PlannedWindow } from "../../shared/sync/full-resync/model";
import { mergeRanges, newJobId, planWindows } from "../../shared/sync/full-resync/planner";
import { InvalidWorkMessageError } from "../../shared/sync/full-resync/resync-errors";
import { splitCuts } from "../../shared/sync/full-resync/worker";
import { TikTokInvalidRequestError, TikTokServerError } from "../../shared/tiktok/api-errors";

const DAY = 86_400;
const NOW = 1_760_000_000;
// The probing planner (maxProbes > 0; the default plans one window and lets its first page size it).
const settings = fullResyncSettings({
  settleSeconds: 30,
  visibilityTimeoutSeconds: 10,
  maxReceiveCount: 4,
  maxProbes: 200,
});

/** A fake search port answering total_count from sorted create_times (what the planner's probes read). */
function fakeShop(createTimes: number[]): ShopAccess & { probes: { ge: number; lt: number }[] } {
  const sorted = [...createTimes].sort((a, b) => a - b);
  const lowerBound = (value: number) => {
    let low = 0;
    let high = sorted.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((sorted[middle] as number) < value) low = middle + 1;
      else high = middle;
    }
    return low;
  };
  const probes: { ge: number; lt: number }[] = [];
  return {
    shop: { shopId: "s", shopCipher: "c" },
    probes,
    tiktok: {
      async searchOrders({ body }) {
        const ge = body.create_time_ge as number;
        const lt = body.create_time_lt as number;
        probes.push({ ge, lt });
        return { orders: [], totalCount: lowerBound(lt) - lowerBound(ge) };
      },
    },
  };
}

function countIn(createTimes: number[], start: number, end: number) {
  return createTimes.filter((time) => time >= start && time < end).length;
}

function seeded(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe("planWindows", () => {
  const random = seeded(7);
  const times = Array.from({ length: 10_000 }, () => NOW - Math.floor(random() * 90 * DAY));
  // A flash sale: 700 orders in one second.
  for (let index = 0; index < 700; index++) times.push(NOW - 10 * DAY);
  const budget = { ...settings, pageBudget: 10 };

  /** Windows are contiguous over [from, to), each expecting exactly the orders it holds, and hold them all. */
  const expectCoverage = (windows: readonly PlannedWindow[], from: number, to: number) => {
    expect(windows[0]?.start).toBe(from);
    expect(windows.at(-1)?.end).toBe(to);
    let total = 0;
    windows.forEach((window, index) => {
      if (index > 0) expect(window.start).toBe(windows[index - 1]?.end);
      const count = countIn(times, window.start, window.end);
      expect(count).toBe(window.expected);
      total += count;
    });
    expect(total).toBe(times.length);
  };

  it("covers the whole range with contiguous windows of at most the limit", async () => {
    const shop = fakeShop(times);
    const from = settings.historyStart;
    const plan = await planWindows(shop, from, NOW, budget);
    expect(plan.expectedOrders).toBe(times.length);
    expectCoverage(plan.windows, from, NOW);
    for (const window of plan.windows) expect(window.expected).toBeLessThanOrEqual(windowOrderLimit(budget));
    // Merging keeps windows well filled: little more than the minimum number of windows.
    expect(plan.windows.length).toBeLessThanOrEqual(Math.ceil((times.length / 1_000) * 1.6));
    // Empty years before the first order cost one probe per halving, not one per window.
    expect(plan.probes).toBe(shop.probes.length);
    expect(plan.probes).toBeLessThan(4 * plan.windows.length + 30);
  });

  it("stops at the probe budget and leaves oversized windows to the workers' splits", async () => {
    const shop = fakeShop(times);
    const plan = await planWindows(shop, settings.historyStart, NOW, { ...budget, maxProbes: 5 });
    expect(plan.probes).toBeLessThanOrEqual(5);
    expect(plan.windows.reduce((sum, window) => sum + (window.expected ?? 0), 0)).toBe(times.length);
    expect(plan.windows.some((window) => (window.expected ?? 0) > windowOrderLimit(budget))).toBe(true);
  });

  it("plans nothing for an empty range, with one probe", async () => {
    const shop = fakeShop(times);
    const plan = await planWindows(shop, settings.historyStart, NOW - 200 * DAY, budget);
    expect(plan).toEqual({ windows: [], probes: 1, expectedOrders: 0 });
  });

  it("spreads a small job over the worker concurrency, never below five pages a window", async () => {
    const small = times.slice(0, 3_000);
    const spread = await planWindows(fakeShop(small), settings.historyStart, NOW, {
      ...settings,
      minWindows: 8,
    });
    // One window would hold all 3,000 orders (limit 4,000); eight workers get windows of 375 orders, raised to
    // the five-page floor of 500: six windows at least.
    expect(spread.windows.length).toBeGreaterThanOrEqual(6);
    for (const window of spread.windows) {
      expect(window.expected).toBeLessThanOrEqual(500);
    }
    expect(spread.windows.reduce((sum, window) => sum + (window.expected ?? 0), 0)).toBe(3_000);
    const tiny = await planWindows(fakeShop(small.slice(0, 900)), settings.historyStart, NOW, {
      ...settings,
      minWindows: 8,
    });
    // 900 orders: windows of five pages at least, so two or three (bisection is by time), not eight.
    expect(tiny.windows.length).toBeLessThanOrEqual(3);
    const single = await planWindows(fakeShop(small), settings.historyStart, NOW, settings);
    expect(single.windows).toHaveLength(1);
  });

  const SEARCH = "/order/202309/orders/search";
  /** The fake shop, but call number n (from 1) throws `failOn(n)` when that gives an error. */
  const failing = (failOn: (call: number) => Error | undefined) => {
    const shop = fakeShop(times);
    const answer = shop.tiktok.searchOrders.bind(shop.tiktok);
    let calls = 0;
    const access: ShopAccess = {
      ...shop,
      tiktok: {
        async searchOrders(request) {
          calls += 1;
          const error = failOn(calls);
          if (error) throw error;
          return answer(request);
        },
      },
    };
    return { access, calls: () => calls };
  };
  const noSleep = { sleep: async () => {} };

  it("leaves a range whose sizing probe keeps failing whole for its worker, and retries the total", async () => {
    // The total's first attempt, then some bisection probes.
    const flaky = failing((call) =>
      [1, 4, 5, 9].includes(call)
        ? new TikTokServerError("HTTP 503", { endpoint: SEARCH, httpStatus: 503 })
        : undefined,
    );
    const warnings: string[] = [];
    const log = { info: () => {}, error: () => {}, warn: (message: string) => void warnings.push(message) };
    const sleeps: number[] = [];
    const plan = await planWindows(flaky.access, settings.historyStart, NOW, budget, {
      log,
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(sleeps).toHaveLength(1);
    expect(plan.expectedOrders).toBe(times.length);
    expect(plan.probes).toBe(flaky.calls());
    expect(warnings.length).toBeGreaterThan(0);
    // Still contiguous and complete; the ranges left whole are oversized for the worker to split.
    expectCoverage(plan.windows, settings.historyStart, NOW);
    expect(plan.windows.some((window) => (window.expected ?? 0) > windowOrderLimit(budget))).toBe(true);
  });

  it("fails the plan when the total cannot be read, and on an error retrying cannot fix", async () => {
    const down = new TikTokServerError("HTTP 503", { endpoint: SEARCH, httpStatus: 503 });
    const invalid = new TikTokInvalidRequestError("bad", { endpoint: SEARCH, code: 36009004 });
    // The total failing both rounds; the total refused outright; a bisection probe refused.
    const cases: [(call: number) => Error | undefined, Error, number][] = [
      [() => down, down, 2],
      [() => invalid, invalid, 1],
      [(call) => (call === 3 ? invalid : undefined), invalid, 3],
    ];
    for (const [failOn, expected, calls] of cases) {
      const shop = failing(failOn);
      await expect(planWindows(shop.access, settings.historyStart, NOW, budget, noSleep)).rejects.toBe(
        expected,
      );
      expect(shop.calls()).toBe(calls);
    }
  });

  it("never splits below one second", async () => {
    const burst = Array.from({ length: 3_000 }, () => NOW - 100);
    const plan = await planWindows(fakeShop(burst), NOW - 1_000, NOW, budget);
    expect(plan.windows).toHaveLength(1);
    expect(plan.windows[0]?.expected).toBe(3_000);
    const only = plan.windows[0];
    expect(only && countIn(burst, only.start, only.end)).toBe(3_000);
  });
});

describe("mergeRanges", () => {
  it("merges neighbours up to the limit and closes gaps", () => {
    const windows = mergeRanges(
      [
        { start: 10, end: 20, count: 300 },
        { start: 20, end: 30, count: 300 },
        { start: 40, end: 50, count: 500 },
        { start: 50, end: 60, count: 900 },
      ],
      0,
      100,
      1_000,
    );
    expect(windows).toEqual([
      { start: 0, end: 40, expected: 600 },
      { start: 40, end: 50, expected: 500 },
      { start: 50, end: 100, expected: 900 },
    ]);
  });
});

describe("splitCuts and windowSplitLimits (a window split on its first page)", () => {
  it("cuts after the kept page for even shares, the first child's share reduced by the page", () => {
    // 300 orders left after the page's newest second (100), three children of 100: the first already
    // holds 50 of its share, so it reaches only a sixth of the way; the second's share ends halfway.
    expect(splitCuts(100, 200, 300, 50, 3)).toEqual([117, 150]);
    expect(splitCuts(100, 200, 300, 100, 3)).toEqual([133, 167]);
  });

  it("keeps every cut strictly inside the span, one second apart at least", () => {
    expect(splitCuts(100, 102, 1_000, 0, 8)).toEqual([101]);
    expect(splitCuts(100, 101, 1_000, 0, 8)).toEqual([]);
    const cuts = splitCuts(0, 50, 10_000, 0, 16);
    expect(cuts.length).toBe(15);
    cuts.forEach((cut, index) => {
      expect(cut).toBeGreaterThan(index === 0 ? 0 : (cuts[index - 1] as number));
      expect(cut).toBeLessThan(50);
    });
  });

  it("splits above the window limit always, and a spread job's windows only well above their share", () => {
    const limit = windowOrderLimit(settings);
    expect(windowSplitLimits(settings, 283_300)).toEqual({
      splitAbove: limit,
      childTarget: Math.floor(limit * 0.96),
    });
    // 20,000 orders on 10 workers: six windows of 3,334 orders, split again only above 1.25 × that.
    const spread = { ...settings, minWindows: 10 };
    expect(windowSplitLimits(spread, 20_000)).toEqual({ splitAbove: 4_167, childTarget: 3_334 });
    // 3,000 orders: six windows of five pages.
    expect(windowSplitLimits(spread, 3_000)).toEqual({ splitAbove: 625, childTarget: 500 });
    // One worker: nothing to spread, a job below the limit is never split.
    expect(windowSplitLimits(settings, 3_000).splitAbove).toBeGreaterThan(3_000);
  });
});

describe("work messages", () => {
  it("round-trips and rejects anything else", () => {
    const message = { shopId: "s", jobId: "j", window: 3, sequence: 7, pageToken: "t" };
    expect(parseWorkMessage(encodeWorkMessage(message))).toEqual(message);
    expect(() => parseWorkMessage("{")).toThrow(InvalidWorkMessageError);
    expect(() => parseWorkMessage(JSON.stringify({ ...message, extra: 1 }))).toThrow(InvalidWorkMessageError);
    expect(() => parseWorkMessage(JSON.stringify({ ...message, sequence: -1 }))).toThrow(/sequence/);
  });
});

describe("job ids", () => {
  it("sort by time and fit the API's job_id pattern", () => {
    const earlier = newJobId(Date.UTC(2024, 4, 1, 12, 0, 0));
    const later = newJobId(Date.UTC(2024, 4, 1, 12, 0, 1));
    expect(earlier).toMatch(/^20240501T120000Z-[0-9a-f]{8}$/);
    expect(earlier < later).toBe(true);
    expect(later).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });
});
