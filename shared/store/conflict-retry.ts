/**
 * DynamoDB transaction conflicts (issue 16 item 6): one bounded, jittered retry shared by every store.
 *
 * A conflict means another request was touching one of the items at that moment; the write's conditions
 * were not found false, so it is retried and they are evaluated afresh. It must never be read as a failed
 * condition (a lost lock, a duplicate delivery, a lost race): only a `ConditionalCheckFailed` cancellation
 * reason, or a ConditionalCheckFailedException, means that.
 */
import { TransactionCanceledException, TransactionConflictException } from "@aws-sdk/client-dynamodb";

export interface ConflictRetryOptions {
  /** Retries after the first attempt (default 4). */
  readonly retries: number;
  /** First backoff; doubled per retry, with full jitter (default 25 ms). */
  readonly baseDelayMs: number;
}

export const DEFAULT_CONFLICT_RETRY: ConflictRetryOptions = { retries: 4, baseDelayMs: 25 };

/**
 * The cancellation code of each item of a cancelled transaction, in request order. The SDK parses
 * `CancellationReasons`; the message lists the same codes (`… reasons [ConditionalCheckFailed, None]`).
 */
export function cancellationCodes(error: TransactionCanceledException): (string | undefined)[] {
  if (error.CancellationReasons) return error.CancellationReasons.map((reason) => reason.Code);
  const listed = /\[([^\]]*)\]\s*$/.exec(error.message)?.[1];
  return listed === undefined ? [] : listed.split(",").map((code) => code.trim());
}

/**
 * A single-item write refused for an ongoing transaction on its item, or a transaction cancelled because
 * one of its items met another request. (Conditions found false alongside are evaluated again by the retry.)
 */
export function isTransactionConflict(error: unknown): boolean {
  if (error instanceof TransactionConflictException) return true;
  return (
    error instanceof TransactionCanceledException && cancellationCodes(error).includes("TransactionConflict")
  );
}

/** A write kept meeting transaction conflicts after every retry (never a failed condition). */
export class StateConflictError extends Error {
  constructor(
    readonly scope: string,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(`state write of ${scope} met a transaction conflict on each of ${attempts} attempts`, options);
    this.name = "StateConflictError";
  }
}

/**
 * Runs `write` again while it fails with a conflict (`isConflict`, default isTransactionConflict), at most
 * `options.retries` times, sleeping a random time in [0, base·2^retry) in between. Any other error, and
 * the last conflict, is thrown as it is.
 */
export async function retryOnConflict<T>(
  write: () => Promise<T>,
  options: ConflictRetryOptions & { readonly isConflict?: (error: unknown) => boolean },
): Promise<T> {
  const isConflict = options.isConflict ?? isTransactionConflict;
  for (let retry = 0; ; retry += 1) {
    try {
      return await write();
    } catch (error) {
      if (!isConflict(error) || retry >= options.retries) throw error;
      const ceiling = options.baseDelayMs * 2 ** retry;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
    }
  }
}
