/**
 * The chaos scenario (issue 9): one seeded run of the real sync — production Runtime, tick, full-resync
 * planner, worker handler fed by the local SQS poller — against the TikTok emulator, DynamoDB Local and
 * an SQS emulator of its own (so it can be restarted), with every fault below injected at once:
 *
 * - ~10 % of TikTok calls fail: 5xx (500, 504), 429 with and without Retry-After, timeouts (the client's
 *   own), connection resets, malformed JSON, refused page tokens, an expired access token (refresh and
 *   rotation); and once, every access token expires for real;
 * - TikTok's edge behaviours (issue 16): cut pages that still carry a next token (`shortPage`, possibly
 *   empty), an order served past the window's end by a lagging index (`outOfWindowOrder`), unsorted
 *   pages, on some seeds a silent page-size cap (`maxPageSize`), refused page tokens worded one of three
 *   ways (`pageTokenRefusal`, by seed), bulk orders larger than a DynamoDB item (quarantined, never
 *   stored), and two same-second floods beyond the result cap: an update flood (read by create_time) and
 *   a create flood in several statuses (read status by status);
 * - both page-token modes (the run starts in one and flips to the other), a per-query result cap below
 *   the full resync's window size (capped queries restart by value);
 * - workers killed at every crash point of the window protocol, duplicated SQS deliveries, the SQS
 *   emulator restarted mid-job (every message lost: the reconciler recovers);
 * - orders mutated and created while paging, more than a page of orders updated in one second, invalid
 *   orders served by the API (missing id, create_time, update_time: quarantined);
 * - the first full resync overlapping incremental ticks, concurrent ticks from two "containers", and an
 *   incremental run that dies holding the lock (taken over after its lease).
 *
 * Then it settles — faults off, mutations stopped; ticks run until the job is COMPLETED, the queue is
 * drained and a tick past the last change finds nothing new — and checks (checks.ts): DynamoDB equals
 * the emulator's truth (0 missing, 0 stale, 0 extra), and the status document agrees with what is stored.
 *
 * Every decision of the fault plan comes from the seed. What cannot be (thread timing: which request a
 * rate-drawn fault hits, which message is in flight at a restart) is reported: the faults injected.
 *
 * The parts (issue 19): the plan (plan.ts), the rig (rig.ts), the faults as named injectors
 * (injectors.ts), the chaos phase and the settle (drive.ts), the checks (checks.ts). This file runs them
 * and is the suite's public face (`npm run chaos`, test/integration/chaos.test.ts).
 */
import { type ChaosResult, checkRig } from "./checks";
import { driveChaos, settle } from "./drive";
import { chaosInjectors } from "./injectors";
import { chaosPlan, describePlan } from "./plan";
import { buildRig, type ChaosOptions } from "./rig";

export { type ChaosResult, scanLogs } from "./checks";
export {
  type ChaosEvent,
  type ChaosPlan,
  type ChaosWebhooks,
  chaosPlan,
  type DynamoFaultRates,
  describePlan,
} from "./plan";
export type { ChaosOptions } from "./rig";

/** One seeded run: build the rig, install the plan's injectors, drive it to rest, check, tear down. */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const plan = chaosPlan(options.seed, options.orders, options.faultRate);
  options.print?.(describePlan(plan));
  const injectors = chaosInjectors(plan);
  const rig = await buildRig(options, plan, started, (world) => {
    for (const injector of injectors) injector.shapeData?.(world, plan);
  });
  try {
    for (const injector of injectors) injector.install?.(rig, plan);
    const phase = await driveChaos(rig, injectors);
    const progress = await settle(rig, injectors, phase);
    return await checkRig(rig, progress);
  } finally {
    await rig.tearDown();
  }
}
