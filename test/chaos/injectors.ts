/**
 * The chaos injectors (issue 19): each fault of the scenario as a small named object that the runner
 * (scenario.ts) applies to the rig (rig.ts) as the plan (plan.ts) says — which are active, at which rates,
 * and when their events fire. Beside its name, an injector has only the hooks it needs, which the runner
 * calls in list order:
 *
 * - `active`: whether the plan turns it on (default: always);
 * - `shapeData`: alters the shop's data before the product is built (only these draw from the run's
 *   seeded stream: every fork made afterwards starts from where their draws leave it);
 * - `install`: plugs into the rig once it is up (the product's seams, the emulator), before the chaos;
 * - `onJobStarted`: once the full resync is first seen running;
 * - `events`: what happens when a planned event fires (each event has exactly one injector);
 * - `calm`: at the settle, stops what the rig's `chaosOn` (false from then on) does not stop by itself.
 */
import {
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from "@aws-sdk/client-dynamodb";
import { SendMessageBatchCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import type { FaultKind } from "../../infra/local/tiktok-emulator";
import { hashUnit, type SeededRandom } from "../../infra/local/tiktok-emulator/prng";
import type { Runtime } from "../../shared/app/runtime";
import type { StateStore } from "../../shared/store/state-store";
import type { CrashPoint } from "../../shared/sync/full-resync/deps";
import { type IncrementalOutcome, runIncrementalSync } from "../../shared/sync/incremental";
import type { OrderSearchPort } from "../../shared/sync/ports";
import type { ChaosEvent, ChaosPlan } from "./plan";
import type { ChaosRig, ChaosSeams, ChaosWorld } from "./rig";

export type ChaosEventHandler = (rig: ChaosRig, plan: ChaosPlan) => Promise<void>;

/** A fault of the scenario; its hooks are described above. */
export interface ChaosInjector {
  readonly name: string;
  readonly active?: (plan: ChaosPlan) => boolean;
  readonly shapeData?: (world: ChaosWorld, plan: ChaosPlan) => void;
  readonly install?: (rig: ChaosRig, plan: ChaosPlan) => void;
  readonly onJobStarted?: (rig: ChaosRig, plan: ChaosPlan) => void;
  readonly events?: Partial<Record<ChaosEvent, ChaosEventHandler>>;
  readonly calm?: (rig: ChaosRig) => void;
}

export const CRASH_POINTS: readonly CrashPoint[] = ["after-upsert", "after-window-transaction", "after-send"];
const LOCK_LEASE_MS = 3_000;

class SimulatedCrash extends Error {
  constructor(what: string) {
    super(`simulated crash: ${what}`);
    this.name = "SimulatedCrash";
  }
}

// --- Data: the shop's orders, before the product is built --------------------------------------------

/**
 * Invalid orders: never mutated (their stored key must stay stable), always served without a field.
 * Taken from orders last changed over a day ago: no incremental window holds them, so no page fault
 * (outOfWindowOrder changes an order of the page it alters) ever touches one.
 */
const invalidOrders: ChaosInjector = {
  name: "invalidOrders",
  active: (plan) => plan.invalidOrders.length > 0,
  shapeData({ emulator, initialOrders, random, invalid }, plan) {
    const settled = initialOrders.filter((order) => order.update_time < emulator.now() - 86_400);
    for (const field of plan.invalidOrders) {
      let candidate = random.pick(settled).id;
      while (invalid.has(candidate)) candidate = random.pick(settled).id;
      invalid.set(candidate, field);
      emulator.corruptOrders({ orderIds: [candidate], field });
    }
  },
};

/**
 * Bulk orders larger than a DynamoDB item: expected quarantined (with their size), never stored. Existing
 * ones at the start (they may change later like any other order: re-quarantined in place), one created
 * when its event fires (read by the incremental runs).
 */
const bulkOrders: ChaosInjector = {
  name: "bulkOrders",
  shapeData({ emulator, shopId, initialOrders, random, invalid, count }, plan) {
    for (const lineItems of plan.oversized.initial) {
      let candidate = random.pick(initialOrders).id;
      while (invalid.has(candidate) || emulator.oversizedOrders(shopId).has(candidate)) {
        candidate = random.pick(initialOrders).id;
      }
      emulator.oversizeOrders({ orderIds: [candidate], lineItems, shopId });
      count("oversizedOrders");
    }
  },
  events: {
    async bulkOrder({ emulator, shopId, activity, count }, plan) {
      const created = emulator.createOrders({ count: 1, shopId, lineItems: plan.oversized.created });
      activity.changedAt(...created.map((order) => order.update_time));
      count("oversizedOrders", created.length);
    },
  },
};

// --- The product's own clients and processes ---------------------------------------------------------

/**
 * DynamoDB faults, a middleware on the product's client (shared by the document clients built on it),
 * failing writes before they are sent: transactions cancelled for a conflict, with the reason on one of
 * their items and `None` on the others, as DynamoDB words it; saves of a refreshed token pair throttled
 * (the first one always). Counted by kind.
 */
const dynamoFaults: ChaosInjector = {
  name: "dynamoFaults",
  install(rig, plan) {
    const random = rig.random.fork(0xdd8);
    const rates = plan.dynamoFaults;
    let tokenSaves = 0;
    rig.dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        if (!rig.chaosOn) return next(args);
        const input = args.input as { TransactItems?: unknown[]; Key?: unknown; UpdateExpression?: string };
        if (context.commandName === "TransactWriteItemsCommand" && random.chance(rates.transactionConflict)) {
          rig.count("dynamo:transactionConflict");
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
          rig.count("dynamo:tokenSaveFailure");
          throw new ProvisionedThroughputExceededException({
            $metadata: { httpStatusCode: 400 },
            message: "The level of configured provisioned throughput for the table was exceeded (injected)",
          });
        }
        return next(args);
      },
      { step: "initialize", name: "chaosDynamoFaults", priority: "high" },
    );
  },
};

/** The product's SQS sends, while chaos is on, sent twice: the first one, then with the plan's probability. */
const duplicateSends: ChaosInjector = {
  name: "duplicateSends",
  install(rig, plan) {
    rig.seams.sqsSend = duplicatingSend(rig.seams.sqsSend, rig.random.fork(0xd0b), plan.duplicateRate, rig);
  },
};

function duplicatingSend(
  send: ChaosSeams["sqsSend"],
  random: SeededRandom,
  rate: number,
  rig: Pick<ChaosRig, "chaosOn" | "count">,
): ChaosSeams["sqsSend"] {
  let duplicated = 0;
  return async (command, options) => {
    const result = await send(command, options);
    const isSend = command instanceof SendMessageBatchCommand || command instanceof SendMessageCommand;
    if (!rig.chaosOn || !isSend || (duplicated > 0 && !random.chance(rate))) return result;
    duplicated += 1;
    if (command instanceof SendMessageBatchCommand) {
      rig.count("duplicatedSends");
      await send(
        new SendMessageBatchCommand({
          ...command.input,
          Entries: (command.input.Entries ?? []).map((entry) => ({ ...entry, Id: `${entry.Id}d` })),
        }),
      );
    } else if (command instanceof SendMessageCommand) {
      rig.count("duplicatedSends");
      await send(new SendMessageCommand(command.input));
    }
    return result;
  };
}

/**
 * Workers killed at the window protocol's crash points, on a message's first delivery: each point the
 * first time it is reached, then at the plan's rate (a hash of the message, not a stream: the draw does
 * not depend on which worker gets there first).
 */
const workerCrashes: ChaosInjector = {
  name: "workerCrashes",
  install(rig, plan) {
    rig.seams.crashAt = (point, context) => {
      if (!rig.chaosOn || context.receiveCount !== 1) return;
      const first = (rig.injected[`crash:${point}`] ?? 0) === 0;
      const drawn =
        hashUnit(plan.seed, context.window, context.sequence, CRASH_POINTS.indexOf(point)) < plan.crashRate;
      if (!first && !drawn) return;
      rig.count(`crash:${point}`);
      throw new SimulatedCrash(`worker killed ${point}`);
    };
  },
};

const sqsRestart: ChaosInjector = {
  name: "sqsRestart",
  events: {
    async sqsRestart(rig) {
      rig.count("sqsRestarts");
      await rig.restartSqs();
    },
  },
};

/**
 * An incremental run that dies after its first page holding the lock (its process is gone: no release),
 * with a short lease; ticks find the lock held until the lease ends, then take over from its checkpoint.
 */
const deadLockHolder: ChaosInjector = {
  name: "deadLockHolder",
  events: {
    async lockHolderDies(rig) {
      rig.count("deadLockHolders");
      await dieHoldingTheLock(rig.runtimes.tick, rig.shopId, rig.outcomes);
    },
  },
};

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

// --- TikTok: the emulator's faults and webhooks ------------------------------------------------------

/** Push: the emulator announces its changes to the rig's webhook route, some dropped, some twice, reordered. */
const webhookChaos: ChaosInjector = {
  name: "webhookChaos",
  install(rig, plan) {
    rig.emulator.configure({ webhooks: { url: rig.webhookUrl, ...plan.webhooks } });
  },
};

/**
 * TikTok's request and page faults at the plan's rates, and besides the rates each kind at least once, on
 * the search calls that follow the job's start (in an order drawn from the mutations' stream).
 */
const tiktokFaults: ChaosInjector = {
  name: "tiktokFaults",
  install(rig, plan) {
    rig.emulator.configure({ faults: plan.faultRates });
  },
  onJobStarted(rig, plan) {
    const kinds = Object.keys(plan.faultRates) as FaultKind[];
    const random = rig.activity.random;
    for (let index = kinds.length - 1; index > 0; index--) {
      const other = random.int(0, index);
      [kinds[index], kinds[other]] = [kinds[other] as FaultKind, kinds[index] as FaultKind];
    }
    for (const fault of kinds) rig.emulator.failNext({ count: 1, endpoint: "searchOrders", fault });
    rig.count("queuedFaults", kinds.length);
  },
  calm(rig) {
    rig.emulator.configure({ faults: {} });
    rig.emulator.clearFaultQueue();
  },
};

/** Once, every access token expires for real (refresh and rotation under load). */
const expiredTokens: ChaosInjector = {
  name: "expiredTokens",
  events: {
    async tokensExpire(rig) {
      rig.count("accessTokensExpired", rig.emulator.expireAccessTokens());
    },
  },
};

/** The page-token mode flips mid-run (keyset ↔ offset). */
const tokenModeFlip: ChaosInjector = {
  name: "tokenModeFlip",
  events: {
    async tokenModeFlips(rig, plan) {
      rig.emulator.configure({ tokenMode: plan.tokenModes[1] });
      rig.tokenMode = plan.tokenModes[1];
    },
  },
};

// --- Same-second crowds: a burst below the result cap, floods beyond it ------------------------------

/** More than a page of orders updated in one second, below the result cap (page tokens inside a second). */
const sameSecondBurst: ChaosInjector = {
  name: "sameSecondBurst",
  events: {
    async burst({ activity, count, problems }, plan) {
      await activity.atSecondStart();
      const changed = activity.mutateSome(plan.sameSecondBurst);
      const seconds = new Set(changed.map((order) => order.update_time));
      count("sameSecondBurstOrders", changed.length);
      if (seconds.size !== 1) problems.push(`the same-second burst spread over ${seconds.size} seconds`);
    },
  },
};

/**
 * Existing orders (spread create_times) updated in one second, more than one query serves. Drawn like the
 * other mutations (never an invalid order), as emulator.flood({source: "update"}) does.
 */
const updateFlood: ChaosInjector = {
  name: "updateFlood",
  events: {
    async updateFlood({ activity, count, problems }, plan) {
      await activity.atSecondStart();
      const changed = activity.mutateSome(plan.updateFlood);
      for (const order of changed) activity.flooded.add(order.id);
      const seconds = new Set(changed.map((order) => order.update_time));
      const [second] = seconds;
      const inSecond = second === undefined ? 0 : activity.ordersInSecond(second).length;
      count("updateFloodOrders", changed.length);
      if (seconds.size !== 1 || inSecond <= plan.resultCap) {
        problems.push(
          `the update flood spread over ${seconds.size} seconds, ${inSecond} orders in its second (cap ${plan.resultCap})`,
        );
      }
    },
  },
};

/**
 * New orders in one second (create_time = update_time), beyond the cap; half of them move on in that
 * second, so the statuses split it and none holds more than the cap (one status beyond the cap is a
 * visible stop, not drawn here).
 */
const createFlood: ChaosInjector = {
  name: "createFlood",
  events: {
    async createFlood({ emulator, shopId, activity, count, problems }, plan) {
      await activity.atSecondStart();
      const created = emulator.flood({ count: plan.createFlood, shopId, source: "create" });
      for (const order of created) activity.flooded.add(order.id);
      const moved = emulator.mutate({
        orderIds: created.filter((_, index) => index % 2 === 0).map((order) => order.id),
      });
      const second = created[0]?.update_time ?? 0;
      activity.changedAt(second, ...moved.map((order) => order.update_time));
      const inSecond = activity.ordersInSecond(second).filter((order) => order.create_time === second);
      const byStatus = new Map<string, number>();
      for (const order of inSecond) byStatus.set(order.status, (byStatus.get(order.status) ?? 0) + 1);
      count("createFloodOrders", created.length);
      count("createFloodStatuses", byStatus.size);
      const largest = Math.max(...byStatus.values());
      if (inSecond.length < created.length || inSecond.length <= plan.resultCap || largest > plan.resultCap) {
        problems.push(
          `the create flood left ${inSecond.length} of ${created.length} orders in its second, statuses ${JSON.stringify(Object.fromEntries(byStatus))} (cap ${plan.resultCap})`,
        );
      }
    },
  },
};

/**
 * Every injector, in the order the runner applies each hook: the data ones first (their draws on the
 * run's stream), then the order the product and the emulator have always seen them in (the same calls in
 * the same order: a seed replays the scenario it replayed before issue 19).
 */
const INJECTORS: readonly ChaosInjector[] = [
  invalidOrders,
  bulkOrders,
  dynamoFaults,
  duplicateSends,
  workerCrashes,
  webhookChaos,
  tiktokFaults,
  deadLockHolder,
  expiredTokens,
  tokenModeFlip,
  sqsRestart,
  sameSecondBurst,
  updateFlood,
  createFlood,
];

/** The injectors the plan turns on. */
export function chaosInjectors(plan: ChaosPlan): readonly ChaosInjector[] {
  return INJECTORS.filter((injector) => injector.active?.(plan) ?? true);
}

/** Each planned event's handler; throws when an event has none, or more than one. */
export function eventHandlers(
  plan: ChaosPlan,
  injectors: readonly ChaosInjector[],
): Record<ChaosEvent, ChaosEventHandler> {
  const owners = new Map<ChaosEvent, { name: string; handler: ChaosEventHandler }>();
  for (const { name, events = {} } of injectors) {
    for (const [event, handler] of Object.entries(events) as [ChaosEvent, ChaosEventHandler][]) {
      const other = owners.get(event);
      if (other) throw new Error(`chaos: event ${event} has two injectors, ${other.name} and ${name}`);
      owners.set(event, { name, handler });
    }
  }
  const handlers = {} as Record<ChaosEvent, ChaosEventHandler>;
  for (const event of Object.keys(plan.events) as ChaosEvent[]) {
    const owner = owners.get(event);
    if (!owner) throw new Error(`chaos: no injector handles event ${event}`);
    handlers[event] = owner.handler;
  }
  return handlers;
}
