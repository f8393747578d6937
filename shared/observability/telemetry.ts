/**
 * Observability ports used by the sync core. On Lambda they are backed by Powertools Logger and
 * Metrics (EMF); tests and the local stack may use the in-memory recorder below. Loggers get only
 * identifiers and figures: never tokens, secrets, signatures or recipient data.
 */
import type { MetricName } from "./metric-names";

export type MetricUnit = "Count" | "Seconds" | "Milliseconds";

export interface MetricsPort {
  /** One data point for `name`, dimensioned by shop. */
  record(shopId: string, name: MetricName, value: number, unit: MetricUnit): void;
}

export interface LogPort {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface RecordedMetric {
  readonly shopId: string;
  readonly name: MetricName;
  readonly value: number;
  readonly unit: MetricUnit;
}

/** Keeps metrics in memory: used by tests, the local stack's status lines and the benchmark. */
export class MetricsRecorder implements MetricsPort {
  readonly points: RecordedMetric[] = [];
  record(shopId: string, name: MetricName, value: number, unit: MetricUnit): void {
    this.points.push({ shopId, name, value, unit });
  }
  sum(name: MetricName, shopId?: string): number {
    return this.points
      .filter((point) => point.name === name && (shopId === undefined || point.shopId === shopId))
      .reduce((total, point) => total + point.value, 0);
  }
  last(name: MetricName, shopId?: string): number | undefined {
    return this.points
      .filter((point) => point.name === name && (shopId === undefined || point.shopId === shopId))
      .at(-1)?.value;
  }
}

export const silentLog: LogPort = { info: () => {}, warn: () => {}, error: () => {} };

/** Captures log lines (for tests that scan logs for secrets). */
export class LogRecorder implements LogPort {
  readonly lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  info(message: string, fields?: Record<string, unknown>) {
    this.lines.push({ level: "info", message, ...(fields ? { fields } : {}) });
  }
  warn(message: string, fields?: Record<string, unknown>) {
    this.lines.push({ level: "warn", message, ...(fields ? { fields } : {}) });
  }
  error(message: string, fields?: Record<string, unknown>) {
    this.lines.push({ level: "error", message, ...(fields ? { fields } : {}) });
  }
  text(): string {
    return this.lines.map((line) => JSON.stringify(line)).join("\n");
  }
}
