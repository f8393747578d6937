/**
 * The local stack's terminal output: every line it prints, the progress bars they share the screen with,
 * and the small formats (clock, log fields, durations) its lines are made of.
 */
import type { Writable } from "node:stream";
import { MultiBar, type SingleBar } from "cli-progress";
import type { LogPort } from "../../shared/observability/telemetry";

export type Output = Writable & { isTTY?: boolean };

/**
 * Every line the stack prints goes through here: above the progress bars while they are shown (TTY),
 * straight to the stream otherwise, and nowhere once stopping (in-flight work failing is expected then).
 */
export class Terminal {
  private bars: MultiBar | undefined;
  private silenced = false;

  constructor(readonly out: Output) {}

  get isTTY(): boolean {
    return this.out.isTTY === true;
  }

  line(text: string): void {
    if (this.silenced) return;
    // Above the bars each line overwrites a bar's old line: clear the rest of it (ESC[K).
    if (this.bars) this.bars.log(`${text.split("\n").join("\u001b[K\n")}\u001b[K\n`);
    else this.out.write(`${text}\n`);
  }

  createBar(total: number, payload: Record<string, unknown>): SingleBar {
    this.bars ??= new MultiBar({
      stream: this.out,
      format: "{label} |{bar}| {percentage}% · {details}",
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      autopadding: true,
      // Lines logged above the bars overwrite them: redraw every frame, not only on change.
      forceRedraw: true,
      fps: 5,
    });
    return this.bars.create(total, 0, payload);
  }

  /** Leaves the bars' final state on screen and returns to plain lines. */
  endBars(): void {
    if (!this.bars) return;
    const bars = this.bars;
    this.bars = undefined;
    bars.update();
    bars.stop();
  }

  silence(): void {
    this.endBars();
    this.silenced = true;
  }
}

/** The time of day every line starts with (UTC, HH:MM:SS). */
export function clock(): string {
  return new Date().toISOString().slice(11, 19);
}

function formatFields(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
}

/** Warnings and errors go to the terminal (one line each); routine info is left to the status lines. */
export function terminalLog(terminal: Terminal): LogPort {
  const line = (mark: string, message: string, fields?: Record<string, unknown>) =>
    terminal.line(`${clock()} ${mark} ${message}${fields ? `  ${formatFields(fields)}` : ""}`);
  return {
    info: () => {},
    warn: (message, fields) => line("⚠", message, fields),
    error: (message, fields) => line("✖", message, fields),
  };
}

/** `42s`, `3m07s`, `1h05m`; `…` for a duration not known (yet). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "…";
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}
