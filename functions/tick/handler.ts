/** Scheduled tick (EventBridge Scheduler): reconcile full-resync jobs, then incremental sync per shop. */
import type { Context } from "aws-lambda";
import { lambdaApp, shopRunStatus } from "../../shared/app/lambda";
import { runTick, tickDeadline, tickFailure } from "../../shared/app/tick";

const app = lambdaApp("tiktok-shop-sync-tick", { role: "tick" });

async function tick(_event: unknown, context: Context) {
  const runtime = await app.runtime();
  // Pages stop while a page's time is still left; the checkpoint carries the rest to the next tick.
  const results = await runTick(runtime, { deadline: tickDeadline(context) });
  // Every shop has run; a failing one still fails the invocation (function error alarm).
  const failure = tickFailure(results);
  if (failure) throw failure;
  return results.map((result) => ({
    shopId: result.shopId,
    status: shopRunStatus(result, result.outcome?.status),
  }));
}

export const handler = app.powertools.instrument(tick);
