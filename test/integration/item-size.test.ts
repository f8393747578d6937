/**
 * The item-size estimate (shared/store/item-size.ts) against DynamoDB Local's own 400 KB check: for
 * growing items of several shapes, the largest one the estimate lets through must be stored, and not
 * much smaller than the largest DynamoDB Local accepts (issue 16 item 4).
 */
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { startTikTokEmulator, type TikTokEmulator } from "../../infra/local/tiktok-emulator";
import { normalizeOrder } from "../../shared/orders/normalize";
import type { OrderEncoding } from "../../shared/orders/stored-order";
import { isItemTooLargeError, itemBytes, MAX_ITEM_BYTES } from "../../shared/store/item-size";
import { storedItem } from "../../shared/store/order-store";
import { createTestResources, type TestResources } from "../support/local-aws";

jest.setTimeout(120_000);

let resources: TestResources;
let emulator: TikTokEmulator;
beforeAll(async () => {
  resources = await createTestResources({ label: "itemsize" });
  emulator = await startTikTokEmulator({ seed: 3, shops: [{ id: "s", orders: 3 }], log: () => {} });
});
afterAll(async () => {
  resources.destroy();
  await emulator.stop();
});

async function accepted(item: Record<string, unknown>): Promise<boolean> {
  try {
    await resources.documents.send(new PutCommand({ TableName: resources.ordersTable, Item: item }));
    return true;
  } catch (error) {
    if (isItemTooLargeError(error)) return false;
    throw error;
  }
}

/** Largest n in [low, high] for which `fits(n)` holds (`fits` is monotone, true at low). */
async function largest(low: number, high: number, fits: (n: number) => boolean | Promise<boolean>) {
  let good = low;
  let bad = high + 1;
  while (bad - good > 1) {
    const middle = Math.floor((good + bad) / 2);
    if (await fits(middle)) good = middle;
    else bad = middle;
  }
  return good;
}

/**
 * The same as `largest`, for an answer expected near `low`: steps of 1, 2, 4, … up from low until one
 * does not fit, then bisection between. DynamoDB Local's bound, searched from the estimate's, takes 2
 * puts when they agree where bisecting [low, high] takes ~15 puts of items near 400 KB (seconds each
 * for a list of 17,000 maps).
 */
async function largestNear(low: number, high: number, fits: (n: number) => boolean | Promise<boolean>) {
  let good = low;
  for (let step = 1; good + step <= high; step *= 2) {
    if (!(await fits(good + step))) return largest(good, good + step - 1, fits);
    good += step;
  }
  return largest(good, high, fits);
}

const key = (n: number) => ({ shopId: "shape", orderId: `n${n}` });

const SHAPES: readonly [string, number, (n: number) => Record<string, unknown>][] = [
  ["a flat string", 420_000, (n) => ({ ...key(n), pad: "x".repeat(n) })],
  [
    "multi-byte text",
    200_000,
    (n) => ({ ...key(n), text: "é€".repeat(Math.floor(n / 2)) + "é".repeat(n % 2) }),
  ],
  [
    "numbers of every magnitude and sign",
    200_000,
    (n) => ({
      ...key(n),
      values: Array.from(
        { length: n },
        (_, index) => ((index * 7919.25) % 1_000_003) * 10 ** ((index % 13) - 4) * (index % 3 === 0 ? -1 : 1),
      ),
    }),
  ],
  [
    "a list of small maps",
    30_000,
    (n) => ({
      ...key(n),
      rows: Array.from({ length: n }, (_, index) => ({
        id: index,
        ok: index % 2 === 0,
        note: null,
        s: "ab",
      })),
    }),
  ],
];

it.each(SHAPES)(
  "%s: what the estimate lets through is stored, and little more would be",
  async (_, high, make) => {
    const byEstimate = await largest(1, high, (n) => itemBytes(make(n)) <= MAX_ITEM_BYTES);
    expect(byEstimate).toBeLessThan(high);
    expect(await accepted(make(byEstimate))).toBe(true);
    // DynamoDB Local's own bound, searched from the estimate's (stored, just above) up to 10% past it.
    const ceiling = Math.ceil(byEstimate * 1.1);
    const byDynamo = await largestNear(byEstimate, ceiling, (n) => accepted(make(n)));
    expect(byDynamo).toBeLessThan(ceiling);
    expect(byEstimate).toBeLessThanOrEqual(byDynamo);
    expect(byEstimate).toBeGreaterThanOrEqual(byDynamo * 0.99);
    console.info(`${_}: DynamoDB Local stores n = ${byDynamo}, the estimate allows ${byEstimate}`);
  },
);

/**
 * An order's item as the store writes it (compressed: the bound lies near 16,000 line items) and as it
 * wrote orders before issue 17 (a Map: near 700). `low` fits and `high` does not, by the estimate.
 */
const ORDER_ENCODINGS_CHECKED: readonly [OrderEncoding, number, number][] = [
  ["deflate-dict-v1", 8_000, 24_000],
  ["map", 1, 3_000],
];

it.each(ORDER_ENCODINGS_CHECKED)(
  "an order's item (%s): the estimate's bound is within 1%% of DynamoDB Local's, on the safe side",
  async (encoding, low, high) => {
    const orderId = emulator.truthSummary("s")[0]?.id as string;
    const itemWith = (lineItems: number) => {
      emulator.oversizeOrders({ orderIds: [orderId], lineItems });
      const order = normalizeOrder(
        emulator.truth("s").find((candidate) => candidate.id === orderId),
        { storeRecipientData: true },
      );
      if ("quarantineId" in order) throw new Error(order.reason);
      return storedItem(`order-${encoding}-${lineItems}`, order, Date.now(), { encoding });
    };
    expect(itemBytes(itemWith(low))).toBeLessThanOrEqual(MAX_ITEM_BYTES);
    const byEstimate = await largest(low, high, (n) => itemBytes(itemWith(n)) <= MAX_ITEM_BYTES);
    expect(byEstimate).toBeLessThan(high);
    expect(await accepted(itemWith(byEstimate))).toBe(true);
    // DynamoDB Local's own bound, searched from the estimate's (stored, just above).
    const byDynamo = await largestNear(byEstimate, high, (n) => accepted(itemWith(n)));
    expect(byDynamo).toBeLessThan(high);
    expect(byEstimate).toBeLessThanOrEqual(byDynamo);
    expect(byEstimate).toBeGreaterThanOrEqual(byDynamo * 0.99);
    console.info(
      `order item (${encoding}): DynamoDB Local stores up to ${byDynamo} line items, the estimate allows ${byEstimate}`,
    );
  },
);
