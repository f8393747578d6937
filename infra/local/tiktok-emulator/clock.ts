/**
 * The emulator's own clock. It follows real time by default; tests set or advance it (optionally
 * frozen) to expire tokens and page tokens and to control the `update_time` stamped on mutations.
 */
export interface ClockOptions {
  /** Unix seconds the clock shows at start; real time when omitted. */
  readonly start?: number;
  /** A frozen clock only moves through `set`/`advance`. */
  readonly frozen?: boolean;
}

export class EmulatorClock {
  private offsetMs = 0;
  private frozenAtMs: number | undefined;

  constructor(
    options: ClockOptions = {},
    private readonly wallClockMs: () => number = Date.now,
  ) {
    const startMs = options.start === undefined ? this.wallClockMs() : options.start * 1000;
    if (options.frozen) this.frozenAtMs = startMs;
    else this.offsetMs = startMs - this.wallClockMs();
  }

  nowMs(): number {
    return this.frozenAtMs ?? this.wallClockMs() + this.offsetMs;
  }

  /** Unix seconds. */
  now(): number {
    return Math.floor(this.nowMs() / 1000);
  }

  isFrozen(): boolean {
    return this.frozenAtMs !== undefined;
  }

  /** Sets the time; keeps the current frozen/ticking mode unless `frozen` is given. */
  set(unixSeconds: number, frozen: boolean = this.isFrozen()): number {
    const targetMs = unixSeconds * 1000;
    if (frozen) {
      this.frozenAtMs = targetMs;
    } else {
      this.frozenAtMs = undefined;
      this.offsetMs = targetMs - this.wallClockMs();
    }
    return this.now();
  }

  advance(seconds: number): number {
    if (this.frozenAtMs !== undefined) this.frozenAtMs += seconds * 1000;
    else this.offsetMs += seconds * 1000;
    return this.now();
  }
}
