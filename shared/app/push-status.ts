/** The push figures' store on a Runtime's state table (status reads it, the webhook consumer writes it). */
import { PushStatsStore } from "../store/push-stats";
import type { Runtime } from "./runtime";

export function pushStatsStore(runtime: Runtime): PushStatsStore {
  return new PushStatsStore({
    documents: runtime.documents,
    tableName: runtime.config.STATE_TABLE_NAME,
    clock: runtime.clock,
  });
}
