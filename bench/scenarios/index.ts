/**
 * The benchmark's scenarios, in the order they run, and the runner. Each scenario prints its lines and
 * ends with its check; the runner announces it, starts the product before the first scenario that
 * needs it, and records each measurement (a failure still leaves the earlier ones recorded).
 */
import { say } from "../cli";
import { type BenchContext, type ProductContext, startProduct } from "../rig";
import { baseline } from "./baseline";
import { fullResync, fullResyncAgain } from "./full-resync";
import { workerAsDeployed } from "./lane";
import type { RunRecord, Scenario, ScenarioResult } from "./scenario";
import { tickAfterChanges, tickIdle } from "./tick";

export type { RunRecord, Scenario } from "./scenario";

export const SCENARIOS: readonly Scenario[] = [
  baseline,
  fullResync,
  tickAfterChanges,
  tickIdle,
  fullResyncAgain,
  workerAsDeployed,
];

export async function runScenarios(
  scenarios: readonly Scenario[],
  context: BenchContext,
  record: RunRecord,
): Promise<void> {
  let withProduct: ProductContext | undefined;
  for (const scenario of scenarios) {
    if (scenario.skip?.(context.settings)) continue;
    let result: ScenarioResult;
    if (scenario.needs === "product") {
      // Started late, once: its idle poller would otherwise load the machine under the baseline.
      if (!withProduct) {
        withProduct = { ...context, product: await startProduct(context) };
        record.syncProcessIdleRssBytes = withProduct.product.idleRssBytes;
      }
      announce(scenario, context);
      result = await scenario.run(withProduct);
    } else {
      announce(scenario, context);
      result = await scenario.run(context);
    }
    record.measurements.push(result.measurement);
    if (result.failure) throw result.failure;
  }
}

function announce(scenario: Scenario, context: BenchContext): void {
  say();
  say(scenario.describe(context.settings));
}
