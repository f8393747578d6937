/**
 * The time an invocation may still spend (DESIGN "Lambda execution model"): each handler derives a
 * Deadline from its Lambda context (`getRemainingTimeInMillis`) and hands it down to the sync core and
 * the TikTok client, which keep back what must follow (a page's commit, the response) and stop
 * starting work that cannot finish. No globals: a Deadline is a value passed per call.
 *
 * A deadline counts real elapsed time (the Lambda's own clock), never the business Clock that tests
 * move forward by days. Tests inject `now` to drive the arithmetic.
 */

/** Anything that says how long is left, like Lambda's Context. */
export interface RemainingTime {
  getRemainingTimeInMillis(): number;
}

export type Now = () => number;

const realNow: Now = () => Date.now();

/** Node's timers take at most 2^31 − 1 ms; a longer deadline gets no abort signal. */
const MAX_TIMER_MS = 2_147_483_647;

export class Deadline {
  private constructor(
    /** Epoch ms on `now`'s scale; Infinity for no deadline. */
    readonly atMs: number,
    private readonly now: Now,
  ) {}

  /** `ms` from now. */
  static in(ms: number, now: Now = realNow): Deadline {
    return new Deadline(now() + Math.max(0, ms), now);
  }

  /** What a Lambda context (or the local twin's) says is left. */
  static fromContext(context: RemainingTime, now: Now = realNow): Deadline {
    return Deadline.in(context.getRemainingTimeInMillis(), now);
  }

  /** No deadline (CLI runs, tests that do not care): never expires. */
  static none(now: Now = realNow): Deadline {
    return new Deadline(Number.POSITIVE_INFINITY, now);
  }

  get bounded(): boolean {
    return Number.isFinite(this.atMs);
  }

  /** Milliseconds left (0 once passed, Infinity without a deadline). */
  remainingMs(): number {
    return Math.max(0, this.atMs - this.now());
  }

  /** Whether at least `ms` are left. */
  allows(ms: number): boolean {
    return this.remainingMs() >= ms;
  }

  expired(): boolean {
    return this.remainingMs() <= 0;
  }

  /** The deadline `ms` earlier: time kept back for what must still follow. */
  minus(ms: number): Deadline {
    return new Deadline(this.atMs - ms, this.now);
  }

  /** The earlier of this deadline and `ms` from now. */
  within(ms: number): Deadline {
    return new Deadline(Math.min(this.atMs, this.now() + ms), this.now);
  }

  /** Aborts (TimeoutError) when the deadline passes; undefined without one. Timers are unref'd. */
  signal(): AbortSignal | undefined {
    if (!this.bounded) return undefined;
    const remaining = this.remainingMs();
    if (remaining > MAX_TIMER_MS) return undefined;
    return AbortSignal.timeout(Math.ceil(remaining));
  }
}

/** The caller's time budget (a tick's or an API request's), for work that calls TikTok. */
export interface TimedOptions {
  readonly deadline?: Deadline;
}

/**
 * Work stopped because the time budget would not cover it: an attempt (not started, or cut at the
 * deadline), a retry's backoff, a `Retry-After`, or a wait for the shop's request budget. `cause` is
 * what asked for the wait or was cut short (none when time simply ran out); `retryAfterMs` how long
 * the caller should wait before trying again, when known. Callers re-schedule the work (an SQS message
 * with DelaySeconds, the next tick).
 *
 * `afterFailure` tells the two cases apart: true when the deadline only ended retries of a call that
 * kept failing (5xx, TikTok's own timeout, network errors) — a failure, which must count as one so a
 * broken TikTok ends visibly (DLQ, error alarm) instead of being re-scheduled forever; false when time
 * alone stopped it (throttling, our own rate budget, a slow answer cut at the deadline).
 */
export class DeadlineExceededError extends Error {
  readonly retryAfterMs: number | undefined;
  readonly afterFailure: boolean;

  constructor(
    message: string,
    readonly remainingMs: number,
    options: { cause?: unknown; retryAfterMs?: number | undefined; afterFailure?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DeadlineExceededError";
    this.retryAfterMs = options.retryAfterMs;
    this.afterFailure = options.afterFailure ?? false;
  }
}

/** Time alone stopped the work (see DeadlineExceededError.afterFailure): re-schedule it, not a failure. */
export function isOutOfTime(error: unknown): error is DeadlineExceededError {
  return error instanceof DeadlineExceededError && !error.afterFailure;
}

/**
 * Margins of the time budget (NOTES-i15-deadline.md explains each figure). A page is fetch, upsert of
 * at most 100 orders, one checkpoint/window transaction and one continuation send.
 */
export const TIME_BUDGET = {
  /**
   * Kept back after a page's fetch returns: the upsert (BatchGet + ≤ 100 conditional writes, ~0.3–1 s
   * on DynamoDB, more with SDK retries under throttling), the window transaction or checkpoint, the
   * continuation send, and the failure bookkeeping — about 5× the measured typical case.
   */
  pageCommitReserveMs: 6_000,
  /** A TikTok attempt is not started (and a backoff not slept) with less than this left for it. */
  minAttemptMs: 1_500,
  /** A page (or a shop's turn, or a worker record) is started only with this much left. */
  pageStartMs: 9_000,
  /** After the last page: return the response, flush the metrics, end the trace. */
  handlerEndMarginMs: { worker: 1_000, tick: 3_000, api: 2_000, push: 1_000, reconcile: 3_000 },
  /** Planning a full resync needs its total probe, the windows' write and their enqueue. */
  planningStartMs: 9_000,
  /** Kept back while planning for writing and enqueuing the windows after the last probe. */
  planningCommitReserveMs: 5_000,
} as const;
