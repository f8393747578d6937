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
 * drained and a tick past the last change finds nothing new — and checks (see `check`): DynamoDB equals
 * the emulator's truth (0 missing, 0 stale, 0 extra), and the status document agrees with what is stored.
 *
 * Every decision of the fault plan comes from the seed. What cannot be (thread timing: which request a
 * rate-drawn fault hits, which message is in flight at a restart) is reported: the faults injected.
 */
import { randomUUID } from "node:crypto";
import {
  DeleteTableCommand,
  type DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from "@aws-sdk/client-dynamodb";
import {
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { paginateQuery } from "@aws-sdk/lib-dynamodb";
import { makeWebhookConsumerHandler } from "../../functions/webhook-consumer/handler-core";
import { makeWorkerHandler } from "../../functions/worker/handler-core";
import { startSqsEmulator } from "../../infra/local/emulators";
import { startHttpApi } from "../../infra/local/http-server";
import { localApiRoutes } from "../../infra/local/local-stack";
import { createQueues, createTables } from "../../infra/local/provision";
import { type SqsPoller, startSqsPoller } from "../../infra/local/sqs-poller";
import {
  type BurstOptions,
  type FaultKind,
  type FaultRates,
  type InvalidOrderField,
  PAGE_TOKEN_REFUSALS,
  type PageTokenRefusal,
  startTikTokEmulator,
  type TikTokEmulator,
} from "../../infra/local/tiktok-emulator";
import { hashUnit, SeededRandom } from "../../infra/local/tiktok-emulator/prng";
import type { FullResyncWiringOptions } from "../../shared/app/full-resync-wiring";
import { pushStatsStore } from "../../shared/app/push-status";
import { Runtime } from "../../shared/app/runtime";
import { createSyncService } from "../../shared/app/service";
import { runTick } from "../../shared/app/tick";
import { webhookConsumerDeps, webhookReceiver } from "../../shared/app/webhook-wiring";
import { createDynamoDbClient, createSqsClient } from "../../shared/aws-clients";
import { parseConfig } from "../../shared/config";
import { makeApiHandler } from "../../shared/http/api";
import { type LogPort, LogRecorder, MetricsRecorder } from "../../shared/observability/telemetry";
import { WEBHOOK_BATCH_SIZE, WEBHOOK_BATCHING_WINDOW_SECONDS } from "../../shared/resources";
import { MAX_ITEM_BYTES } from "../../shared/store/item-size";
import type { StateStore } from "../../shared/store/state-store";
import type { CrashPoint } from "../../shared/sync/full-resync/deps";
import { getJobProgress, type JobProgress } from "../../shared/sync/full-resync/progress";
import { type IncrementalOutcome, runIncrementalSync } from "../../shared/sync/incremental";
import type { OrderSearchPort } from "../../shared/sync/ports";
import type { TikTokOrder } from "../../shared/tiktok/api-types";
import { PUSH_CONCURRENCY } from "../../shared/tiktok/rate-budget";
import { WEBHOOK_PATH } from "../../shared/webhooks/receiver";
import { diffWithTruth, storedOrders } from "../support/truth";

export interface ChaosOptions {
  readonly seed: number;
  /** Orders the shop starts with (more are created while the run goes on). */
  readonly orders: number;
  /** DynamoDB Local (tables are created per run and deleted afterwards). */
  readonly dynamodbEndpoint: string;
  /** Share of TikTok calls failing while chaos is on (default 0.10). */
  readonly faultRate?: number;
  /** Where the product's logs go (default: an in-memory recorder, scanned for secrets). */
  readonly log?: LogPort;
  /** Progress lines (the seed, the plan, events); nothing by default. */
  readonly print?: (line: string) => void;
  /** The whole run, settle included (default 240 s). */
  readonly deadlineMs?: number;
  /**
   * Run after the checks, before clean-up (e.g. damage what is stored, or call the HTTP API); then the
   * checks run again and their findings land in `recheckProblems` (the chaos test proves they can fail).
   */
  readonly afterChecks?: (target: {
    runtime: Runtime;
    ordersTable: string;
    shopId: string;
    truth: readonly TikTokOrder[];
  }) => Promise<void>;
}

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

export interface ChaosResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly plan: ChaosPlan;
  /** What was really injected (counts). */
  readonly injected: Record<string, number>;
  /** Empty when ok; else each difference found. */
  readonly problems: readonly string[];
  /** What the checks found after `tamper` (empty when no tamper was given). */
  readonly recheckProblems: readonly string[];
  readonly stored: number;
  readonly durationMs: number;
  /** Secrets and personal data the run handled: none may appear in its logs. */
  readonly secrets: ReadonlySet<string>;
  readonly personalData: ReadonlySet<string>;
  /** The product's log lines (when the default recorder was used). */
  readonly logText: string;
}

const CRASH_POINTS: readonly CrashPoint[] = ["after-upsert", "after-window-transaction", "after-send"];
/**
 * Above a page's processing time even on a starved DynamoDB Local (~25 writes/s: 4 s for 100 orders), as
 * on AWS where it is 6× the function timeout: a message is never redelivered while it is still being
 * worked on, only after a crash (or a lost queue).
 */
const VISIBILITY_TIMEOUT_SECONDS = 8;
const LOCK_LEASE_MS = 3_000;

class SimulatedCrash extends Error {
  constructor(what: string) {
    super(`simulated crash: ${what}`);
    this.name = "SimulatedCrash";
  }
}

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

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  deadline: number,
  intervalMs = 200,
): Promise<T> {
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`chaos: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** An SQS client whose sends are, while `on()`, sent twice: the first one, then with the given probability. */
function duplicatingSqs(
  sqs: SQSClient,
  random: SeededRandom,
  rate: number,
  on: () => boolean,
  count: () => void,
) {
  let duplicated = 0;
  return new Proxy(sqs, {
    get(target, property, receiver) {
      if (property !== "send") return Reflect.get(target, property, receiver);
      return async (command: never, options?: never) => {
        const result = await target.send(command, options);
        const sent = command as unknown;
        const isSend = sent instanceof SendMessageBatchCommand || sent instanceof SendMessageCommand;
        if (!on() || !isSend || (duplicated > 0 && !random.chance(rate))) return result;
        duplicated += 1;
        if (sent instanceof SendMessageBatchCommand) {
          count();
          await target.send(
            new SendMessageBatchCommand({
              ...sent.input,
              Entries: (sent.input.Entries ?? []).map((entry) => ({ ...entry, Id: `${entry.Id}d` })),
            }),
          );
        } else if (sent instanceof SendMessageCommand) {
          count();
          await target.send(new SendMessageCommand(sent.input));
        }
        return result;
      };
    },
  });
}

/**
 * Fails some of the product's DynamoDB writes before they are sent (a middleware on the client, shared by
 * the document clients built on it), while `on()`: transactions cancelled for a conflict, with the reason
 * on one of their items and `None` on the others, as DynamoDB words it; saves of a refreshed token pair
 * throttled (the first one always). Counted by kind.
 */
function injectDynamoFaults(
  client: DynamoDBClient,
  random: SeededRandom,
  rates: DynamoFaultRates,
  on: () => boolean,
  count: (what: string) => void,
) {
  let tokenSaves = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (!on()) return next(args);
      const input = args.input as { TransactItems?: unknown[]; Key?: unknown; UpdateExpression?: string };
      if (context.commandName === "TransactWriteItemsCommand" && random.chance(rates.transactionConflict)) {
        count("dynamo:transactionConflict");
        const items = input.TransactItems?.length ?? 1;
        const conflicted = random.int(0, items - 1);
        const codes = Array.from({ length: items }, (_, index) =>
          index === conflicted ? "TransactionConflict" : "None",
        );
        throw new TransactionCanceledException({
          $metadata: { httpStatusCode: 400 },
          message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(", ")}]`,
          CancellationReasons: codes.map((Code) => ({ Code })),
        });
      }
      // saveRefreshed: the only UpdateItem of the TOKEN item that writes a refresh token and a new version.
      const key = JSON.stringify(input.Key ?? null);
      const savesPair =
        context.commandName === "UpdateItemCommand" &&
        key.includes("AUTH#") &&
        key.includes('"TOKEN"') &&
        /refreshToken = :refreshToken/.test(input.UpdateExpression ?? "");
      // The first save while chaos is on fails whatever the draw: each run shows it at least once.
      if (savesPair && (tokenSaves++ === 0 || random.chance(rates.tokenSaveFailure))) {
        count("dynamo:tokenSaveFailure");
        throw new ProvisionedThroughputExceededException({
          $metadata: { httpStatusCode: 400 },
          message: "The level of configured provisioned throughput for the table was exceeded (injected)",
        });
      }
      return next(args);
    },
    { step: "initialize", name: "chaosDynamoFaults", priority: "high" },
  );
}

/**
 * Which way an order search reads (the body's filters): `byCreateTime` reads one update_time second by
 * create_time, `byStatus` one (update_time, create_time) second status by status; undefined otherwise.
 */
function searchSplit(url: URL, body: RequestInit["body"]): "byCreateTime" | "byStatus" | undefined {
  if (!url.pathname.endsWith("/orders/search") || typeof body !== "string") return undefined;
  let filters: Record<string, unknown>;
  try {
    filters = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (filters.order_status !== undefined) return "byStatus";
  const oneSecond =
    typeof filters.update_time_ge === "number" && filters.update_time_lt === filters.update_time_ge + 1;
  return oneSecond && url.searchParams.get("sort_field") === "create_time" ? "byCreateTime" : undefined;
}

/**
 * A fetch that remembers every credential it carries or receives (the log scan looks for them), and
 * reports searches that read one second in parts (the floods beyond the result cap forced them).
 */
function recordingFetch(
  secrets: Set<string>,
  onSplit: (how: "byCreateTime" | "byStatus") => void,
): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const split = searchSplit(url, init?.body);
    if (split) onSplit(split);
    for (const name of ["sign", "app_secret", "refresh_token", "access_token"]) {
      const value = url.searchParams.get(name);
      if (value) secrets.add(value);
    }
    const token = new Headers(init?.headers).get("x-tts-access-token");
    if (token) secrets.add(token);
    const response = await fetch(input, init);
    if (url.pathname.includes("/token/")) {
      const body = (await response
        .clone()
        .json()
        .catch(() => undefined)) as { data?: { access_token?: string; refresh_token?: string } } | undefined;
      if (body?.data?.access_token) secrets.add(body.data.access_token);
      if (body?.data?.refresh_token) secrets.add(body.data.refresh_token);
    }
    return response;
  };
}

/** Recipient personal data in the truth: names, phones, addresses, e-mails (strings of 6+ chars). */
function personalDataOf(orders: readonly TikTokOrder[]): Set<string> {
  const found = new Set<string>();
  const walk = (value: unknown) => {
    if (typeof value === "string") {
      if (value.length >= 6) found.add(value);
    } else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === "object") Object.values(value).forEach(walk);
  };
  for (const order of orders) {
    const record = order as unknown as Record<string, unknown>;
    walk(record.recipient_address);
    walk(record.buyer_email);
  }
  // Region and country codes are not personal, and may well appear in a log line.
  for (const common of ["United States", "United Kingdom"]) found.delete(common);
  return found;
}

async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
      ],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

/** The shop's QUARANTINE items: order id → the size recorded (bulk orders), or undefined (invalid ones). */
async function quarantineItems(runtime: Runtime, shopId: string): Promise<Map<string, number | undefined>> {
  const items = new Map<string, number | undefined>();
  for await (const page of paginateQuery(
    { client: runtime.documents },
    {
      TableName: runtime.config.STATE_TABLE_NAME,
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": `SHOP#${shopId}`, ":prefix": "QUARANTINE#" },
      ProjectionExpression: "sk, sizeBytes",
    },
  )) {
    for (const item of page.Items ?? []) {
      const size = item.sizeBytes;
      items.set(String(item.sk).slice("QUARANTINE#".length), typeof size === "number" ? size : undefined);
    }
  }
  return items;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const deadline = started + (options.deadlineMs ?? 240_000);
  const plan = chaosPlan(options.seed, options.orders, options.faultRate);
  const report = options.print ?? (() => {});
  // Each line after the plan says when (seconds since the start): where a slow seed spends its time.
  const print = (line: string) =>
    report(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s ${line}`);
  report(describePlan(plan));
  const random = new SeededRandom(options.seed).fork(0xc4a05);
  const recorder = options.log ? undefined : new LogRecorder();
  const log: LogPort = options.log ?? (recorder as LogRecorder);
  const injected: Record<string, number> = {};
  const count = (what: string, by = 1) => {
    injected[what] = (injected[what] ?? 0) + by;
  };
  const secrets = new Set<string>();
  const cleanups: (() => Promise<void> | void)[] = [];
  const problems: string[] = [];
  let chaosOn = true;

  try {
    // --- The emulators and resources -------------------------------------------------------------
    const shopId = `74940000${String(options.seed % 100_000_000).padStart(8, "0")}`.slice(0, 19);
    const emulator: TikTokEmulator = await startTikTokEmulator({
      seed: options.seed,
      shops: [{ id: shopId, orders: plan.orders, historyDays: 30, burstFraction: 0.15 }],
      bursts: plan.datasetBursts,
      log: () => {},
    });
    cleanups.push(() => emulator.stop());
    const shop = emulator.shops()[0];
    if (!shop) throw new Error("the emulator has no shop");
    emulator.configure({
      tokenMode: plan.tokenModes[0],
      resultCap: plan.resultCap,
      maxPageSize: plan.maxPageSize,
      pageTokenRefusal: plan.pageTokenRefusal,
      hangMs: 2_500,
    });
    secrets.add(emulator.appSecret);
    const issued = emulator.issueTokens();
    secrets.add(issued.access_token).add(issued.refresh_token);

    // Invalid orders: never mutated (their stored key must stay stable), always served without a field.
    // Taken from orders last changed over a day ago: no incremental window holds them, so no page fault
    // (outOfWindowOrder changes an order of the page it alters) ever touches one.
    const initial = emulator.truthSummary(shopId);
    const settled = initial.filter((order) => order.update_time < emulator.now() - 86_400);
    const invalid = new Map<string, InvalidOrderField>();
    for (const field of plan.invalidOrders) {
      let candidate = random.pick(settled).id;
      while (invalid.has(candidate)) candidate = random.pick(settled).id;
      invalid.set(candidate, field);
      emulator.corruptOrders({ orderIds: [candidate], field });
    }
    // Bulk orders larger than a DynamoDB item: expected quarantined (with their size), never stored. They
    // may change later like any other order (re-quarantined in place).
    for (const lineItems of plan.oversized.initial) {
      let candidate = random.pick(initial).id;
      while (invalid.has(candidate) || emulator.oversizedOrders(shopId).has(candidate)) {
        candidate = random.pick(initial).id;
      }
      emulator.oversizeOrders({ orderIds: [candidate], lineItems, shopId });
      count("oversizedOrders");
    }

    let sqsService = await startSqsEmulator();
    cleanups.push(() => sqsService.stop());
    const dynamodb: DynamoDBClient = createDynamoDbClient({ dynamodbEndpoint: options.dynamodbEndpoint });
    injectDynamoFaults(dynamodb, random.fork(0xdd8), plan.dynamoFaults, () => chaosOn, count);
    const sqs = createSqsClient({ sqsEndpoint: sqsService.endpoint });
    cleanups.push(() => {
      dynamodb.destroy();
      sqs.destroy();
    });
    const namespace = `chaos-${options.seed}-${randomUUID().slice(0, 6)}`;
    const tables = await createTables(dynamodb, namespace);
    cleanups.push(async () => {
      for (const table of [tables.ordersTable, tables.stateTable]) {
        await dynamodb.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
      }
    });
    const queueOverrides = { visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS, maxReceiveCount: 5 };
    const queues = await createQueues(sqs, namespace, queueOverrides);

    // --- The product: two tick "containers" and a worker "container" ------------------------------
    const config = parseConfig({
      TIKTOK_API_BASE_URL: emulator.baseUrl,
      TIKTOK_AUTH_BASE_URL: emulator.authBaseUrl,
      TIKTOK_APP_KEY: emulator.appKey,
      TIKTOK_APP_SECRET: emulator.appSecret,
      TIKTOK_SHOP_ID: shopId,
      TIKTOK_SHOP_CIPHER: shop.cipher,
      TIKTOK_MAX_RPS: "1000",
      ORDERS_TABLE_NAME: tables.ordersTable,
      STATE_TABLE_NAME: tables.stateTable,
      WORK_QUEUE_URL: queues.workQueueUrl,
      DEAD_LETTER_QUEUE_URL: queues.deadLetterQueueUrl,
      WEBHOOK_QUEUE_URL: queues.webhookQueueUrl,
      SYNC_SETTLE_SECONDS: "1",
      SYNC_MAX_CLOCK_SKEW_SECONDS: "0",
      SYNC_OVERLAP_SECONDS: "300",
      SYNC_LOCK_LEASE_SECONDS: "10",
      WORKER_CONCURRENCY: "3",
    });
    const duplicates = duplicatingSqs(
      sqs,
      random.fork(0xd0b),
      plan.duplicateRate,
      () => chaosOn,
      () => count("duplicatedSends"),
    );
    const metrics = new MetricsRecorder();
    const newRuntime = (fullResync: FullResyncWiringOptions) => {
      const runtime = new Runtime(config, {
        fullResync,
        metrics,
        log,
        dynamodb,
        sqs: duplicates,
        fetch: recordingFetch(secrets, (how) => count(`incrementalSplit:${how}`)),
        credentials: {
          appKey: emulator.appKey,
          appSecret: emulator.appSecret,
          initialTokens: { accessToken: issued.access_token, refreshToken: issued.refresh_token },
        },
        tiktokClient: { timeoutMs: 1_500, retry: { baseDelayMs: 100, maxDelayMs: 1_000 } },
      });
      cleanups.push(() => runtime.destroy());
      return runtime;
    };
    const settings = {
      visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
      maxReceiveCount: 5,
      pageBudget: plan.pageBudget,
      maxRequeues: 20,
    };
    const tickRuntime = newRuntime({ settings });
    const otherTickRuntime = newRuntime({ settings });
    const tickDeps = tickRuntime.requireFullResync().deps;
    const crashes = new Map<CrashPoint, number>();
    const workerRuntime = newRuntime({
      settings,
      crashAt: (point, context) => {
        if (!chaosOn || context.receiveCount !== 1) return;
        const first = (crashes.get(point) ?? 0) === 0;
        const drawn =
          hashUnit(options.seed, context.window, context.sequence, CRASH_POINTS.indexOf(point)) <
          plan.crashRate;
        if (!first && !drawn) return;
        crashes.set(point, (crashes.get(point) ?? 0) + 1);
        count(`crash:${point}`);
        throw new SimulatedCrash(`worker killed ${point}`);
      },
    });
    const workerDeps = workerRuntime.requireFullResync().deps;
    const pollers: SqsPoller[] = [];
    const startPoller = () => {
      const poller = startSqsPoller({
        sqs,
        queueUrl: queues.workQueueUrl,
        handler: makeWorkerHandler(workerDeps),
        // One page per message, as `npm start` does: a batch never outlives the visibility timeout.
        batchSize: 1,
        concurrency: 3,
        waitTimeSeconds: 1,
        log,
      });
      pollers.push(poller);
      return poller;
    };
    startPoller();
    cleanups.push(() => Promise.all(pollers.map((poller) => poller.stop())).then(() => {}));

    // Push, wired as `npm start` does: the HTTP API's webhook route -> webhook queue -> the consumer under
    // the SQS poller with the deployed batching; the emulator announces its changes there, signed.
    const webhookRuntime = newRuntime({ settings });
    const api = await startHttpApi(
      localApiRoutes({
        api: makeApiHandler({ service: createSyncService(webhookRuntime), log }),
        webhook: webhookReceiver({
          loadCredentials: async () => ({ appKey: emulator.appKey, appSecret: emulator.appSecret }),
          sqs,
          queueUrl: queues.webhookQueueUrl,
          metrics,
          log,
        }),
      }),
      { port: 0 },
    );
    cleanups.push(() => api.close());
    pollers.push(
      startSqsPoller({
        sqs,
        queueUrl: queues.webhookQueueUrl,
        handler: makeWebhookConsumerHandler(webhookConsumerDeps(webhookRuntime)),
        batchSize: WEBHOOK_BATCH_SIZE,
        batchingWindowMs: WEBHOOK_BATCHING_WINDOW_SECONDS * 1000,
        concurrency: PUSH_CONCURRENCY,
        waitTimeSeconds: 1,
        log,
      }),
    );
    emulator.configure({ webhooks: { url: `${api.url}${WEBHOOK_PATH}`, ...plan.webhooks } });

    emulator.configure({ faults: plan.faultRates });

    // --- Ticks, mutations and events while chaos is on --------------------------------------------
    const outcomes: IncrementalOutcome[] = [];
    /**
     * DESIGN rule 4 after each completed run, not only at the end (where the overlap may have healed a
     * loss): its cursor moved past its window, so every order the truth has inside that window is
     * stored. Nothing changes an order while a tick runs but a page fault, which moves it past the
     * window; so the truth now is the truth the run had to read.
     */
    const outOfWindowFaults = () => emulator.counters().faultsByKind.outOfWindowOrder ?? 0;
    let tokenModeNow = plan.tokenModes[0];
    const checkRunStoredItsWindow = async (outcome: IncrementalOutcome, ordersMovedDuringRun: boolean) => {
      if (outcome.status !== "completed") return;
      const { run_id, window_start, window_end } = outcome.lastRun;
      const quarantinedIds = new Set(emulator.oversizedOrders(shopId).keys());
      const inWindow = emulator
        .truthSummary(shopId)
        .filter(
          (order) =>
            order.update_time >= window_start &&
            order.update_time < window_end &&
            !invalid.has(order.id) &&
            !quarantinedIds.has(order.id),
        );
      if (inWindow.length === 0) return;
      count("runsChecked");
      const stored = await storedOrders(tickRuntime.documents, tables.ordersTable, shopId);
      let lost = inWindow.filter((order) => (stored.get(order.id)?.updateTime ?? -1) < order.update_time);
      // DESIGN rule 2 follows page tokens only inside one second; with offset tokens an order moved out
      // of that second mid-query (here only an outOfWindowOrder fault moves one) shifts the rest by one,
      // so one unchanged order of that second can be skipped by this run. The contract leaves it to the
      // next run's overlap, which the end-of-seed checks prove; this per-run check counts it instead.
      if (lost.length > 0 && ordersMovedDuringRun && tokenModeNow === "offset") {
        const pageSize = Math.min(100, plan.maxPageSize ?? 100);
        const ordersInSecond = (second: number) =>
          inWindow.filter((order) => order.update_time === second).length;
        const shifted = lost.filter((order) => ordersInSecond(order.update_time) + 1 > pageSize);
        if (shifted.length > 0) {
          count("offsetShiftSkipsLeftToOverlap", shifted.length);
          lost = lost.filter((order) => !shifted.includes(order));
        }
      }
      if (lost.length > 0) {
        const seconds = [...new Set(lost.map((order) => order.update_time))].sort();
        problems.push(
          `run ${run_id} completed [${window_start}, ${window_end}) without storing ${lost.length} of its ${inWindow.length} orders (update_time ${seconds.slice(0, 5).join(", ")}): ${lost
            .slice(0, 5)
            .map((order) => order.id)
            .join(", ")}`,
        );
      }
    };
    const tick = async (runtime: Runtime) => {
      const faultsBefore = outOfWindowFaults();
      let results: Awaited<ReturnType<typeof runTick>>;
      try {
        results = await runTick(runtime);
      } catch {
        count("failedTicks");
        return;
      }
      for (const { outcome } of results) {
        if (!outcome) continue;
        outcomes.push(outcome);
        await checkRunStoredItsWindow(outcome, outOfWindowFaults() > faultsBefore);
      }
    };
    let lastChangeSecond = emulator.now();
    const mutationRandom = random.fork(0x3e7);
    /**
     * Orders later mutations leave alone: the floods' orders stay in their second, so that second still
     * holds more than the cap when a run reads it (else a burst drawn right after could thin it out
     * before any run came by), and every run whose overlap covers it reads it in parts again.
     */
    const flooded = new Set<string>();
    const mutateSome = (howMany: number) => {
      const candidates = emulator
        .truthSummary(shopId)
        .filter((order) => !invalid.has(order.id) && !flooded.has(order.id));
      const ids = new Set<string>();
      while (ids.size < Math.min(howMany, candidates.length)) ids.add(mutationRandom.pick(candidates).id);
      const changed = emulator.mutate({ orderIds: [...ids] });
      lastChangeSecond = Math.max(lastChangeSecond, ...changed.map((order) => order.update_time));
      return changed;
    };

    /** Waits for the emulator's next second: what follows at once shares one second, whole. */
    const atSecondStart = async () => {
      const second = emulator.now();
      while (emulator.now() === second) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    const ordersInSecond = (second: number) =>
      emulator.truthSummary(shopId).filter((order) => order.update_time === second);

    const fired = new Set<ChaosEvent>();
    const fire = async (event: ChaosEvent) => {
      fired.add(event);
      print(`  seed ${options.seed}: ${event}`);
      switch (event) {
        case "lockHolderDies":
          count("deadLockHolders");
          await dieHoldingTheLock(tickRuntime, shopId, outcomes);
          break;
        case "tokensExpire":
          count("accessTokensExpired", emulator.expireAccessTokens());
          break;
        case "tokenModeFlips":
          emulator.configure({ tokenMode: plan.tokenModes[1] });
          tokenModeNow = plan.tokenModes[1];
          break;
        case "sqsRestart": {
          count("sqsRestarts");
          const port = sqsService.port;
          await sqsService.stop();
          sqsService = await startSqsEmulator({ port });
          await createQueues(sqs, namespace, queueOverrides);
          break;
        }
        case "burst": {
          await atSecondStart();
          const changed = mutateSome(plan.sameSecondBurst);
          const seconds = new Set(changed.map((order) => order.update_time));
          count("sameSecondBurstOrders", changed.length);
          if (seconds.size !== 1) problems.push(`the same-second burst spread over ${seconds.size} seconds`);
          break;
        }
        case "updateFlood": {
          // Existing orders (spread create_times) updated in one second, more than one query serves. Drawn
          // like the other mutations (never an invalid order), as emulator.flood({source: "update"}) does.
          await atSecondStart();
          const changed = mutateSome(plan.updateFlood);
          for (const order of changed) flooded.add(order.id);
          const seconds = new Set(changed.map((order) => order.update_time));
          const [second] = seconds;
          const inSecond = second === undefined ? 0 : ordersInSecond(second).length;
          count("updateFloodOrders", changed.length);
          if (seconds.size !== 1 || inSecond <= plan.resultCap) {
            problems.push(
              `the update flood spread over ${seconds.size} seconds, ${inSecond} orders in its second (cap ${plan.resultCap})`,
            );
          }
          break;
        }
        case "createFlood": {
          // New orders in one second (create_time = update_time), beyond the cap; half of them move on in
          // that second, so the statuses split it and none holds more than the cap (one status beyond
          // the cap is a visible stop, not drawn here).
          await atSecondStart();
          const created = emulator.flood({ count: plan.createFlood, shopId, source: "create" });
          for (const order of created) flooded.add(order.id);
          const moved = emulator.mutate({
            orderIds: created.filter((_, index) => index % 2 === 0).map((order) => order.id),
          });
          const second = created[0]?.update_time ?? 0;
          lastChangeSecond = Math.max(lastChangeSecond, second, ...moved.map((order) => order.update_time));
          const inSecond = ordersInSecond(second).filter((order) => order.create_time === second);
          const byStatus = new Map<string, number>();
          for (const order of inSecond) byStatus.set(order.status, (byStatus.get(order.status) ?? 0) + 1);
          count("createFloodOrders", created.length);
          count("createFloodStatuses", byStatus.size);
          const largest = Math.max(...byStatus.values());
          if (
            inSecond.length < created.length ||
            inSecond.length <= plan.resultCap ||
            largest > plan.resultCap
          ) {
            problems.push(
              `the create flood left ${inSecond.length} of ${created.length} orders in its second, statuses ${JSON.stringify(Object.fromEntries(byStatus))} (cap ${plan.resultCap})`,
            );
          }
          break;
        }
        case "bulkOrder": {
          const created = emulator.createOrders({ count: 1, shopId, lineItems: plan.oversized.created });
          lastChangeSecond = Math.max(lastChangeSecond, ...created.map((order) => order.update_time));
          count("oversizedOrders", created.length);
          break;
        }
      }
    };

    let jobId: string | undefined;
    let progress: JobProgress | undefined;
    const share = () =>
      progress && progress.expected_orders > 0 ? progress.orders / progress.expected_orders : 0;
    // Chaos: until the job is over and every event fired.
    for (let round = 0; ; round++) {
      if (Date.now() > deadline) throw new Error("chaos: the chaos phase did not end in time");
      const concurrent = round % 4 === 2;
      await Promise.all([tick(tickRuntime), concurrent ? tick(otherTickRuntime) : undefined]);
      if (concurrent) count("concurrentTicks");
      const changed = mutateSome(mutationRandom.int(1, 6));
      count("ordersMutated", changed.length);
      const creates = mutationRandom.int(0, 2);
      if (creates > 0) {
        const created = emulator.createOrders({ count: creates, shopId });
        lastChangeSecond = Math.max(lastChangeSecond, ...created.map((order) => order.update_time));
        count("ordersCreated", created.length);
      }
      progress = await getJobProgress(tickDeps, shopId).catch(() => undefined);
      if (!jobId && progress) {
        jobId = progress.job_id;
        print(
          `  seed ${options.seed}: full resync ${jobId} running, ${progress.expected_orders} orders expected`,
        );
        // Besides the rates, each kind of fault at least once, on the next search calls (seeded order).
        const kinds = Object.keys(plan.faultRates) as FaultKind[];
        for (let index = kinds.length - 1; index > 0; index--) {
          const other = mutationRandom.int(0, index);
          [kinds[index], kinds[other]] = [kinds[other] as FaultKind, kinds[index] as FaultKind];
        }
        for (const fault of kinds) emulator.failNext({ count: 1, endpoint: "searchOrders", fault });
        count("queuedFaults", kinds.length);
      }
      for (const [event, at] of Object.entries(plan.events) as [ChaosEvent, number][]) {
        const over = progress !== undefined && progress.status !== "RUNNING";
        if (!fired.has(event) && (share() >= at || over)) await fire(event);
      }
      // Every event fired and the job (nearly) done: the rest finishes during the settle.
      const allFired = fired.size === Object.keys(plan.events).length;
      if (allFired && progress && (progress.status !== "RUNNING" || share() >= 0.9)) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }

    // --- Settle -------------------------------------------------------------------------------------
    chaosOn = false;
    emulator.configure({ faults: {} });
    emulator.clearFaultQueue();
    // Page faults changed orders too (outOfWindowOrder advances the order it serves): the truth says last.
    for (const order of emulator.truthSummary(shopId)) {
      lastChangeSecond = Math.max(lastChangeSecond, order.update_time);
    }
    print(
      `  seed ${options.seed}: settling after ${outcomes.length} incremental runs (job ${progress?.status ?? "not started"}, ${Math.round(share() * 100)}%)`,
    );
    if ((progress?.status as string | undefined) === "RUNNING" || !jobId) {
      progress = await until(
        "the full resync to finish",
        async () => {
          await tick(tickRuntime);
          const current = await getJobProgress(tickDeps, shopId);
          return current && current.status !== "RUNNING" ? current : undefined;
        },
        deadline,
        500,
      );
    }
    print(`  seed ${options.seed}: job ${progress?.status}, draining the work and webhook queues`);
    // Nothing changes any more: every webhook still due is delivered (or given up), then consumed.
    await until("webhook deliveries to end", async () => emulator.webhookCounters().pending === 0, deadline);
    await until(
      "the work and webhook queues to drain",
      async () =>
        (await queueDepth(sqs, queues.workQueueUrl)) === 0 &&
        (await queueDepth(sqs, queues.webhookQueueUrl)) === 0,
      deadline,
    );
    print(`  seed ${options.seed}: queue drained, waiting for a quiet tick`);
    // A tick whose window ends after the last change, and finds nothing new: the system is at rest.
    await until(
      "a quiet tick past the last change",
      async () => {
        if (emulator.now() <= lastChangeSecond + config.SYNC_SETTLE_SECONDS) return false;
        const [result] = await runTick(tickRuntime).catch(() => [] as never[]);
        const outcome = result?.outcome;
        if (outcome?.status !== "completed") return false;
        if (outcome.lastRun.window_end <= lastChangeSecond) return false;
        return outcome.lastRun.inserted + outcome.lastRun.updated === 0;
      },
      deadline,
      300,
    );
    await Promise.all(pollers.map((poller) => poller.stop()));

    // --- Check -------------------------------------------------------------------------------------
    print(`  seed ${options.seed}: at rest, checking`);
    const truth = emulator.truth(shopId);
    const oversized = new Set(emulator.oversizedOrders(shopId).keys());
    const checkAll = async () => {
      const found: string[] = [];
      const expected = truth.filter((order) => !invalid.has(order.id) && !oversized.has(order.id));
      const diff = await diffWithTruth(tickRuntime.documents, tables.ordersTable, shopId, expected);
      const list = (ids: readonly string[]) =>
        `${ids.length} (${ids.slice(0, 10).join(", ")}${ids.length > 10 ? ", …" : ""})`;
      if (diff.missing.length > 0) {
        const byId = new Map(truth.map((order) => [order.id, order]));
        const details = diff.missing.slice(0, 5).map((id) => {
          const order = byId.get(id);
          return `${id} created ${order?.create_time} updated ${order?.update_time} ${order?.status}`;
        });
        found.push(`missing orders: ${list(diff.missing)} — ${details.join("; ")}`);
      }
      if (diff.stale.length > 0) found.push(`stale orders: ${list(diff.stale)}`);
      if (diff.extra.length > 0) found.push(`extra orders: ${list(diff.extra)}`);
      if (diff.stored !== expected.length) {
        found.push(
          `stored ${diff.stored} orders, the truth has ${expected.length} valid ones that fit an item`,
        );
      }
      found.push(
        ...(await checkStatus({
          runtime: tickRuntime,
          shopId,
          truth,
          invalid,
          oversized,
          quarantined: await quarantineItems(tickRuntime, shopId),
          crashes,
        })),
      );
      return { found, stored: diff.stored };
    };
    const checked = await checkAll();
    problems.push(...checked.found);
    // api_calls counts every HTTP request sent to TikTok, retries, timeouts and refreshes included.
    const metered = [tickRuntime, otherTickRuntime, workerRuntime, webhookRuntime].reduce(
      (total, runtime) => total + runtime.apiCalls.calls,
      0,
    );
    if (metered !== emulator.counters().total) {
      problems.push(
        `the sync counted ${metered} TikTok calls, the emulator received ${emulator.counters().total}`,
      );
    }
    let recheckProblems: string[] = [];
    if (options.afterChecks) {
      await options.afterChecks({ runtime: tickRuntime, ordersTable: tables.ordersTable, shopId, truth });
      recheckProblems = (await checkAll()).found;
    }
    for (const [outcome, value] of Object.entries(emulator.counters().byOutcome)) {
      if (outcome !== "ok" && outcome !== "total" && value > 0) injected[`api:${outcome}`] = value;
    }
    for (const [kind, value] of Object.entries(emulator.counters().faultsByKind)) {
      injected[`fault:${kind}`] = value;
    }
    injected.apiCalls = emulator.counters().total;
    injected.lockedTicks = outcomes.filter((outcome) => outcome.status === "locked").length;
    injected.completedTicks = outcomes.filter((outcome) => outcome.status === "completed").length;
    injected.windowRestarts = progress?.restarts ?? 0;
    injected.windowSplits = progress?.splits ?? 0;
    if (injected.lockedTicks === 0) problems.push("no tick ever found the dead holder's lock");
    // Push really ran: webhooks delivered (some dropped, some twice), consumed, orders refreshed by them.
    const webhookCounts = emulator.webhookCounters();
    for (const kind of ["emitted", "delivered", "dropped", "duplicated", "failed"] as const) {
      injected[`webhooks:${kind}`] = webhookCounts[kind];
    }
    const push = await pushStatsStore(webhookRuntime).get(shopId);
    injected["push:ordersRefreshed"] = push?.orders_refreshed ?? 0;
    if (webhookCounts.delivered === 0) problems.push("no webhook was delivered");
    if (!push || push.orders_refreshed === 0) {
      problems.push(`webhooks refreshed no order (push status: ${JSON.stringify(push ?? null)})`);
    }
    const logText = recorder?.text() ?? "";
    const personalData = personalDataOf(truth);
    if (recorder) problems.push(...scanLogs(logText, secrets, personalData));
    return {
      seed: options.seed,
      ok: problems.length === 0,
      plan,
      injected,
      problems,
      recheckProblems,
      stored: checked.stored,
      durationMs: Date.now() - started,
      secrets,
      personalData,
      logText,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  }
}

/**
 * An incremental run that dies after its first page holding the lock (its process is gone: no release),
 * with a short lease; ticks find the lock held until the lease ends, then take over from its checkpoint.
 */
async function dieHoldingTheLock(runtime: Runtime, shopId: string, outcomes: IncrementalOutcome[]) {
  const shop = await runtime.shops.open(shopId);
  const base = runtime.incrementalDeps(shop);
  const state = new Proxy(base.state, {
    get(target, property, receiver) {
      if (property === "releaseLock") return async () => {};
      return Reflect.get(target, property, receiver);
    },
  }) as StateStore;
  let pages = 0;
  const dying: OrderSearchPort = {
    async searchOrders(request) {
      if (pages++ >= 1) throw new SimulatedCrash("incremental run died holding the lock");
      return shop.client.searchOrders(request);
    },
  };
  const deps = { ...base, state, tiktok: dying, settings: { ...base.settings, lockLeaseMs: LOCK_LEASE_MS } };
  // A tick may hold the lock right now: the doomed run starts as soon as it can take it.
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const outcome = await runIncrementalSync(deps, shop.ref);
      if (outcome.status !== "locked") outcomes.push(outcome);
      else {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
    } catch {
      // The crash (or an injected fault on its first page): either way it held the lock and died.
    }
    return;
  }
}

/**
 * "Status counters agree with what is stored" (docs/sync-protocol.md "Guarantees"), on the status route's document:
 * - job: COMPLETED, no open or failed window; `orders − quarantined` (what the job stored, each order
 *   once; the value finalize writes as `records_synced`) = the valid orders of the truth in its range
 *   that fit an item (bulk orders are quarantined);
 * - `quarantined_orders` = QUARANTINE items = the invalid orders the API served plus the bulk orders,
 *   one item each; each bulk order's item records a size beyond DynamoDB's limit;
 * - last run: `records_synced` = its inserted + updated; the cursor is the run's window end, in the past;
 *   no incremental run left stopped (`incremental_stopped` null);
 * - `dlq_depth` 0, the token not in need of re-authorization.
 * (runChaos adds: the API calls the runtimes metered = the requests the emulator received.)
 */
async function checkStatus(input: {
  runtime: Runtime;
  shopId: string;
  truth: readonly TikTokOrder[];
  invalid: ReadonlyMap<string, InvalidOrderField>;
  oversized: ReadonlySet<string>;
  quarantined: ReadonlyMap<string, number | undefined>;
  crashes: ReadonlyMap<CrashPoint, number>;
}): Promise<string[]> {
  const { runtime, shopId, truth, invalid, oversized, quarantined } = input;
  const problems: string[] = [];
  const [status] = (await createSyncService(runtime).status([shopId])) as Record<string, unknown>[];
  if (!status) return ["the status route lists no shop"];
  const job = status.job as JobProgress | null;
  if (!job) problems.push("status shows no full-resync job");
  else {
    if (job.status !== "COMPLETED") problems.push(`job ${job.job_id} is ${job.status}: ${job.reason ?? ""}`);
    if (job.windows.open !== 0 || job.windows.failed !== 0) {
      problems.push(`job windows: ${JSON.stringify(job.windows)}`);
    }
    const from = Date.parse(job.range.from) / 1000;
    const to = Date.parse(job.range.to) / 1000;
    const inRange = truth.filter(
      (order) =>
        !invalid.has(order.id) &&
        !oversized.has(order.id) &&
        order.create_time >= from &&
        order.create_time < to,
    ).length;
    if (job.orders - job.quarantined !== inRange) {
      problems.push(
        `job stored ${job.orders - job.quarantined} orders (orders ${job.orders} − quarantined ${job.quarantined}), the truth has ${inRange} in its range`,
      );
    }
  }
  const expectedQuarantined = invalid.size + oversized.size;
  if (status.quarantined_orders !== expectedQuarantined || quarantined.size !== expectedQuarantined) {
    problems.push(
      `quarantined: status ${String(status.quarantined_orders)}, items ${quarantined.size} (${[...quarantined.keys()].join(", ")}), invalid orders served ${invalid.size} + bulk orders ${oversized.size}`,
    );
  }
  for (const [id, field] of invalid) {
    if (field !== "id" && !quarantined.has(id)) problems.push(`invalid order ${id} not quarantined`);
  }
  for (const id of oversized) {
    const size = quarantined.get(id);
    if (size === undefined || size <= MAX_ITEM_BYTES) {
      problems.push(`bulk order ${id} not quarantined for its size (item: ${String(size)})`);
    }
  }
  if (status.incremental_stopped !== null) {
    problems.push(`an incremental run is left stopped: ${JSON.stringify(status.incremental_stopped)}`);
  }
  const lastRun = status.last_run as { inserted: number; updated: number; window_end: number } | null;
  if (status.sync_type !== "incremental" || !lastRun) problems.push("status shows no last incremental run");
  else {
    if (status.records_synced !== lastRun.inserted + lastRun.updated) {
      problems.push(`records_synced ${String(status.records_synced)} ≠ last run's inserted + updated`);
    }
    if (status.cursor !== new Date(lastRun.window_end * 1000).toISOString()) {
      problems.push(`cursor ${String(status.cursor)} is not the last run's window end`);
    }
  }
  if (status.dlq_depth !== 0) problems.push(`dlq_depth ${String(status.dlq_depth)}`);
  const token = status.token as { needs_reauth: boolean } | null;
  if (!token || token.needs_reauth) problems.push(`token: ${JSON.stringify(token)}`);
  for (const point of CRASH_POINTS) {
    if (!input.crashes.get(point)) problems.push(`no worker was killed ${point}`);
  }
  return problems;
}

/** Every secret or personal value found in the logs (an empty list when clean). */
export function scanLogs(
  logText: string,
  secrets: ReadonlySet<string>,
  personalData: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  for (const secret of secrets) {
    if (secret.length >= 8 && logText.includes(secret)) {
      problems.push(`a secret (${secret.slice(0, 4)}…, ${secret.length} chars) appears in the logs`);
    }
  }
  for (const value of personalData) {
    if (logText.includes(value)) problems.push(`personal data "${value.slice(0, 3)}…" appears in the logs`);
  }
  if (/sign=[0-9a-f]{16,}/i.test(logText)) problems.push("a request signature (sign=…) appears in the logs");
  return problems;
}
