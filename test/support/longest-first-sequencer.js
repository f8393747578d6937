/**
 * Runs the longest suites first, so the two workers end together. Jest's own sequencer does that from
 * its cache of last durations; on a clean clone (CI) it has none and orders by file size, which can start
 * a long suite last and leave one worker idle for minutes. Here a suite without a cached duration takes
 * its typical one from the table below (seconds in a full `npm test` on 2 cores); a suite in neither
 * runs after them, the larger file first.
 */
const { relative } = require("node:path");
const Sequencer = require("@jest/test-sequencer").default;

/** Typical seconds per suite in a full run (jest --json on an idle 2-core machine); only the long ones. */
const TYPICAL_SECONDS = {
  "test/integration/chaos.test.ts": 200,
  "test/integration/full-resync.test.ts": 150,
  "test/e2e/npm-start.test.ts": 110,
  "test/integration/incremental-sync.test.ts": 80,
  "test/integration/many-shops.test.ts": 75,
  "test/integration/full-resync-chaos.test.ts": 65,
  "test/e2e/bad-env.test.ts": 25,
  "test/integration/data-protection.test.ts": 20,
  "test/integration/http-api.test.ts": 15,
};

class LongestFirstSequencer extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    if (sorted.every((test) => test.duration != null)) return sorted;
    const typicalMs = (test) => {
      const seconds = TYPICAL_SECONDS[relative(test.context.config.rootDir, test.path).split("\\").join("/")];
      return seconds === undefined ? undefined : seconds * 1000;
    };
    // Without a complete cache, the table fills the gaps; jest's order (failed first, then by time or
    // size) breaks ties and places the suites neither knows.
    const order = new Map(sorted.map((test, index) => [test, index]));
    const durationOf = (test) => test.duration ?? typicalMs(test);
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
