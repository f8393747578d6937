/**
 * A benchmark scenario as data: what it is called, the line announcing it, and how it runs on the
 * context it declares it needs. The runner (./index.ts) runs the list in order.
 */

import type { BenchSettings, ScenarioKey, ScenarioMeasurement } from "../report";
import type { BenchContext, ProductContext } from "../rig";
import type { StoreFloor } from "../store-floor";

/** A scenario's outcome: its measurement (reported even if it failed) and a failure, if any. */
export interface ScenarioResult {
  readonly measurement: ScenarioMeasurement;
  /** Ends the run after the measurement is recorded (e.g. a tick that did not complete). */
  readonly failure?: Error;
}

interface ScenarioBase {
  readonly key: ScenarioKey;
  /** The numbered line printed before it runs. */
  describe(settings: BenchSettings): string;
  /** True when the settings leave it out (nothing printed, nothing measured). */
  skip?(settings: BenchSettings): boolean;
}

/** "rig": runs on the emulators alone; "product": also needs the sync process, started before it. */
export type Scenario =
  | (ScenarioBase & { readonly needs: "rig"; run(context: BenchContext): Promise<ScenarioResult> })
  | (ScenarioBase & { readonly needs: "product"; run(context: ProductContext): Promise<ScenarioResult> });

/** What a run has produced so far; kept by its caller, so a failure mid-run still reports what finished. */
export interface RunRecord {
  storeFloor?: StoreFloor;
  syncProcessIdleRssBytes?: number;
  readonly measurements: ScenarioMeasurement[];
}
