/**
 * Issue 16 item 6: a DynamoDB transaction conflict is not a lost lock. The state table is DynamoDB
 * Local; DynamoDB Local serializes transactions and never answers TransactionConflict (1,000 concurrent
 * transactions and writes on one item were tried), so conflicts are injected at the client boundary
 * with the error shape the SDK parses from DynamoDB. A real lost lock (a ConditionalCheckFailed
 * cancellation from DynamoDB Local itself) must still be one.
 */

import { TransactionCanceledException, TransactionConflictException } from "@aws-sdk/client-dynamodb";
import { type DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { systemClock } from "../../shared/clock";
import { StateStore } from "../../shared/store/state-store";
import { runIncrementalSync } from "../../shared/sync/incremental";
import { LockLostError } from "../../shared/sync/sync-state";
import { createTestResources, type TestResources } from "../support/local-aws";
import { type SyncHarness, startSyncHarness } from "../support/sync-harness";

jest.setTimeout(60_000);

interface ConflictPlan {
  /** TransactWriteItems calls cancelled with TransactionConflict on their first item (the lock). */
  transactions?: number;
  /** Single-item writes refused with TransactionConflictException (an ongoing transaction holds the item). */
  singleWrites?: number;
}

/** The real document client, except that the next calls of the plan meet a conflict first. */
function withConflicts(documents: DynamoDBDocumentClient, plan: ConflictPlan) {
  const remaining = { transactions: plan.transactions ?? 0, singleWrites: plan.singleWrites ?? 0 };
  const injected = { transactions: 0, singleWrites: 0 };
  const send = async (command: Parameters<DynamoDBDocumentClient["send"]>[0]) => {
    if (command instanceof TransactWriteCommand && remaining.transactions > 0) {
      remaining.transactions -= 1;
      injected.transactions += 1;
      const items = command.input.TransactItems ?? [];
      throw new TransactionCanceledException({
        message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${items
          .map((_, index) => (index === 0 ? "TransactionConflict" : "None"))
          .join(", ")}]`,
        $metadata: { httpStatusCode: 400 },
        CancellationReasons: items.map((_, index) =>
          index === 0
            ? { Code: "TransactionConflict", Message: "Transaction is ongoing for the item" }
            : { Code: "None" },
        ),
      });
    }
    if (!(command instanceof TransactWriteCommand) && remaining.singleWrites > 0) {
      const name = command.constructor.name;
      if (name === "PutCommand" || name === "DeleteCommand" || name === "UpdateCommand") {
        remaining.singleWrites -= 1;
        injected.singleWrites += 1;
        throw new TransactionConflictException({
          message: "Operation was rejected because there is an ongoing transaction for the item.",
          $metadata: { httpStatusCode: 400 },
        });
      }
    }
    return documents.send(command as never);
  };
  const client = new Proxy(documents, {
    get: (target, property, receiver) =>
      property === "send" ? send : Reflect.get(target, property, receiver),
  });
  return { client, injected };
}

describe("state store: transaction conflicts (issue 16 item 6)", () => {
  let resources: TestResources;
  let real: StateStore;
  const shopId = "shop-conflicts";

  beforeEach(async () => {
    resources = await createTestResources({ label: "conflicts" });
    real = new StateStore({
      documents: resources.documents,
      tableName: resources.stateTable,
      clock: systemClock,
    });
  });
  afterEach(() => resources.destroy());

  function storeWith(plan: ConflictPlan) {
    const { client, injected } = withConflicts(resources.documents, plan);
    const store = new StateStore({ documents: client, tableName: resources.stateTable, clock: systemClock });
    return { store, injected };
  }

  async function leaseUntil(): Promise<number | undefined> {
    const { Item } = await resources.documents.send(
      new GetCommand({
        TableName: resources.stateTable,
        Key: { pk: `SHOP#${shopId}`, sk: "LOCK" },
        ConsistentRead: true,
      }),
    );
    return Item?.leaseUntil as number | undefined;
  }

  it("a real lost lock (DynamoDB Local's ConditionalCheckFailed on the lock) is still a LockLostError", async () => {
    expect(await real.acquireLock(shopId, "thief", 60_000)).toBe(true);
    await expect(
      real.checkpoint(shopId, "victim", 60_000, { runId: "victim", position: 10, windowEnd: 20 }),
    ).rejects.toBeInstanceOf(LockLostError);
    expect(await real.getCheckpoint(shopId)).toBeUndefined();
  });

  it("a conflicting checkpoint is retried and lands, with the lease renewed", async () => {
    expect(await real.acquireLock(shopId, "run-1", 1_000)).toBe(true);
    const before = await leaseUntil();
    const { store, injected } = storeWith({ transactions: 2 });
    await store.checkpoint(shopId, "run-1", 60_000, { runId: "run-1", position: 42, windowEnd: 50 });
    expect(injected.transactions).toBe(2);
    expect(await real.getCheckpoint(shopId)).toMatchObject({ runId: "run-1", position: 42, windowEnd: 50 });
    expect(await leaseUntil()).toBeGreaterThan((before ?? 0) + 30_000);
  });

  it("a run completed through a conflict moves the cursor and releases the lock", async () => {
    expect(await real.acquireLock(shopId, "run-1", 60_000)).toBe(true);
    const { store } = storeWith({ transactions: 1 });
    const now = new Date().toISOString();
    await store.completeIncrementalRun(shopId, "run-1", {
      cursor: 1_000,
      recordsSynced: 0,
      lastRun: {
        run_id: "run-1",
        started_at: now,
        finished_at: now,
        window_start: 0,
        window_end: 1_000,
        api_calls: 1,
        successful_api_calls: 1,
        throttled_api_calls: 0,
        duration_ms: 1,
        inserted: 0,
        updated: 0,
        unchanged: 0,
        stale: 0,
        quarantined: 0,
        pages: 1,
      },
    });
    expect((await real.getMeta(shopId))?.cursor).toBe(1_000);
    expect(await leaseUntil()).toBeUndefined();
  });

  it("conflicts beyond the retry bound fail as conflicts, never as a lost lock", async () => {
    expect(await real.acquireLock(shopId, "run-1", 60_000)).toBe(true);
    const { store } = storeWith({ transactions: 1_000 });
    const attempt = store.checkpoint(shopId, "run-1", 60_000, { runId: "run-1", position: 1, windowEnd: 2 });
    await expect(attempt).rejects.toThrow(/conflict/i);
    await expect(attempt).rejects.not.toBeInstanceOf(LockLostError);
  });

  it("taking and releasing the lock retry a conflict with an ongoing transaction", async () => {
    const { store, injected } = storeWith({ singleWrites: 2 });
    expect(await store.acquireLock(shopId, "run-1", 60_000)).toBe(true);
    expect(injected.singleWrites).toBe(2);
    const release = storeWith({ singleWrites: 1 });
    await release.store.releaseLock(shopId, "run-1");
    expect(release.injected.singleWrites).toBe(1);
    expect(await leaseUntil()).toBeUndefined();
  });
});

describe("incremental sync through a transaction conflict (issue 16 item 6)", () => {
  let harness: SyncHarness;
  afterEach(async () => {
    await harness?.close();
  });

  it("a checkpoint that meets a conflict does not discard the run: it completes and moves the cursor", async () => {
    harness = await startSyncHarness({
      label: "conflict-run",
      emulator: { shops: [{ id: "shop-1", orders: 150 }] },
    });
    await harness.runtime.state.setCursorIfMissing(harness.shopId, 0);
    const shop = await harness.runtime.shops.open(harness.shopId);
    const { client } = withConflicts(harness.resources.documents, { transactions: 1 });
    const state = new StateStore({
      documents: client,
      tableName: harness.resources.stateTable,
      clock: harness.clock,
    });
    const outcome = await runIncrementalSync({ ...harness.runtime.incrementalDeps(shop), state }, shop.ref);
    expect(outcome.status).toBe("completed");
    const meta = await harness.runtime.state.getMeta(harness.shopId);
    expect(meta?.cursor).toBe(outcome.status === "completed" ? outcome.lastRun.window_end : -1);
    // The lock is free: the next tick runs at once instead of waiting out the lease.
    expect(await harness.runtime.state.acquireLock(harness.shopId, "next-tick", 60_000)).toBe(true);
  });
});
