/**
 * The chaos plan (issue 9): every decision of a chaos run that can come from its seed — which faults, at
 * which rates, which events at which job progress — drawn in one fixed order, so a seed always replays the
 * same scenario. The injectors (injectors.ts) read their rates here; the runner (scenario.ts) applies them.
 */
import {
  type BurstOptions,
  type FaultRates,
  type InvalidOrderField,
  PAGE_TOKEN_REFUSALS,
  type PageTokenRefusal,
} from "../../infra/local/tiktok-emulator";
import { SeededRandom } from "../../infra/local/tiktok-emulator/prng";

export interface ChaosPlan {
  readonly seed: number;
  readonly orders: number;
  readonly tokenModes: readonly ["keyset" | "offset", "keyset" | "offset"];
  readonly resultCap: number;
  readonly pageBudget: number;
  /** Request faults (refusals) and page faults (altered answers: shortPage, outOfWindowOrder, unsortedPage). */
  readonly faultRates: FaultRates;
  /** A silent page-size cap on some seeds (pages of at most this many orders, with a next token). */
  readonly maxPageSize: number | null;
  /** How refused page tokens are worded (by seed, so consecutive seeds cover all three). */
  readonly pageTokenRefusal: PageTokenRefusal;
  /** Same-second bursts of the generated history: below the result cap (a full resync cannot split one). */
  readonly datasetBursts: Pick<BurstOptions, "minSize" | "maxSize">;
  readonly invalidOrders: readonly InvalidOrderField[];
  /** Line items of the bulk orders: existing orders made oversized at the start, and one created later. */
  readonly oversized: { readonly initial: readonly number[]; readonly created: number };
  /** Job progress (share of expected orders) at which each event fires. */
  readonly events: Readonly<Record<ChaosEvent, number>>;
  /** More than a page of orders updated in one second, below the result cap (tokens inside a second). */
  readonly sameSecondBurst: number;
  /** Existing orders updated in one second, beyond the result cap. */
  readonly updateFlood: number;
  /** Orders created in one second beyond the result cap, half of them moved on in that second. */
  readonly createFlood: number;
  readonly duplicateRate: number;
  readonly crashRate: number;
  /** DynamoDB faults (issue 16 items 6 and 8), injected in the product's client while chaos is on. */
  readonly dynamoFaults: DynamoFaultRates;
  /** Push (issue 18): the emulator's signed webhooks, some dropped, some delivered twice, reordered. */
  readonly webhooks: ChaosWebhooks;
}

export interface ChaosWebhooks {
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly delayMs: number;
  /** Deliveries closer together than this can swap order. */
  readonly jitterMs: number;
}

/**
 * `transactionConflict`: a TransactWriteItems cancelled for a conflict on one of its items (never run);
 * `tokenSaveFailure`: a save of a refreshed token pair to the TOKEN item throttled (never run). Each is
 * the share of such writes failing.
 */
export interface DynamoFaultRates {
  readonly transactionConflict: number;
  readonly tokenSaveFailure: number;
}

export type ChaosEvent =
  | "lockHolderDies"
  | "tokensExpire"
  | "tokenModeFlips"
  | "sqsRestart"
  | "burst"
  | "updateFlood"
  | "createFlood"
  | "bulkOrder";

/** Page faults' share of the fault rate: they alter answers instead of failing calls. */
const PAGE_FAULT_SHARE = 0.6;

/** Splits `rate` over the kinds by their weights, each jittered by the seed. */
function drawRates(
  random: SeededRandom,
  weights: Readonly<Record<string, number>>,
  rate: number,
): FaultRates {
  const jittered = Object.entries(weights).map(
    ([kind, weight]) => [kind, weight * (0.5 + random.next())] as const,
  );
  const total = jittered.reduce((sum, [, weight]) => sum + weight, 0);
  return Object.fromEntries(
    jittered.map(([kind, weight]) => [kind, Math.round((weight / total) * rate * 1e4) / 1e4]),
  ) as FaultRates;
}

export function chaosPlan(seed: number, orders: number, faultRate = 0.1): ChaosPlan {
  const random = new SeededRandom(seed);
  const first = random.chance(0.5) ? "keyset" : "offset";
  const requestFaults = drawRates(
    random,
    {
      http500: 2,
      http504: 1,
      timeout: 0.6,
      connectionReset: 0.6,
      malformedJson: 1.5,
      rateLimit: 1.2,
      rateLimitNoRetryAfter: 1,
      expiredPageToken: 1.5,
      expiredAccessToken: 0.6,
    },
    faultRate,
  );
  const at = () => Math.round((0.1 + random.next() * 0.6) * 100) / 100;
  // The cap stays above the history's create_time bursts (a full resync reads one second by create_time
  // only) and above a page; the floods go beyond it, the burst stays between a page and the cap.
  const datasetBursts = { minSize: 110, maxSize: 170 };
  const resultCap = random.int(20, 30) * 10;
  const pageBudget = random.int(7, 12);
  const events = {
    lockHolderDies: at(),
    tokensExpire: at(),
    tokenModeFlips: at(),
    sqsRestart: at(),
    burst: at(),
    updateFlood: at(),
    createFlood: at(),
    bulkOrder: at(),
  };
  const sameSecondBurst = random.int(110, resultCap - 20);
  // outOfWindowOrder applies to update_time searches only (incremental runs, the fewer): weighed up.
  const pageFaults = drawRates(
    random,
    { shortPage: 1, outOfWindowOrder: 1.5, unsortedPage: 0.7 },
    faultRate * PAGE_FAULT_SHARE,
  );
  return {
    seed,
    orders,
    tokenModes: [first, first === "keyset" ? "offset" : "keyset"],
    resultCap,
    pageBudget,
    faultRates: { ...requestFaults, ...pageFaults },
    maxPageSize: random.chance(0.5) ? random.int(4, 9) * 10 : null,
    pageTokenRefusal: PAGE_TOKEN_REFUSALS[seed % PAGE_TOKEN_REFUSALS.length] as PageTokenRefusal,
    datasetBursts,
    invalidOrders: ["id", "create_time", "update_time"],
    // One existing order made bulky (read by the full resync) and one created later (read by the
    // incremental runs), each a little past DynamoDB's item limit as the store writes orders (compressed,
    // docs/encoding.md): 2,000 line items fit in ~53 KB, 18,000 (~9 MB of JSON) make ~465 KB. Just past
    // the limit is the case that matters, and every megabyte more is served, parsed and hashed again on
    // every read of the order (edge-behaviours.test.ts covers one far past it).
    oversized: {
      initial: [random.int(18_000, 20_000)],
      created: random.int(18_000, 20_000),
    },
    events,
    sameSecondBurst,
    updateFlood: resultCap + random.int(10, 80),
    // Each status of it (UNPAID, and the steps half of them take) stays under the cap: none is stuck.
    createFlood: resultCap + random.int(10, 80),
    duplicateRate: 0.3,
    crashRate: 0.06,
    // Below the stores' conflict retries (5 attempts: 0.15^5 ≈ 1e-4 a write gives up) and the token
    // saves' (5 attempts; should all fail, the pair stays pending and in memory, then is stored later).
    dynamoFaults: {
      transactionConflict: Math.round((0.08 + random.next() * 0.07) * 100) / 100,
      tokenSaveFailure: Math.round((0.3 + random.next() * 0.3) * 100) / 100,
    },
    // Drawn last, so the plan above stays what it was for a seed.
    webhooks: {
      dropRate: Math.round((0.18 + random.next() * 0.04) * 100) / 100,
      duplicateRate: Math.round((0.15 + random.next() * 0.15) * 100) / 100,
      delayMs: random.int(50, 300),
      jitterMs: random.int(200, 800),
    },
  };
}

export function describePlan(plan: ChaosPlan): string {
  const rates = Object.entries(plan.faultRates)
    .map(([kind, rate]) => `${kind} ${((rate ?? 0) * 100).toFixed(1)}%`)
    .join(", ");
  const events = Object.entries(plan.events)
    .sort((a, b) => a[1] - b[1])
    .map(([event, share]) => `${event}@${Math.round(share * 100)}%`)
    .join(" ");
  return [
    `seed ${plan.seed}: ${plan.orders} orders · page tokens ${plan.tokenModes[0]}→${plan.tokenModes[1]}, refused as ${plan.pageTokenRefusal} · result cap ${plan.resultCap} · page budget ${plan.pageBudget} · silent page cap ${plan.maxPageSize ?? "none"}`,
    `  faults (${(Object.values(plan.faultRates).reduce((a, b) => a + (b ?? 0), 0) * 100).toFixed(1)}% of calls): ${rates}`,
    `  webhooks: ${(plan.webhooks.dropRate * 100).toFixed(0)}% dropped, ${(plan.webhooks.duplicateRate * 100).toFixed(0)}% delivered twice, delay ${plan.webhooks.delayMs} ms + jitter up to ${plan.webhooks.jitterMs} ms`,
    `  DynamoDB faults: transaction conflicts ${(plan.dynamoFaults.transactionConflict * 100).toFixed(0)}% of transactions, token saves failing ${(plan.dynamoFaults.tokenSaveFailure * 100).toFixed(0)}%`,
    `  events by job progress: ${events} · same-second burst ${plan.sameSecondBurst} · update flood ${plan.updateFlood} · create flood ${plan.createFlood} · duplicates: the first send and ${plan.duplicateRate * 100}% of the others · crashes ${plan.crashRate * 100}% per point (each point at least once) · invalid orders without ${plan.invalidOrders.join(", ")} · bulk orders of ${[...plan.oversized.initial, plan.oversized.created].join(", ")} line items`,
  ].join("\n");
}
