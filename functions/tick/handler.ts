/** Scheduled tick (EventBridge Scheduler): reconcile full-resync jobs, then incremental sync per shop. */
import type { Context } from "aws-lambda";
import { lambdaRuntime } from "../../shared/app/lambda";
import { runTick, tickFailure } from "../../shared/app/tick";

const app = lambdaRuntime("tiktok-shop-sync-tick");

export async function handler(_event: unknown, context?: Context) {
  const runtime = await app.runtime();
  // Stop starting pages 10 s before Lambda would kill us; the checkpoint carries the rest.
  const deadlineMs = context ? Date.now() + context.getRemainingTimeInMillis() - 10_000 : undefined;
  const results = await runTick(runtime, deadlineMs === undefined ? {} : { deadlineMs });
  // Every shop has run; a failing one still fails the invocation (function error alarm).
  const failure = tickFailure(results);
  if (failure) throw failure;
  return results.map((result) => ({
    shopId: result.shopId,
    status: result.needsReauth ? "needs-reauth" : result.outcome?.status,
  }));
}
