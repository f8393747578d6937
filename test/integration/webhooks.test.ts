/**
 * Push (issue 18) end to end against the emulator: TikTok's signed webhooks over real HTTP to the local
 * receiver route, the webhook queue on the SQS emulator, the consumer under the local poller with the
 * deployed batching window, Get Order Detail over HTTP, DynamoDB Local. No tick runs unless a test runs
 * one (ticks "far apart"): whatever reaches DynamoDB came by push.
 */
import { signWebhook } from "../../shared/tiktok/signing";
import { WebhookType } from "../../shared/webhooks/events";
import { type PushHarness, startPushHarness } from "../support/push-harness";
import { snapshotTables } from "../support/table-snapshot";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("TikTok webhooks → DynamoDB (push)", () => {
  let push: PushHarness;
  let orderIds: string[];

  beforeAll(async () => {
    push = await startPushHarness({ env: { SYNC_SETTLE_SECONDS: "0" } });
    await push.seedStoredOrders();
    orderIds = push.emulator.truthSummary(push.shopId).map((order) => order.id);
  }, 60_000);
  afterAll(() => push?.close());

  /** Waits until the order is stored at least at `updateTime`; returns when that was seen (epoch ms). */
  const storedAt = (orderId: string, updateTime: number) =>
    waitFor(`order ${orderId} at ${updateTime}`, async () => {
      const item = await push.storedOrder(orderId);
      return item && item.updateTime >= updateTime ? Date.now() : undefined;
    });

  it("brings 20 changed orders to DynamoDB within 5 s each, in few detail calls", async () => {
    push.webhooks();
    // A warm consumer, as in steady state (its first pass pays for the token, connections, …).
    const [warmUp] = push.emulator.mutate({ orderIds: [orderIds[99] as string], shopId: push.shopId });
    await storedAt(warmUp?.id ?? "", warmUp?.update_time ?? 0);
    // The batch's figures are written after its orders: wait for the warm-up's before counting on.
    const before = await waitFor("the warm-up's push figures", async () => {
      const figures = await push.pushStats.get(push.shopId);
      return (figures?.events ?? 0) >= 1 ? figures : undefined;
    });
    const eventsBefore = before.events;
    const callsBefore = push.detailCalls();
    const picked = orderIds.slice(0, 20);
    const changes: { id: string; updateTime: number; at: number }[] = [];
    for (const id of picked) {
      const [changed] = push.emulator.mutate({ orderIds: [id], shopId: push.shopId });
      changes.push({ id, updateTime: changed?.update_time ?? 0, at: Date.now() });
      await sleep(40);
    }
    // One observer reads every pending order in one consistent BatchGetItem every 50 ms (not one poller
    // per order: twenty pollers would load the DynamoDB Local the consumer writes to).
    const seenAt = new Map<string, number>();
    await waitFor("the 20 changed orders in DynamoDB", async () => {
      const pending = changes.filter((change) => !seenAt.has(change.id));
      const stored = await push.storedUpdateTimes(pending.map((change) => change.id));
      const now = Date.now();
      for (const change of pending) {
        if ((stored.get(change.id) ?? -1) >= change.updateTime) seenAt.set(change.id, now);
      }
      return seenAt.size === changes.length ? true : undefined;
    });
    const lags = changes.map((change) => (seenAt.get(change.id) ?? Number.POSITIVE_INFINITY) - change.at);
    for (const [index, lag] of lags.entries()) {
      expect({ order: changes[index]?.id, withinFiveSeconds: lag <= 5_000 }).toEqual({
        order: changes[index]?.id,
        withinFiveSeconds: true,
      });
    }
    // Coalesced: the 20 orders came in a handful of Get Order Detail calls (batching window 1 s).
    const calls = push.detailCalls() - callsBefore;
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThanOrEqual(6);
    // The batch's figures are written after its orders: wait for them.
    const status = await waitFor("the push figures", async () => {
      const figures = await push.pushStats.get(push.shopId);
      return (figures?.events ?? 0) >= eventsBefore + 20 ? figures : undefined;
    });
    expect(status).toMatchObject({
      events: eventsBefore + 20,
      orders_refreshed: before.orders_refreshed + 20,
    });
    expect(status?.lag_p95_ms).toBeGreaterThan(0);
    expect(status?.lag_p95_ms).toBeLessThanOrEqual(6_000);
  }, 30_000);

  it("a forged or missing signature changes nothing and queues nothing", async () => {
    await push.emulator.webhooksIdle();
    await waitFor("an empty webhook queue", async () =>
      (await push.webhookQueueDepth()) === 0 ? true : undefined,
    );
    const tables = [push.resources.ordersTable, push.resources.stateTable];
    const before = await snapshotTables(push.resources.documents, tables);
    const rejectedBefore = push.metrics.sum("WebhookRejected");
    const body = JSON.stringify({
      type: WebhookType.sellerDeauthorization,
      tts_notification_id: "forged-1",
      shop_id: push.shopId,
      timestamp: push.emulator.now(),
      data: {},
    });
    const forgeries: Record<string, string>[] = [
      {},
      { authorization: signWebhook(push.emulator.appKey, "not-the-secret", body) },
      { authorization: signWebhook("another-app", push.emulator.appSecret, body) },
      { authorization: signWebhook(push.emulator.appKey, push.emulator.appSecret, `${body} `) },
      { authorization: "sha256=deadbeef" },
    ];
    for (const headers of forgeries) {
      const answer = await push.postWebhook(body, headers);
      expect(answer).toEqual({
        status: 401,
        body: { error: { code: "invalid_signature", message: expect.any(String) } },
      });
    }
    expect(push.metrics.sum("WebhookRejected") - rejectedBefore).toBe(forgeries.length);
    // A genuine event after them (for a shop not synced: it only bumps a counter), waited for until the
    // consumer took it: anything the forgeries had queued before it would have been taken by then.
    const ignoredBefore = (await push.pushStats.summary())?.unknown_shop_events ?? 0;
    const sentinel = JSON.stringify({
      type: WebhookType.orderStatusChange,
      tts_notification_id: "sentinel-1",
      shop_id: "7490000000000008888",
      timestamp: push.emulator.now(),
      data: { order_id: "576000000000000002" },
    });
    const genuine = await push.postWebhook(sentinel, {
      authorization: signWebhook(push.emulator.appKey, push.emulator.appSecret, sentinel),
    });
    expect(genuine.status).toBe(200);
    await waitFor("the genuine event to be consumed", async () =>
      ((await push.pushStats.summary())?.unknown_shop_events ?? 0) > ignoredBefore ? true : undefined,
    );
    expect(await push.webhookQueueDepth()).toBe(0);
    expect(withoutWebhookCounters(await snapshotTables(push.resources.documents, tables))).toEqual(
      withoutWebhookCounters(before),
    );
  });

  it("a replayed, late webhook never regresses an order and costs no TikTok call", async () => {
    push.webhooks();
    const id = orderIds[30] as string;
    const seqBefore = push.emulator.webhookDeliveries().at(-1)?.seq ?? 0;
    const [first] = push.emulator.mutate({ orderIds: [id], shopId: push.shopId });
    await storedAt(id, first?.update_time ?? 0);
    const old = push.emulator.webhookDeliveries(seqBefore).find((delivery) => delivery.orderId === id);
    if (!old) throw new Error("the emulator sent no webhook for the change");
    // A later change, stamped a few seconds on.
    push.advance(3);
    const [second] = push.emulator.mutate({ orderIds: [id], shopId: push.shopId });
    await storedAt(id, second?.update_time ?? 0);
    await push.emulator.webhooksIdle();
    const eventsBefore = (await push.pushStats.get(push.shopId))?.events ?? 0;
    const callsBefore = push.detailCalls();
    // The old delivery, replayed byte for byte (its signature is valid): accepted, and harmless.
    const replay = await push.postWebhook(old.body, { authorization: old.signature });
    expect(replay.status).toBe(200);
    await waitFor("the replay to be consumed", async () =>
      ((await push.pushStats.get(push.shopId))?.events ?? 0) > eventsBefore ? true : undefined,
    );
    expect(await push.storedOrder(id)).toMatchObject({
      updateTime: second?.update_time,
      status: second?.status,
    });
    expect(push.detailCalls()).toBe(callsBefore);
  });

  it("duplicated deliveries store each order once, correctly", async () => {
    push.webhooks({ duplicateRate: 1 });
    const picked = orderIds.slice(40, 45);
    const changed = push.emulator.mutate({ orderIds: picked, shopId: push.shopId });
    for (const order of changed) await storedAt(order.id, order.update_time);
    await push.emulator.webhooksIdle();
    const sent = push.emulator
      .webhookDeliveries()
      .filter((delivery) => picked.includes(delivery.orderId ?? ""));
    expect(sent.filter((delivery) => delivery.duplicate).length).toBeGreaterThanOrEqual(picked.length);
    for (const order of changed) {
      expect(await push.storedOrder(order.id)).toMatchObject({
        updateTime: order.update_time,
        status: order.status,
      });
    }
  });

  it("out-of-order events: the newer one first, the older one after, the order stays current", async () => {
    push.webhooks({ dropRate: 1 });
    const id = orderIds[50] as string;
    const [older] = push.emulator.mutate({ orderIds: [id], shopId: push.shopId });
    push.advance(2);
    const [newer] = push.emulator.mutate({ orderIds: [id], shopId: push.shopId });
    const event = (order: typeof older) => ({
      type: WebhookType.orderStatusChange,
      shopId: push.shopId,
      data: { order_id: id, order_status: order?.status, update_time: order?.update_time },
    });
    push.emulator.sendWebhook(event(newer));
    await storedAt(id, newer?.update_time ?? 0);
    const callsBefore = push.detailCalls();
    const eventsBefore = (await push.pushStats.get(push.shopId))?.events ?? 0;
    push.emulator.sendWebhook(event(older));
    await waitFor("the older event to be consumed", async () =>
      ((await push.pushStats.get(push.shopId))?.events ?? 0) > eventsBefore ? true : undefined,
    );
    expect(await push.storedOrder(id)).toMatchObject({
      updateTime: newer?.update_time,
      status: newer?.status,
    });
    // Already stored newer than the older event says: not even a detail call.
    expect(push.detailCalls()).toBe(callsBefore);
  });

  it("a dropped webhook costs minutes, not data: the next tick stores the change", async () => {
    push.webhooks({ dropRate: 1 });
    const id = orderIds[60] as string;
    await push.runtime.state.setCursorIfMissing(push.shopId, push.emulator.now() - 60);
    const [changed] = push.emulator.mutate({ orderIds: [id], shopId: push.shopId });
    await push.emulator.webhooksIdle();
    expect(
      push.emulator
        .webhookDeliveries()
        .filter((d) => d.orderId === id)
        .at(-1)?.status,
    ).toBe("dropped");
    // Never sent, so nothing can have stored it: only the tick can.
    expect((await push.storedOrder(id))?.updateTime).toBeLessThan(changed?.update_time ?? 0);
    push.advance(1);
    expect((await push.runtime.incremental(push.shopId)).status).toBe("completed");
    expect(await push.storedOrder(id)).toMatchObject({ updateTime: changed?.update_time });
  });

  it("events for a shop this deployment does not sync: 200, counted, ignored", async () => {
    const before = await push.pushStats.summary();
    push.emulator.sendWebhook({
      type: WebhookType.orderStatusChange,
      shopId: "7490000000000009999",
      data: { order_id: "576000000000000001", update_time: push.emulator.now() },
    });
    await push.emulator.webhooksIdle();
    expect(push.emulator.webhookDeliveries().at(-1)?.status).toBe(200);
    const summary = await waitFor("the unknown shop to be counted", async () => {
      const now = await push.pushStats.summary();
      return (now?.unknown_shop_events ?? 0) > (before?.unknown_shop_events ?? 0) ? now : undefined;
    });
    expect(summary.last_unknown_shop_id).toBe("7490000000000009999");
  });
});

/** A table snapshot without the deployment-wide webhook counters (pk WEBHOOKS). */
function withoutWebhookCounters(snapshot: Record<string, string[]>): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(snapshot).map(([table, items]) => [
      table,
      items.filter((item) => (JSON.parse(item) as { pk?: unknown }).pk !== "WEBHOOKS"),
    ]),
  );
}
