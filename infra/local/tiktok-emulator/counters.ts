/** Calls per endpoint and outcome, as the benchmark and tests read them (`counters()`). */
import { API_CODES } from "../../../shared/tiktok/api-types";

export const OUTCOMES = [
  "ok",
  "rateLimited",
  "serverError",
  "authError",
  "badRequest",
  "notFound",
  "timeout",
  "connectionReset",
  "malformedJson",
] as const;
export type Outcome = (typeof OUTCOMES)[number];

export type OutcomeCounts = { total: number } & Record<Outcome, number>;

export interface CountersSnapshot {
  /** Every request to an API or auth path (admin calls excluded). */
  readonly total: number;
  readonly byOutcome: OutcomeCounts;
  /** Keyed by endpoint name; unknown paths under `unknown`. */
  readonly byEndpoint: Record<string, OutcomeCounts>;
  readonly successfulSearchCalls: number;
  /** Orders returned by successful search calls. */
  readonly ordersServed: number;
  readonly faultsInjected: number;
}

const AUTH_CODES: ReadonlySet<number> = new Set([
  API_CODES.invalidSign,
  API_CODES.accessTokenExpired,
  API_CODES.accessTokenInvalid,
  API_CODES.refreshTokenExpired,
  API_CODES.noAuthRecord,
]);

/** Classifies an enveloped answer. */
export function outcomeOf(httpStatus: number, code: number): Outcome {
  if (code === API_CODES.ok) return "ok";
  if (httpStatus === 429 || code === API_CODES.rateLimited) return "rateLimited";
  if (httpStatus >= 500) return "serverError";
  if (httpStatus === 401 || AUTH_CODES.has(code)) return "authError";
  if (httpStatus === 404) return "notFound";
  return "badRequest";
}

function emptyCounts(): OutcomeCounts {
  const counts = { total: 0 } as OutcomeCounts;
  for (const outcome of OUTCOMES) counts[outcome] = 0;
  return counts;
}

export class EmulatorCounters {
  private byOutcome = emptyCounts();
  private byEndpoint = new Map<string, OutcomeCounts>();
  private successfulSearchCalls = 0;
  private ordersServed = 0;
  private faultsInjected = 0;

  record(endpoint: string, outcome: Outcome): void {
    this.byOutcome.total++;
    this.byOutcome[outcome]++;
    let counts = this.byEndpoint.get(endpoint);
    if (!counts) {
      counts = emptyCounts();
      this.byEndpoint.set(endpoint, counts);
    }
    counts.total++;
    counts[outcome]++;
  }

  recordSearchServed(orders: number): void {
    this.successfulSearchCalls++;
    this.ordersServed += orders;
  }

  recordFault(): void {
    this.faultsInjected++;
  }

  snapshot(): CountersSnapshot {
    return {
      total: this.byOutcome.total,
      byOutcome: { ...this.byOutcome },
      byEndpoint: Object.fromEntries([...this.byEndpoint].map(([name, counts]) => [name, { ...counts }])),
      successfulSearchCalls: this.successfulSearchCalls,
      ordersServed: this.ordersServed,
      faultsInjected: this.faultsInjected,
    };
  }

  reset(): void {
    this.byOutcome = emptyCounts();
    this.byEndpoint = new Map();
    this.successfulSearchCalls = 0;
    this.ordersServed = 0;
    this.faultsInjected = 0;
  }
}
