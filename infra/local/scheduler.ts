/**
 * The local tick scheduler, Lambda's schedule on a laptop: a tick now and every interval, never overlapping,
 * with one line per shop per tick. It also runs the full-resync progress display, whose first pass comes
 * before the first tick.
 */
import type { Runtime } from "../../shared/app/runtime";
import { runTick, tickDeadline } from "../../shared/app/tick";
import { TICK_TIMEOUT_SECONDS } from "../../shared/resources";
import type { PushStatsStore } from "../../shared/store/push-stats";
import type { FullResyncDeps } from "../../shared/sync/full-resync/deps";
import { localLambdaContext } from "./lambda-context";
import { startProgressDisplay } from "./progress-display";
import { clock, type Terminal } from "./terminal";

/** Orders webhooks refreshed since the last call, per shop (the first call sets the baseline). */
function pushCounter(stats: PushStatsStore) {
  const seen = new Map<string, number>();
  return async (shopId: string): Promise<number | undefined> => {
    const now = (await stats.get(shopId).catch(() => undefined))?.orders_refreshed ?? 0;
    const before = seen.get(shopId);
    seen.set(shopId, now);
    return before === undefined ? undefined : now - before;
  };
}

/** Ticks now and every interval (never overlapping); one line per shop per tick. */
export function startScheduler(input: {
  runtime: Runtime;
  workerDeps: FullResyncDeps;
  pushStats: PushStatsStore;
  terminal: Terminal;
  intervalSeconds: number;
  stallSeconds: number;
}) {
  const { runtime, terminal } = input;
  let stopped = false;
  const pushedSince = pushCounter(input.pushStats);
  const baseline = runtime.shops
    .ids()
    .then((shopIds) => Promise.all(shopIds.map((shopId) => pushedSince(shopId))))
    .catch(() => undefined);

  const tick = async () => {
    await baseline;
    const startedAt = Date.now();
    try {
      // The same time as the deployed tick: a slow TikTok ends the tick at its deadline, as on AWS.
      const deadline = tickDeadline(localLambdaContext("local-tick", TICK_TIMEOUT_SECONDS * 1000));
      for (const { shopId, authId, outcome, needsReauth, notReached, error } of await runTick(runtime, {
        deadline,
      })) {
        const prefix = `${clock()} shop ${shopId}  tick:`;
        if (needsReauth) {
          terminal.line(
            `${prefix} ✖ authorization ${authId} needs re-authorizing — no TikTok calls until: npm run reauth -- --auth ${authId} --auth-code <code>`,
          );
          continue;
        }
        if (error) {
          terminal.line(`${prefix} ✖ ${error.message} (${Date.now() - startedAt} ms)`);
          continue;
        }
        if (notReached) {
          terminal.line(`${prefix} out of time before this shop's turn: it runs next tick`);
          continue;
        }
        if (!outcome) continue;
        switch (outcome.status) {
          case "completed": {
            const run = outcome.lastRun;
            const changed = run.inserted + run.updated;
            const pushed = await pushedSince(shopId);
            terminal.line(
              `${prefix} ${changed} changed · ${run.api_calls} api call${run.api_calls === 1 ? "" : "s"} · ${run.duration_ms} ms · lag ${outcome.lagSeconds} s${pushed === undefined ? "" : ` · ${pushed} came by push since the last tick`}`,
            );
            break;
          }
          case "full-sync-started":
            terminal.line(`${prefix} first sync → full resync ${outcome.jobId} started`);
            break;
          case "locked":
            terminal.line(`${prefix} skipped, another run holds the shop's lock`);
            break;
          default:
            terminal.line(`${prefix} ${outcome.status}: continues from its checkpoint next tick`);
        }
      }
    } catch (error) {
      // Listing the shops failed (each shop's own failure is reported above).
      terminal.line(`${clock()} ✖ ${(error as Error).message} (${Date.now() - startedAt} ms)`);
    }
  };

  // Progress first, so a job interrupted by the last stop is announced before the first tick's line.
  const display = startProgressDisplay(input);
  let running = true;
  let ticking: Promise<void> = display.first
    .catch(() => {})
    .then(() => (stopped ? undefined : tick()))
    .finally(() => {
      running = false;
    });
  const timer = setInterval(() => {
    // A tick still running when the next is due makes it skip: ticks never overlap nor pile up.
    if (running || stopped) return;
    running = true;
    ticking = tick().finally(() => {
      running = false;
    });
  }, input.intervalSeconds * 1000);

  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      display.stop();
      await ticking.catch(() => {});
    },
  };
}
