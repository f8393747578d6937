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
  /** `faultsInjected` by fault kind (kinds never drawn are absent). */
  readonly faultsByKind: Record<string, number>;
  /**
   * Per shop, then per endpoint: order calls by `shop_cipher`; `/shops` and token calls under every
   * shop of the grant behind their token or auth code.
   */
  readonly byShop: Record<string, Record<string, OutcomeCounts>>;
}

/** One request as the request log keeps it (no tokens, no bodies). */
export interface RequestLogEntry {
  /** Increases by one per request, from 1. */
  readonly seq: number;
  readonly endpoint: string;
  readonly shopIds: readonly string[];
  readonly outcome: Outcome;
  /** Emulator clock, unix seconds. */
  readonly at: number;
}

/** Requests the log keeps (oldest dropped first). */
const REQUEST_LOG_LIMIT = 20_000;

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
  private faultsByKind = new Map<string, number>();
  private byShop = new Map<string, Map<string, OutcomeCounts>>();
  private log: RequestLogEntry[] = [];
  private sequence = 0;

  record(endpoint: string, outcome: Outcome, shopIds: readonly string[] = [], at = 0): void {
    this.sequence++;
    this.log.push({ seq: this.sequence, endpoint, shopIds: [...shopIds], outcome, at });
    if (this.log.length > REQUEST_LOG_LIMIT) this.log.splice(0, this.log.length - REQUEST_LOG_LIMIT);
    for (const shopId of shopIds) {
      let endpoints = this.byShop.get(shopId);
      if (!endpoints) {
        endpoints = new Map();
        this.byShop.set(shopId, endpoints);
      }
      let shopCounts = endpoints.get(endpoint);
      if (!shopCounts) {
        shopCounts = emptyCounts();
        endpoints.set(endpoint, shopCounts);
      }
      shopCounts.total++;
      shopCounts[outcome]++;
    }
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

  recordFault(kind: string): void {
    this.faultsInjected++;
    this.faultsByKind.set(kind, (this.faultsByKind.get(kind) ?? 0) + 1);
  }

  snapshot(): CountersSnapshot {
    return {
      total: this.byOutcome.total,
      byOutcome: { ...this.byOutcome },
      byEndpoint: Object.fromEntries([...this.byEndpoint].map(([name, counts]) => [name, { ...counts }])),
      successfulSearchCalls: this.successfulSearchCalls,
      ordersServed: this.ordersServed,
      faultsInjected: this.faultsInjected,
      faultsByKind: Object.fromEntries(this.faultsByKind),
      byShop: Object.fromEntries(
        [...this.byShop].map(([shopId, endpoints]) => [
          shopId,
          Object.fromEntries([...endpoints].map(([name, counts]) => [name, { ...counts }])),
        ]),
      ),
    };
  }

  /** Logged requests after `afterSeq` (all kept ones by default), optionally only those of one shop. */
  requests(options: { afterSeq?: number; shopId?: string } = {}): RequestLogEntry[] {
    return this.log.filter(
      (entry) =>
        entry.seq > (options.afterSeq ?? 0) &&
        (options.shopId === undefined || entry.shopIds.includes(options.shopId)),
    );
  }

  /** The sequence number of the last request (0 before any). */
  lastSeq(): number {
    return this.sequence;
  }

  reset(): void {
    this.byOutcome = emptyCounts();
    this.byEndpoint = new Map();
    this.successfulSearchCalls = 0;
    this.ordersServed = 0;
    this.faultsInjected = 0;
    this.faultsByKind = new Map();
    this.byShop = new Map();
  }
}
