/**
 * One scheduled tick: for every shop, finish what a full resync left behind (reconciler, DESIGN rule
 * 10), then run the incremental sync. Shops run side by side so a slow one never delays the others; a
 * failing shop is reported after the others have run.
 */
import { mapWithConcurrency } from "../concurrency";
import { MetricName } from "../observability/metric-names";
import type { IncrementalOutcome } from "../sync/incremental";
import type { Runtime } from "./runtime";
import { deadLetterDepth } from "./service";

export interface TickShopResult {
  readonly shopId: string;
  readonly outcome?: IncrementalOutcome;
  readonly error?: Error;
}

export async function runTick(
  runtime: Runtime,
  options: { deadlineMs?: number; shopConcurrency?: number } = {},
): Promise<TickShopResult[]> {
  const shopIds = runtime.shopIds();
  const depth = await deadLetterDepth(runtime).catch(() => null);
  const results = await mapWithConcurrency(shopIds, options.shopConcurrency ?? 4, async (shopId) => {
    try {
      if (depth !== null) runtime.metrics.record(shopId, MetricName.DlqDepth, depth, "Count");
      await runtime.fullResync?.reconcile(shopId);
      const outcome = await runtime.incremental(shopId, {
        ...(options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {}),
      });
      return { shopId, outcome };
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      runtime.log.error("tick failed for shop", {
        shopId,
        error: { name: failure.name, message: failure.message },
      });
      return { shopId, error: failure };
    }
  });
  const failures = results.filter((result) => result.error);
  if (failures.length > 0) {
    throw new AggregateError(
      failures.map((failure) => failure.error),
      `tick failed for ${failures.length} of ${results.length} shop(s): ${failures.map((f) => f.shopId).join(", ")}`,
    );
  }
  return results;
}
