/**
 * Fault injection: queued `failNext` faults first (precise, for tests), then one seeded draw per request
 * against the configured rates, so a given seed and request order always fail the same requests.
 */

import { AdminRequestError } from "./api-refusals";
import { FAULT_KINDS, type FaultKind, type FaultRates } from "./config";
import { type EndpointName, endpointByNameOrPath } from "./endpoints";
import { SeededRandom } from "./prng";

export interface FailNextSpec {
  readonly count: number;
  /** Endpoint name (`searchOrders`) or path; any endpoint when omitted. */
  readonly endpoint?: string;
  readonly fault: FaultKind;
}

interface QueuedFault {
  remaining: number;
  readonly endpoint: EndpointName | undefined;
  readonly fault: FaultKind;
}

export interface FaultContext {
  readonly endpoint: EndpointName;
  readonly hasPageToken: boolean;
  /** A search sorted by update_time (where a lagging index can serve an order past the window). */
  readonly updateTimeSearch: boolean;
  /** Rates apply to the order and shop endpoints; queued faults to any endpoint they name. */
  readonly ratesApply: boolean;
}

/** A fault applies only where it makes sense (a page-token fault on a request that carries one …). */
function applicable(fault: FaultKind, context: FaultContext): boolean {
  switch (fault) {
    case "expiredPageToken":
      return context.hasPageToken;
    case "shortPage":
    case "unsortedPage":
      return context.endpoint === "searchOrders";
    case "outOfWindowOrder":
      return context.endpoint === "searchOrders" && context.updateTimeSearch;
    default:
      return true;
  }
}

export class FaultInjector {
  private random: SeededRandom;
  private readonly queue: QueuedFault[] = [];

  constructor(seed: number) {
    this.random = new SeededRandom(seed);
  }

  reseed(seed: number): void {
    this.random = new SeededRandom(seed);
  }

  failNext(spec: FailNextSpec): void {
    if (!Number.isInteger(spec.count) || spec.count < 1) {
      throw new AdminRequestError(400, "failNext: count must be a positive integer");
    }
    if (!(FAULT_KINDS as readonly string[]).includes(spec.fault)) {
      throw new AdminRequestError(
        400,
        `failNext: unknown fault "${spec.fault}"; known: ${FAULT_KINDS.join(", ")}`,
      );
    }
    const endpoint = spec.endpoint === undefined ? undefined : endpointByNameOrPath(spec.endpoint);
    if (spec.endpoint !== undefined && endpoint === undefined) {
      throw new AdminRequestError(400, `failNext: unknown endpoint "${spec.endpoint}"`);
    }
    this.queue.push({ remaining: spec.count, endpoint, fault: spec.fault });
  }

  pendingCount(): number {
    return this.queue.reduce((total, entry) => total + entry.remaining, 0);
  }

  clearQueue(): void {
    this.queue.length = 0;
  }

  pick(context: FaultContext, rates: FaultRates): FaultKind | undefined {
    const queued = this.queue.findIndex(
      (entry) =>
        (entry.endpoint === undefined || entry.endpoint === context.endpoint) &&
        applicable(entry.fault, context),
    );
    const entry = this.queue[queued];
    if (entry) {
      entry.remaining--;
      if (entry.remaining <= 0) this.queue.splice(queued, 1);
      return entry.fault;
    }
    if (!context.ratesApply) return undefined;
    const roll = this.random.next();
    let threshold = 0;
    for (const fault of FAULT_KINDS) {
      const rate = rates[fault] ?? 0;
      if (rate <= 0 || !applicable(fault, context)) continue;
      threshold += rate;
      if (roll < threshold) return fault;
    }
    return undefined;
  }
}
