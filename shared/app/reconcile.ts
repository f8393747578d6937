/**
 * One scheduled reconciliation run (issue 18) over every shop: the least recently reconciled shops
 * first (a run that runs out of time reaches the others next time), SHOP_CONCURRENCY at once, each
 * isolated like the tick's shops. A shop whose authorization needs re-authorizing is not called.
 */
import { mapWithConcurrency } from "../concurrency";
import type { ShopReconciliation } from "../sync/reconciliation/reconcile-shop";
import { TikTokReauthRequiredError } from "../tiktok/api-errors";
import { Deadline, type Now, type RemainingTime, TIME_BUDGET } from "../time-budget";
import type { Runtime } from "./runtime";

export interface ReconciliationShopResult {
  readonly shopId: string;
  readonly result?: ShopReconciliation;
  readonly needsReauth?: boolean;
  /** The run's time ran out before this shop's turn (it goes first next time). */
  readonly notReached?: boolean;
  readonly notConfigured?: boolean;
  readonly error?: Error;
}

/** The run's deadline: its context's remaining time less the end margin (none without a context). */
export function reconcileDeadline(context: RemainingTime | undefined, now?: Now): Deadline {
  if (!context) return Deadline.none(now);
  return Deadline.fromContext(context, now).minus(TIME_BUDGET.handlerEndMarginMs.reconcile);
}

export async function runReconciliation(
  runtime: Runtime,
  options: { deadline?: Deadline; trigger?: "schedule" | "local"; shopConcurrency?: number } = {},
): Promise<ReconciliationShopResult[]> {
  const deadline = options.deadline ?? Deadline.none();
  const shops = await runtime.shops.list();
  const configuration = runtime.configuration();
  const port = runtime.reconciliation;
  if (!configuration.configured || !port) {
    runtime.log.warn("reconciliation: nothing to do until the TikTok app credentials are stored", {
      shops: shops.length,
    });
    return shops.map(({ shopId }) => ({ shopId, notConfigured: true }));
  }
  const lastRuns = new Map(
    await Promise.all(
      shops.map(
        async ({ shopId }) => [shopId, (await port.lastRunAtMs(shopId).catch(() => 0)) ?? 0] as const,
      ),
    ),
  );
  const ordered = [...shops].sort((a, b) => (lastRuns.get(a.shopId) ?? 0) - (lastRuns.get(b.shopId) ?? 0));
  const concurrency = options.shopConcurrency ?? runtime.config.SHOP_CONCURRENCY;
  return mapWithConcurrency(ordered, concurrency, async ({ shopId, authId }) => {
    if (!deadline.allows(TIME_BUDGET.pageStartMs)) return { shopId, notReached: true };
    try {
      if ((await runtime.tokenRepository.get(authId))?.needsReauth) return { shopId, needsReauth: true };
      const result = await port.reconcile(shopId, { deadline, trigger: options.trigger ?? "schedule" });
      return { shopId, result };
    } catch (error) {
      if (error instanceof TikTokReauthRequiredError) return { shopId, needsReauth: true };
      const failure = error instanceof Error ? error : new Error(String(error));
      runtime.log.error("reconciliation failed for shop", {
        shopId,
        error: { name: failure.name, message: failure.message },
      });
      return { shopId, error: failure };
    }
  });
}

/** The run's failures as one error (after every shop has run), or undefined when none failed. */
export function reconciliationFailure(
  results: readonly ReconciliationShopResult[],
): AggregateError | undefined {
  const failures = results.filter((result) => result.error);
  if (failures.length === 0) return undefined;
  return new AggregateError(
    failures.map((failure) => failure.error),
    `reconciliation failed for ${failures.length} of ${results.length} shop(s): ${failures.map((f) => f.shopId).join(", ")}`,
  );
}
