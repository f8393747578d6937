/**
 * The full-resync progress on the terminal: a bar per running job on a TTY, a plain line every few seconds
 * otherwise, a closing line per job, and a word at start-up for a job the last stop interrupted.
 */
import type { SingleBar } from "cli-progress";
import type { Runtime } from "../../shared/app/runtime";
import type { FullResyncDeps } from "../../shared/sync/full-resync/deps";
import { getJobProgress, type JobProgress } from "../../shared/sync/full-resync/progress";
import { clock, formatDuration, type Terminal } from "./terminal";

/** What follows the label: windows, orders, rate and ETA (the bar's payload, or a plain line's text). */
function progressDetails(progress: JobProgress): string {
  const eta = progress.eta ? formatDuration((Date.parse(progress.eta) - Date.now()) / 1000) : "…";
  const windows = `windows ${progress.windows.done}/${progress.windows.total}`;
  const failed = progress.windows.failed > 0 ? ` (${progress.windows.failed} failed)` : "";
  return `${windows}${failed} · orders ${progress.orders}/${progress.expected_orders} · ${Math.round(progress.rate)}/s · ETA ${eta}`;
}

/** A job on screen: its bar on a TTY, otherwise when its last plain line went out and what it said. */
interface ShownJob {
  readonly jobId: string;
  readonly bar: SingleBar | undefined;
  lastLineAt: number;
  lastLine: string;
}

/**
 * The full-resync display: a bar per running job on a TTY, a plain line every few seconds otherwise, and a
 * closing line per job. Reads the same progress document as the status route.
 */
export function startProgressDisplay(input: {
  runtime: Runtime;
  workerDeps: FullResyncDeps;
  terminal: Terminal;
  stallSeconds: number;
}) {
  const { runtime, terminal } = input;
  const shown = new Map<string, ShownJob>();
  const plainEveryMs = 5_000;
  let firstPass = true;
  let refreshing = false;

  const show = (shopId: string, progress: JobProgress) => {
    let job = shown.get(shopId);
    if (job && job.jobId !== progress.job_id) shown.delete(shopId);
    job = shown.get(shopId);
    const label = `full resync ${shopId}`;
    const details = progressDetails(progress);
    const total = Math.max(1, progress.expected_orders, progress.orders);
    if (!job) {
      if (firstPass) {
        terminal.line(
          `${clock()} shop ${shopId}  full resync ${progress.job_id} was interrupted by the last stop: windows idle for ${input.stallSeconds} s are re-enqueued by the next tick`,
        );
      }
      job = {
        jobId: progress.job_id,
        bar: terminal.isTTY ? terminal.createBar(total, { label, details }) : undefined,
        // Plain output: the first line after a few seconds (the tick announces the job first).
        lastLineAt: firstPass ? 0 : Date.now(),
        lastLine: "",
      };
      shown.set(shopId, job);
    }
    if (job.bar) {
      job.bar.setTotal(total);
      job.bar.update(progress.orders, { label, details });
    } else if (Date.now() - job.lastLineAt >= plainEveryMs && details !== job.lastLine) {
      terminal.line(`${clock()} ${label}  ${details}`);
      job.lastLineAt = Date.now();
      job.lastLine = details;
    }
  };

  const finish = (shopId: string, job: ShownJob, progress: JobProgress) => {
    shown.delete(shopId);
    const label = `full resync ${shopId}`;
    const seconds =
      ((Date.parse(progress.finished ?? "") || Date.now()) - Date.parse(progress.started)) / 1000;
    job.bar?.update(progress.orders, { label, details: `${progress.status.toLowerCase()}` });
    const outcome =
      progress.status === "COMPLETED"
        ? "✔ completed"
        : `✖ ${progress.status.toLowerCase()}${progress.reason ? ` (${progress.reason})` : ""}`;
    const floor = Math.ceil(progress.orders / 100);
    terminal.line(
      `${clock()} shop ${shopId}  full resync ${progress.job_id} ${outcome}: ${progress.orders} orders in ${formatDuration(seconds)} · ${progress.api_calls} api calls (floor ${floor}) · ${progress.windows.total} window${progress.windows.total === 1 ? "" : "s"}`,
    );
    if (progress.status === "FAILED") {
      terminal.line(`${clock()} shop ${shopId}  start another with: npm run sync -- --full --shop ${shopId}`);
    }
  };

  const refresh = async () => {
    if (refreshing) return;
    refreshing = true;
    try {
      for (const shopId of await runtime.shops.ids()) {
        const progress = await getJobProgress(input.workerDeps, shopId).catch(() => undefined);
        if (!progress) continue;
        const job = shown.get(shopId);
        if (progress.status === "RUNNING") show(shopId, progress);
        else if (job && job.jobId === progress.job_id) finish(shopId, job, progress);
      }
      if (shown.size === 0) terminal.endBars();
      firstPass = false;
    } finally {
      refreshing = false;
    }
  };

  const timer = setInterval(() => void refresh(), 1_000);
  return {
    first: refresh(),
    stop() {
      clearInterval(timer);
      terminal.endBars();
    },
  };
}
