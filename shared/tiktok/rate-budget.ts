/**
 * One request budget per shop across every function (DESIGN rule 9): TIKTOK_MAX_RPS is what TikTok
 * lets us send for a shop, whoever sends it. On AWS the tick, the API and every worker instance run
 * in separate Lambda containers, each with its own limiter, so each takes an explicit share and the
 * shares add up to the whole budget at most:
 *
 * - tick 15 %: the incremental run (usually one call) and the probes when it plans a first sync;
 * - API 15 %: "sync now" runs and the planning probes of a full resync it starts;
 * - push 10 %, divided by PUSH_CONCURRENCY (the webhook consumer's maximum concurrency): Get Order
 *   Detail for orders named by webhooks, up to 50 per call (0.5 req/s of a 5 req/s budget is 25 orders
 *   a second, more than a busy shop changes; beyond it the consumer waits or hands events back);
 * - workers 60 %, divided by WORKER_CONCURRENCY (the event source's maximum concurrency), each
 *   instance one part: a full resync's pages are the bulk of all calls.
 *
 * (Before push, tick and API had 20 % each; their calls are few and rarely at once.)
 *
 * Concurrent tick and API runs of one shop are excluded by the shop's lock, but their planning
 * probes and the workers are not, hence static shares rather than a shared counter (which would cost
 * a DynamoDB write per request). Each share only adapts downwards on 429 (AIMD). A process that runs
 * every role with one limiter per shop (the local stack, the CLI, the benchmark) takes the whole
 * budget: one limiter cannot exceed it.
 *
 * The reconciliation function (issue 18) takes the workers' share: it checks only shops with no
 * full-resync job running, whose workers' part of the budget is idle, and it stops calling a shop once
 * it has started that shop's healing job.
 */
import { perWorkerRps } from "./rate-limiter";

export type FunctionRole = "tick" | "api" | "worker" | "push" | "reconcile" | "all-in-one";

/** Fractions of a shop's TIKTOK_MAX_RPS; their sum is at most 1. */
export const RATE_SHARES = { tick: 0.15, api: 0.15, push: 0.1, workers: 0.6 } as const;

/** Webhook consumer instances at most (its event source's MaximumConcurrency; SQS allows no less than 2). */
export const PUSH_CONCURRENCY = 2;

/** The fraction of the shop's budget one instance of `role` may use. */
export function rateShareFor(role: FunctionRole, workerConcurrency: number): number {
  switch (role) {
    case "tick":
      return RATE_SHARES.tick;
    case "api":
      return RATE_SHARES.api;
    case "worker":
      return perWorkerRps(RATE_SHARES.workers, workerConcurrency);
    case "push":
      return perWorkerRps(RATE_SHARES.push, PUSH_CONCURRENCY);
    case "reconcile":
      return RATE_SHARES.workers;
    case "all-in-one":
      return 1;
  }
}
