/** The per-shop budget on a fake clock: the injected sleep advances time instead of waiting. */
import { AdaptiveRateLimiter, perWorkerRps } from "../../shared/tiktok/rate-limiter";

function fakeTime(startMs = 1_000_000) {
  let now = startMs;
  const sleeps: number[] = [];
  return {
    clock: { nowMs: () => now },
    sleep: async (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      now += ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
    sleeps,
  };
}

/** Acquires `count` slots concurrently and returns the (fake) time each was granted. */
async function grantTimes(limiter: AdaptiveRateLimiter, time: ReturnType<typeof fakeTime>, count: number) {
  const times: number[] = [];
  await Promise.all(
    Array.from({ length: count }, () => limiter.acquire().then(() => times.push(time.now()))),
  );
  return times;
}

function maxInAnyWindow(times: number[], windowMs: number): number {
  let max = 0;
  for (const start of times) {
    max = Math.max(max, times.filter((t) => t >= start && t < start + windowMs).length);
  }
  return max;
}

describe("AdaptiveRateLimiter", () => {
  it("spaces requests at maxRps", async () => {
    const time = fakeTime();
    const limiter = new AdaptiveRateLimiter({ maxRps: 5, clock: time.clock, sleep: time.sleep });
    const start = time.now();
    const times = await grantTimes(limiter, time, 21);
    expect(times[0]).toBe(start);
    expect(times.at(-1)).toBe(start + 4_000);
    expect(maxInAnyWindow(times, 1_000)).toBeLessThanOrEqual(5);
    // Granted in call order, never two at once.
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it("allows a configured burst after idling, then the steady rate", async () => {
    const time = fakeTime();
    const limiter = new AdaptiveRateLimiter({ maxRps: 2, burst: 3, clock: time.clock, sleep: time.sleep });
    const start = time.now();
    const times = await grantTimes(limiter, time, 5);
    expect(times.slice(0, 3)).toEqual([start, start, start]);
    expect(times.slice(3)).toEqual([start + 500, start + 1_000]);
  });

  it("halves the rate on throttle, once per congestion event, never below the floor", () => {
    const time = fakeTime();
    const limiter = new AdaptiveRateLimiter({ maxRps: 4, minRps: 0.5, clock: time.clock, sleep: time.sleep });
    limiter.onThrottle();
    expect(limiter.currentRps()).toBe(2);
    limiter.onThrottle(); // same burst of 429s
    expect(limiter.currentRps()).toBe(2);
    for (let i = 0; i < 10; i++) {
      time.advance(1_000);
      limiter.onThrottle();
    }
    expect(limiter.currentRps()).toBe(0.5);
  });

  it("defaults the floor to 0.2 rps", () => {
    const time = fakeTime();
    const limiter = new AdaptiveRateLimiter({ maxRps: 10, clock: time.clock, sleep: time.sleep });
    for (let i = 0; i < 20; i++) {
      limiter.onThrottle();
      time.advance(1_000);
    }
    expect(limiter.currentRps()).toBeCloseTo(0.2, 5);
  });

  it("recovers additively after a quiet period and never exceeds maxRps", () => {
    const time = fakeTime();
    const limiter = new AdaptiveRateLimiter({
      maxRps: 10,
      quietPeriodMs: 5_000,
      increasePerSecond: 0.05,
      clock: time.clock,
      sleep: time.sleep,
    });
    limiter.onThrottle();
    expect(limiter.currentRps()).toBe(5);
    time.advance(5_000);
    expect(limiter.currentRps()).toBe(5); // still quiet
    time.advance(2_000);
    expect(limiter.currentRps()).toBeCloseTo(6, 5); // +0.5 rps per second
    time.advance(4_000);
    expect(limiter.currentRps()).toBeCloseTo(8, 5);
    time.advance(60_000);
    expect(limiter.currentRps()).toBe(10);
  });

  it("paces requests at the lowered rate after a throttle", async () => {
    const time = fakeTime();
    const limiter = new AdaptiveRateLimiter({
      maxRps: 4,
      quietPeriodMs: 60_000,
      clock: time.clock,
      sleep: time.sleep,
    });
    await limiter.acquire();
    limiter.onThrottle();
    const start = time.now();
    const times = await grantTimes(limiter, time, 4);
    // 2 rps: one every 500 ms, the saved-up token dropped by the throttle.
    expect(times).toEqual([start + 500, start + 1_000, start + 1_500, start + 2_000]);
  });

  it("never exceeds maxRps over a long mixed run", async () => {
    const time = fakeTime();
    const limiter = new AdaptiveRateLimiter({
      maxRps: 3,
      quietPeriodMs: 1_000,
      clock: time.clock,
      sleep: time.sleep,
    });
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      await limiter.acquire();
      times.push(time.now());
      if (i % 50 === 49) limiter.onThrottle();
      expect(limiter.currentRps()).toBeLessThanOrEqual(3);
    }
    expect(maxInAnyWindow(times, 1_000)).toBeLessThanOrEqual(3);
  });

  it("rejects a waiter whose signal aborts and serves the next one", async () => {
    const time = fakeTime();
    const limiter = new AdaptiveRateLimiter({ maxRps: 1, clock: time.clock, sleep: time.sleep });
    await limiter.acquire();
    const controller = new AbortController();
    controller.abort(new Error("cancelled"));
    await expect(limiter.acquire(controller.signal)).rejects.toThrow("cancelled");
    const before = time.now();
    await limiter.acquire();
    expect(time.now()).toBe(before + 1_000);
  });

  it("splits a shop budget between workers and validates the budget", () => {
    expect(perWorkerRps(6, 3)).toBe(2);
    expect(perWorkerRps(6, 0)).toBe(6);
    const time = fakeTime();
    expect(() => new AdaptiveRateLimiter({ maxRps: 0, clock: time.clock })).toThrow(RangeError);
  });
});
