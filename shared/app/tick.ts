/**
 * One scheduled tick: for every shop (configured or discovered), finish what a full resync left behind
 * (reconciler, DESIGN rule 10), then run the incremental sync — even when the reconciler failed (its
 * failure is logged and fails the tick's result all the same). Shops run side by side, at most
 * SHOP_CONCURRENCY at once, each isolated: a slow or failing shop never delays or fails the others.
 * A shop whose authorization needs re-authorizing makes no TikTok call at all: its tick only reports it
 * (NeedsReauth = 1, and its lag) and returns.
 *
 * Time: the tick's deadline (its Lambda context less an end margin) is shared by every shop. A shop
 * whose turn comes with less than a page's time left is not started (its lag is still reported) and
 * runs next tick; a started one stops between pages with its checkpoint kept.
 */
import { unixSeconds } from "../clock";
import { mapWithConcurrency } from "../concurrency";
import { MetricName } from "../observability/metric-names";
import type { IncrementalOutcome } from "../sync/incremental";
import { TikTokReauthRequiredError } from "../tiktok/api-errors";
import type { StoredTokenPair } from "../tiktok/tokens";
import { Deadline, type Now, type RemainingTime, TIME_BUDGET } from "../time-budget";
import type { Runtime } from "./runtime";

export interface TickShopResult {
  readonly shopId: string;
  readonly authId?: string;
  readonly outcome?: IncrementalOutcome;
  /** The shop's authorization must be renewed (`npm run reauth`); nothing was called. */
  readonly needsReauth?: boolean;
  /** The tick's time ran out before this shop's turn: nothing was done, the next tick runs it. */
  readonly notReached?: boolean;
  /** The TikTok app credentials are not configured yet: nothing was done (not a failure). */
  readonly notConfigured?: boolean;
  /** What failed for this shop: the reconciler, the incremental run, or both (an AggregateError). */
  readonly error?: Error;
}

export interface TickOptions {
  /** When the tick must be done (the Lambda's remaining time less TIME_BUDGET's end margin). */
  readonly deadline?: Deadline;
  readonly shopConcurrency?: number;
}

/** The tick's deadline: its context's remaining time less the end margin (none without a context). */
export function tickDeadline(context: RemainingTime | undefined, now?: Now): Deadline {
  if (!context) return Deadline.none(now);
  return Deadline.fromContext(context, now).minus(TIME_BUDGET.handlerEndMarginMs.tick);
}

export async function runTick(runtime: Runtime, options: TickOptions = {}): Promise<TickShopResult[]> {
  const deadline = options.deadline ?? Deadline.none();
  const shops = await runtime.shops.list();
  const configuration = runtime.configuration();
  if (!configuration.configured) {
    // The deployed placeholder secret: a state to report (status shows it), not an error to alarm on.
    runtime.log.warn("TikTok app credentials not configured: nothing to sync until they are stored", {
      reason: configuration.reason,
      shops: shops.length,
    });
    return shops.map(({ shopId, authId }) => ({ shopId, authId, notConfigured: true }));
  }
  const depth = runtime.fullResync ? await runtime.fullResync.deadLetterDepth().catch(() => null) : null;
  // One read of each authorization's TOKEN item per tick, shared by its shops.
  const tokenStates = new Map<string, Promise<StoredTokenPair | undefined>>();
  const tokenState = (authId: string) => {
    let state = tokenStates.get(authId);
    if (!state) {
      state = runtime.tokenRepository.get(authId);
      tokenStates.set(authId, state);
    }
    return state;
  };
  const concurrency = options.shopConcurrency ?? runtime.config.SHOP_CONCURRENCY;
  return mapWithConcurrency(shops, concurrency, async ({ shopId, authId }): Promise<TickShopResult> => {
    const reportLag = async () => {
      const cursor = (await runtime.state.getMeta(shopId).catch(() => undefined))?.cursor;
      if (cursor !== undefined) {
        const lag = Math.max(0, unixSeconds(runtime.clock) - cursor);
        runtime.metrics.record(shopId, MetricName.SyncLagSeconds, lag, "Seconds");
      }
    };
    const reauthNeeded = async () => {
      runtime.metrics.record(shopId, MetricName.NeedsReauth, 1, "Count");
      await reportLag();
      return { shopId, authId, needsReauth: true };
    };
    if (!deadline.allows(TIME_BUDGET.pageStartMs)) {
      await reportLag();
      runtime.log.warn("tick out of time before this shop's turn; it runs next tick", { shopId });
      return { shopId, authId, notReached: true };
    }
    const failed = (what: string, error: unknown): Error => {
      const failure = error instanceof Error ? error : new Error(String(error));
      runtime.log.error(`tick failed for shop: ${what}`, {
        shopId,
        error: { name: failure.name, message: failure.message },
      });
      return failure;
    };
    let reconcileError: Error | undefined;
    try {
      if (depth !== null) runtime.metrics.record(shopId, MetricName.DlqDepth, depth, "Count");
      if ((await tokenState(authId))?.needsReauth) return await reauthNeeded();
      runtime.metrics.record(shopId, MetricName.NeedsReauth, 0, "Count");
      // Isolated from the incremental run: a reconciler that fails (its job's state unreadable, SQS down)
      // must not cost the shop its sync. Its failure still fails the tick's result (alarms).
      try {
        await runtime.fullResync?.reconcile(shopId, { deadline });
      } catch (error) {
        if (error instanceof TikTokReauthRequiredError) throw error;
        reconcileError = failed("reconciler", error);
      }
      const outcome = await runtime.incremental(shopId, { deadline });
      return { shopId, authId, outcome, ...(reconcileError ? { error: reconcileError } : {}) };
    } catch (error) {
      // The refresh that found the authorization gone has flagged it (and alarmed): not a tick failure.
      if (error instanceof TikTokReauthRequiredError) return reauthNeeded();
      const failure = failed("incremental sync", error);
      return {
        shopId,
        authId,
        error: reconcileError ? new AggregateError([reconcileError, failure], failure.message) : failure,
      };
    }
  });
}

/** The tick's failures as one error (after every shop has run), or undefined when none failed. */
export function tickFailure(results: readonly TickShopResult[]): AggregateError | undefined {
  const failures = results.filter((result) => result.error);
  if (failures.length === 0) return undefined;
  return new AggregateError(
    failures.map((failure) => failure.error),
    `tick failed for ${failures.length} of ${results.length} shop(s): ${failures.map((f) => f.shopId).join(", ")}`,
  );
}
