/**
 * Scheduled reconciliation (EventBridge Scheduler, daily by default; issue 18): per shop, compare TikTok's
 * counts per create_time range with the stored ones and heal the ranges that differ with a ranged full
 * resync. A function of its own: Lambda's longest timeout (15 min) for whole histories of many shops,
 * and a role with only what the check and the healing's planning need.
 */
import type { Context } from "aws-lambda";
import { lambdaApp, shopRunStatus } from "../../shared/app/lambda";
import { reconcileDeadline, reconciliationFailure, runReconciliation } from "../../shared/app/reconcile";

const app = lambdaApp("tiktok-shop-sync-reconcile", { role: "reconcile" });

async function reconcile(_event: unknown, context: Context) {
  const runtime = await app.runtime();
  const results = await runReconciliation(runtime, { deadline: reconcileDeadline(context) });
  // Every shop has run; a failing one still fails the invocation (function error alarm).
  const failure = reconciliationFailure(results);
  if (failure) throw failure;
  return results.map((result) => ({
    shopId: result.shopId,
    status: shopRunStatus(result, result.result?.status),
    ...(result.result?.reason ? { reason: result.result.reason } : {}),
    ...(result.result?.jobId ? { jobId: result.result.jobId } : {}),
  }));
}

export const handler = app.powertools.instrument(reconcile);
