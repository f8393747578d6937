/**
 * A per-shop request budget: a token bucket refilled at an adaptive rate (AIMD). TikTok publishes no
 * fixed QPS, so we start at the configured budget, halve it on every 429 and ramp back additively
 * after a quiet period (TIKTOK_API.md "Rate limits").
 *
 * The budget is a number passed in: on Lambda the caller divides the shop's budget by the worker
 * concurrency (see `perWorkerRps`), locally it is the whole budget. Nothing here reads env.
 */
import type { Clock } from "../clock";
import { abortableSleep, type Sleep } from "./retry";

/** The port the TikTok client uses. */
export interface RateLimiter {
  /** Resolves when the caller may send one request; rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<void>;
  /** The server answered 429: slow down. */
  onThrottle(): void;
}

export interface AdaptiveRateLimiterOptions {
  /** The budget (requests per second) this limiter may use; never exceeded. */
  readonly maxRps: number;
  /** Floor of the multiplicative decrease (default 0.2 rps, or maxRps if that is lower). */
  readonly minRps?: number;
  /** Bucket capacity: requests that may go back to back after idling (default 1: even spacing). */
  readonly burst?: number;
  /** No increase until this long after the last throttle (default 5 s). */
  readonly quietPeriodMs?: number;
  /** Additive increase per second, as a fraction of maxRps (default 0.05 = +5 %/s). */
  readonly increasePerSecond?: number;
  /** Throttles closer together than this count as one congestion event (default 1 s). */
  readonly throttleCooldownMs?: number;
  readonly clock: Clock;
  readonly sleep?: Sleep;
}

/** A shop budget shared by `workers` concurrent workers (e.g. Lambda reserved concurrency). */
export function perWorkerRps(shopRps: number, workers: number): number {
  return shopRps / Math.max(1, Math.floor(workers));
}

export class AdaptiveRateLimiter implements RateLimiter {
  private readonly maxRps: number;
  private readonly minRps: number;
  private readonly burst: number;
  private readonly quietPeriodMs: number;
  private readonly increasePerSecond: number;
  private readonly throttleCooldownMs: number;
  private readonly clock: Clock;
  private readonly sleep: Sleep;

  private rate: number;
  private tokens: number;
  private lastRefillMs: number;
  private lastRampMs: number;
  private lastThrottleMs = Number.NEGATIVE_INFINITY;
  /** Acquisitions are served one at a time, in call order (FIFO, no starvation). */
  private queue: Promise<void> = Promise.resolve();

  constructor(options: AdaptiveRateLimiterOptions) {
    if (!(options.maxRps > 0) || !Number.isFinite(options.maxRps)) {
      throw new RangeError(`maxRps must be a positive number, got ${options.maxRps}`);
    }
    this.maxRps = options.maxRps;
    this.minRps = Math.min(options.minRps ?? 0.2, options.maxRps);
    this.burst = Math.max(1, options.burst ?? 1);
    this.quietPeriodMs = options.quietPeriodMs ?? 5_000;
    this.increasePerSecond = options.increasePerSecond ?? 0.05;
    this.throttleCooldownMs = options.throttleCooldownMs ?? 1_000;
    this.clock = options.clock;
    this.sleep = options.sleep ?? abortableSleep;
    this.rate = options.maxRps;
    this.tokens = this.burst;
    this.lastRefillMs = options.clock.nowMs();
    this.lastRampMs = this.lastRefillMs;
  }

  /** The current allowed rate (requests per second). */
  currentRps(): number {
    this.advance(this.clock.nowMs());
    return this.rate;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    const previous = this.queue;
    const turn = waitFor(previous, signal).then(() => this.takeToken(signal));
    // The next caller waits for this one (and everyone before it) to finish, token or abort.
    this.queue = previous.then(() => turn.catch(() => undefined));
    return turn;
  }

  onThrottle(): void {
    const now = this.clock.nowMs();
    this.advance(now);
    // Several in-flight requests see the same 429 burst: cut once per congestion event.
    if (now - this.lastThrottleMs >= this.throttleCooldownMs) {
      this.rate = Math.max(this.minRps, this.rate / 2);
    }
    this.lastThrottleMs = now;
    this.lastRampMs = now;
    // Drop any saved-up burst: the server just told us it is saturated.
    this.tokens = Math.min(this.tokens, 0);
  }

  private async takeToken(signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      this.advance(this.clock.nowMs());
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.sleep(Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate)), signal);
    }
  }

  /** Refills the bucket and applies the additive increase up to `now`. */
  private advance(now: number): void {
    if (now > this.lastRefillMs) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefillMs) / 1000) * this.rate);
      this.lastRefillMs = now;
    }
    const rampFrom = Math.max(this.lastRampMs, this.lastThrottleMs + this.quietPeriodMs);
    if (now > rampFrom && this.rate < this.maxRps) {
      const step = this.increasePerSecond * this.maxRps * ((now - rampFrom) / 1000);
      this.rate = Math.min(this.maxRps, this.rate + step);
    }
    if (now > this.lastRampMs) this.lastRampMs = now;
  }
}

/** Resolves when `previous` settles, or rejects as soon as `signal` aborts. */
function waitFor(previous: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return previous;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    previous.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
    );
  });
}
