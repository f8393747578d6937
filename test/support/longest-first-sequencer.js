/**
 * Runs the longest suites first, so the two workers end together. Jest's own sequencer does that from
 * its cache of last durations; on a clean clone (CI) it has none and orders by file size, which can start
 * a long suite last and leave one worker alone with it for minutes. So unless the cache knows every
 * suite, a suite listed below takes its typical duration from the table (the cache may hold figures of
 * a suite run alone, 2–4× shorter than in a full run), any other its cached one; a suite in neither
 * runs after them, the larger file first.
 */
const { relative } = require("node:path");
const Sequencer = require("@jest/test-sequencer").default;

/** Typical seconds per suite in a full `npm test` on 2 cores (jest --json); only the long ones. */
const TYPICAL_SECONDS = {
  // Seconds in a full run on 2 cores (both workers busy), 2026-12-01; the order matters, not the figure.
  "test/integration/chaos.test.ts": 130,
  "test/integration/edge-behaviours.test.ts": 100,
  "test/integration/full-resync-chaos.test.ts": 82,
  "test/e2e/npm-start.test.ts": 81,
  "test/integration/full-resync.test.ts": 66,
  "test/integration/many-shops.test.ts": 52,
  "test/integration/webhooks.test.ts": 47,
  "test/integration/reconciliation.test.ts": 46,
  "test/integration/edge-full-resync.test.ts": 45,
  "test/integration/incremental-sync.test.ts": 33,
  "test/integration/tick-api-time-budget.test.ts": 32,
  "test/infra/iam-from-code.test.ts": 29,
  "test/e2e/bad-env.test.ts": 25,
  "test/integration/rate-budget.test.ts": 24,
  "test/integration/token-lifecycle.test.ts": 24,
  "test/integration/item-size.test.ts": 20,
  "test/integration/worker-time-budget.test.ts": 14,
  "test/infra/deploy-config.test.ts": 14,
  "test/infra/bundle-smoke.test.ts": 12,
  "test/integration/order-store.test.ts": 12,
  "test/infra/nag.test.ts": 11,
  "test/infra/stack.test.ts": 10,
  "test/integration/local-aws.test.ts": 10,
  "test/integration/sqs-poller.test.ts": 7,
  "test/integration/http-api.test.ts": 7,
};

class LongestFirstSequencer extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    if (sorted.every((test) => test.duration != null)) return sorted;
    const typicalMs = (test) => {
      const seconds = TYPICAL_SECONDS[relative(test.context.config.rootDir, test.path).split("\\").join("/")];
      return seconds === undefined ? undefined : seconds * 1000;
    };
    // Without a complete cache: the table, else the cache; jest's order (failed first, then by time or
    // size) breaks ties and places the suites neither knows.
    const order = new Map(sorted.map((test, index) => [test, index]));
    const durationOf = (test) => typicalMs(test) ?? test.duration ?? undefined;
    return [...sorted].sort((a, b) => {
      const failedA = this.hasFailed(a);
      if (failedA !== this.hasFailed(b)) return failedA ? -1 : 1;
      const timeA = durationOf(a);
      const timeB = durationOf(b);
      if (timeA !== undefined && timeB !== undefined && timeA !== timeB) return timeB - timeA;
      if ((timeA === undefined) !== (timeB === undefined)) return timeA === undefined ? 1 : -1;
      return (order.get(a) ?? 0) - (order.get(b) ?? 0);
    });
  }
}

module.exports = LongestFirstSequencer;
