/**
 * Bounded retries with exponential backoff and full jitter (DESIGN.md rule 9). Only errors that say
 * they are retryable are retried; a rate-limited error waits at least its `Retry-After`.
 */
import { setTimeout as delay } from "node:timers/promises";
import { type Deadline, DeadlineExceededError, TIME_BUDGET } from "../time-budget";
import { TikTokApiError, TikTokRateLimitedError } from "./api-errors";

/** Waits `ms` milliseconds; rejects with the signal's reason when it aborts. Injected in tests. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/**
 * node:timers/promises' setTimeout as a `Sleep`: on abort it rejects with the signal's own reason (what
 * `Sleep` promises, like `signal.throwIfAborted()`), not with the AbortError that setTimeout wraps it in.
 */
export const abortableSleep: Sleep = (ms, signal) =>
  delay(ms, undefined, signal ? { signal } : undefined).catch((error: unknown) => {
    signal?.throwIfAborted();
    throw error;
  });

export interface RetryEvent {
  /** The attempt that failed (1-based). */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}

export interface RetryOptions {
  /** Total attempts, the first included (≥ 1). */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /**
   * A `Retry-After` longer than this is not waited out: the error is thrown so the caller can
   * re-schedule the work (e.g. an SQS message with DelaySeconds) instead of idling a Lambda.
   */
  readonly maxRetryAfterMs?: number;
  readonly sleep?: Sleep;
  /** Uniform in [0, 1); injected in tests. */
  readonly random?: () => number;
  readonly onRetry?: (event: RetryEvent) => void;
  readonly signal?: AbortSignal;
  /**
   * The caller's time budget: an attempt is not started with less than `minAttemptMs` left, and a
   * delay (backoff or `Retry-After`) that would leave less than that is not slept — a
   * DeadlineExceededError (its cause the failure, its retryAfterMs the delay) is thrown at once.
   */
  readonly deadline?: Deadline;
  /** Default TIME_BUDGET.minAttemptMs. */
  readonly minAttemptMs?: number;
  /** Defaults to `error.retryable` of a TikTokApiError; anything else is not retried. */
  readonly isRetryable?: (error: unknown) => boolean;
}

export const DEFAULT_MAX_RETRY_AFTER_MS = 20_000;

export function isRetryableError(error: unknown): boolean {
  return error instanceof TikTokApiError && error.retryable;
}

/** Full jitter: uniform in [0, min(max, base·2^(attempt−1))), or at least `Retry-After`. */
export function retryDelayMs(
  attempt: number,
  error: unknown,
  options: Pick<RetryOptions, "baseDelayMs" | "maxDelayMs">,
  random: () => number,
): number {
  if (error instanceof TikTokRateLimitedError && error.retryAfterMs !== undefined) {
    // At least what the server asked for, plus a little jitter so waiting workers don't stampede.
    return error.retryAfterMs + Math.floor(random() * options.baseDelayMs);
  }
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

export async function withRetries<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  const isRetryable = options.isRetryable ?? isRetryableError;
  const maxAttempts = Math.max(1, Math.floor(options.maxAttempts));
  const maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
  const { deadline } = options;
  const minAttemptMs = options.minAttemptMs ?? TIME_BUDGET.minAttemptMs;
  /** The last attempt that failed outright (not a 429): time running out after it is a failure too. */
  let failure: unknown;
  const outOfTime = (message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) =>
    new DeadlineExceededError(message, deadline?.remainingMs() ?? 0, {
      ...options,
      ...(failure === undefined ? {} : { cause: options.cause ?? failure, afterFailure: true }),
    });
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    if (deadline && !deadline.allows(minAttemptMs)) throw outOfTime("no time left for a TikTok attempt");
    try {
      return await fn(attempt);
    } catch (error) {
      // An attempt cut at the deadline after earlier ones failed (e.g. TikTok timing out): a failure.
      if (failure !== undefined && error instanceof DeadlineExceededError && !error.afterFailure) {
        throw outOfTime(error.message, { cause: failure });
      }
      if (attempt >= maxAttempts || !isRetryable(error)) throw error;
      if (options.signal?.aborted) throw error;
      if (error instanceof TikTokRateLimitedError && (error.retryAfterMs ?? 0) > maxRetryAfterMs) throw error;
      // Waiting out a 429 is time; giving up on a call that keeps failing is a failure.
      if (!(error instanceof TikTokRateLimitedError)) failure = error;
      const delayMs = retryDelayMs(attempt, error, options, random);
      if (deadline && !deadline.allows(delayMs + minAttemptMs)) {
        throw outOfTime(
          `a retry after ${delayMs} ms would not fit in the ${deadline.remainingMs()} ms left`,
          {
            cause: error,
            retryAfterMs: delayMs,
          },
        );
      }
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, options.signal);
    }
  }
}
