/**
 * `npm run bench:encoding`: how to store the `order` attribute and what the indexes should copy (issue 17),
 * measured on DynamoDB Local with the emulator's orders (the bench's shop, seed 2026).
 *
 * Part 1, for each encoding of the order (Map, JSON string, gzip, brotli, deflate with the frozen
 * dictionary) and index shape (the definition's keys + summary, keys only, ALL): item size by DynamoDB's
 * rules (so write units on AWS: 1 per KB, each index entry its own), DynamoDB Local's own consumed
 * capacity, and the write rate of conditional PutItem (the store's rule-5 condition, 25 in flight) into
 * a fresh table as the local stack provisions it (no stream: DynamoDB Local's stream slows every later
 * write, see infra/local/provision.ts; on AWS a stream costs writes nothing), plus our CPU to encode
 * and decode.
 * Part 2, what each write asks back, on the chosen shape: an update pass with ReturnValues ALL_OLD
 * against NONE, and the pre-read BatchGetItem with its projection against whole items.
 *
 * Each figure is the median of --rounds passes, after a warm-up pass (a fresh DynamoDB Local is a cold
 * JVM). The tool writes docs/encoding.md itself (--out to change, --no-write to only print).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

import { writeFileSync } from "node:fs";
import os from "node:os";
import { resolve } from "node:path";
import { CreateTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
  PutCommand,
} from "@aws-sdk/lib-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { startDynamoDbLocal } from "../infra/local/emulators";
import { createTableInput, projectionInput } from "../infra/local/provision";
import { startTikTokEmulator } from "../infra/local/tiktok-emulator";
import { createDocumentClient, createDynamoDbClient } from "../shared/aws-clients";
import { chunk, mapWithConcurrency } from "../shared/concurrency";
import { isInvalidOrder, type NormalizedOrder, normalizeOrder } from "../shared/orders/normalize";
import {
  DEFAULT_ORDER_ENCODING,
  decodeOrder,
  encodeOrder,
  ORDER_ENCODINGS,
  type OrderEncoding,
} from "../shared/orders/stored-order";
import { ORDERS_TABLE } from "../shared/resources";
import { storedItem } from "../shared/store/order-store";
import { parseCli, usageError } from "./cli";
import { SHOP_ID } from "./fixtures";
import { diffDynamoCounts, itemBytes, meterDynamoDb } from "./instrument";
import { PRICES } from "./prices";
import { dropTables } from "./store-floor";

const USAGE = `npm run bench:encoding -- [options]
  --orders N       orders written per measurement (default 3000)
  --rounds N       passes per measurement; the median is reported (default 3)
  --concurrency N  PutItem requests in flight (default 25, as one page of the store)
  --out PATH       the docs page written (default docs/encoding.md)
  --no-write       print only`;

/** The bench's default run, for the cost line. */
const FULL_RESYNC_ORDERS = 283_300;

type IndexShape = "summary" | "keys" | "all";

const SHAPE_LABEL: Record<IndexShape, string> = {
  summary: "keys + summary",
  keys: "keys only",
  all: "ALL (before issue 17)",
};

interface Settings {
  readonly orders: number;
  readonly rounds: number;
  readonly concurrency: number;
  readonly out: string | undefined;
}

function parseSettings(): Settings {
  const { values } = parseCli(
    {
      options: {
        orders: { type: "string", default: "3000" },
        rounds: { type: "string", default: "3" },
        concurrency: { type: "string", default: "25" },
        out: { type: "string", default: "docs/encoding.md" },
        "no-write": { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    },
    USAGE,
  );
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const positive = (name: string, text: string) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) usageError(`--${name} must be a positive integer`, USAGE);
    return value;
  };
  return {
    orders: positive("orders", values.orders),
    rounds: positive("rounds", values.rounds),
    concurrency: positive("concurrency", values.concurrency),
    out: values["no-write"] ? undefined : values.out,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function percentile(values: readonly number[], share: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] as number;
}

let tableCounter = 0;

/** A fresh orders table as provisioned, its indexes' projection replaced by `shape`. */
async function createOrdersTable(dynamodb: DynamoDBClient, shape: IndexShape): Promise<string> {
  const input = createTableInput(ORDERS_TABLE, `enc-${process.pid}-${tableCounter++}`, { stream: false });
  const projection =
    shape === "all"
      ? { ProjectionType: "ALL" as const }
      : shape === "keys"
        ? projectionInput({ type: "KEYS_ONLY" })
        : undefined;
  await dynamodb.send(
    new CreateTableCommand({
      ...input,
      GlobalSecondaryIndexes: input.GlobalSecondaryIndexes?.map((index) => ({
        ...index,
        ...(projection ? { Projection: projection } : {}),
      })),
    }),
  );
  return input.TableName as string;
}

const WRITE_CONDITION =
  "attribute_not_exists(shopId) OR updateTime < :updateTime OR " +
  "(updateTime = :updateTime AND contentHash <> :contentHash AND fetchedAt < :fetchedAt)";

/** The store's conditional PutItem of every item, `concurrency` in flight; orders per second. */
async function putAll(
  documents: DynamoDBDocumentClient,
  tableName: string,
  items: readonly Record<string, unknown>[],
  concurrency: number,
  returnValues: "NONE" | "ALL_OLD",
): Promise<number> {
  const started = performance.now();
  await mapWithConcurrency(items, concurrency, (item) =>
    documents.send(
      new PutCommand({
        TableName: tableName,
        Item: item,
        ConditionExpression: WRITE_CONDITION,
        ExpressionAttributeValues: {
          ":updateTime": item.updateTime,
          ":contentHash": item.contentHash,
          ":fetchedAt": item.fetchedAt,
        },
        ReturnValues: returnValues,
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    ),
  );
  return items.length / ((performance.now() - started) / 1000);
}

/** BatchGetItem of every key, 100 a request, pages one after another as the store reads; orders/s. */
async function readAll(
  documents: DynamoDBDocumentClient,
  tableName: string,
  orders: readonly NormalizedOrder[],
  projection: string | undefined,
): Promise<number> {
  const started = performance.now();
  for (const page of chunk(orders, 100)) {
    let keys: Record<string, unknown>[] | undefined = page.map((order) => ({
      shopId: SHOP_ID,
      orderId: order.orderId,
    }));
    while (keys && keys.length > 0) {
      const response: BatchGetCommandOutput = await documents.send(
        new BatchGetCommand({
          RequestItems: {
            [tableName]: { Keys: keys, ...(projection ? { ProjectionExpression: projection } : {}) },
          },
        }),
      );
      keys = response.UnprocessedKeys?.[tableName]?.Keys;
    }
  }
  return orders.length / ((performance.now() - started) / 1000);
}

interface EncodingRow {
  readonly encoding: OrderEncoding;
  readonly shape: IndexShape;
  readonly meanBytes: number;
  readonly p95Bytes: number;
  readonly maxBytes: number;
  /** Base table write units per order on AWS (1 per KB, rounded up per item). */
  readonly baseUnits: number;
  /** Write units per order DynamoDB Local reported, indexes included. */
  readonly totalUnits: number;
  readonly putsPerSecond: number;
  readonly encodeMicros: number;
  readonly decodeMicros: number;
}

function timeMicros(orders: readonly NormalizedOrder[], work: (order: NormalizedOrder) => unknown): number {
  const started = performance.now();
  for (const order of orders) work(order);
  return ((performance.now() - started) * 1000) / Math.max(1, orders.length);
}

interface EncodingCase {
  readonly encoding: OrderEncoding;
  readonly shape: IndexShape;
  readonly items: readonly Record<string, unknown>[];
  readonly sizes: readonly number[];
  readonly encodeMicros: number;
  readonly decodeMicros: number;
  readonly rates: number[];
  readonly units: number[];
}

function prepareCase(
  orders: readonly NormalizedOrder[],
  encoding: OrderEncoding,
  shape: IndexShape,
): EncodingCase {
  const fetchedAt = Date.now();
  const encodeMicros = timeMicros(orders, (order) => encodeOrder(order.order, encoding));
  const items = orders.map((order) => storedItem(SHOP_ID, order, fetchedAt, { encoding }));
  const started = performance.now();
  for (const item of items) decodeOrder(item.order);
  const decodeMicros = ((performance.now() - started) * 1000) / Math.max(1, items.length);
  const sizes = items.map((item) => itemBytes(marshall(item, { removeUndefinedValues: true })));
  return { encoding, shape, items, sizes, encodeMicros, decodeMicros, rates: [], units: [] };
}

/** One pass of a case: a fresh table, every item written, then the table dropped. */
async function measureRound(
  dynamodb: DynamoDBClient,
  documents: DynamoDBDocumentClient,
  meter: ReturnType<typeof meterDynamoDb>,
  setTable: (name: string) => void,
  measured: EncodingCase,
  settings: Settings,
): Promise<void> {
  const tableName = await createOrdersTable(dynamodb, measured.shape);
  setTable(tableName);
  const before = structuredClone(meter);
  measured.rates.push(await putAll(documents, tableName, measured.items, settings.concurrency, "NONE"));
  measured.units.push(diffDynamoCounts(meter, before).orderWriteUnits / measured.items.length);
  await dropTables(dynamodb, [tableName]);
}

function summarize(measured: EncodingCase): EncodingRow {
  const { sizes } = measured;
  return {
    encoding: measured.encoding,
    shape: measured.shape,
    meanBytes: sizes.reduce((total, size) => total + size, 0) / sizes.length,
    p95Bytes: percentile(sizes, 0.95),
    maxBytes: Math.max(...sizes),
    baseUnits: sizes.reduce((total, size) => total + Math.ceil(size / 1024), 0) / sizes.length,
    totalUnits: median(measured.units),
    putsPerSecond: median(measured.rates),
    encodeMicros: measured.encodeMicros,
    decodeMicros: measured.decodeMicros,
  };
}

interface PerWriteRow {
  readonly what: string;
  readonly variant: string;
  readonly rate: number;
}

async function measurePerWrite(
  dynamodb: DynamoDBClient,
  documents: DynamoDBDocumentClient,
  orders: readonly NormalizedOrder[],
  settings: Settings,
): Promise<PerWriteRow[]> {
  const fetchedAt = Date.now();
  const first = orders.map((order) => storedItem(SHOP_ID, order, fetchedAt));
  // The same orders one second newer: every conditional write succeeds and replaces an item.
  const newer = orders.map((order) =>
    storedItem(SHOP_ID, { ...order, updateTime: order.updateTime + 1 }, fetchedAt + 1),
  );
  const rates = {
    ALL_OLD: [] as number[],
    NONE: [] as number[],
    projected: [] as number[],
    whole: [] as number[],
  };
  for (let round = 0; round < settings.rounds; round += 1) {
    for (const returnValues of ["ALL_OLD", "NONE"] as const) {
      const tableName = await createOrdersTable(dynamodb, "summary");
      await putAll(documents, tableName, first, settings.concurrency, "NONE");
      rates[returnValues].push(await putAll(documents, tableName, newer, settings.concurrency, returnValues));
      if (returnValues === "NONE") {
        rates.projected.push(
          await readAll(documents, tableName, orders, "orderId, updateTime, contentHash, fetchedAt"),
        );
        rates.whole.push(await readAll(documents, tableName, orders, undefined));
      }
      await dropTables(dynamodb, [tableName]);
    }
  }
  return [
    {
      what: "update (PutItem replacing an item)",
      variant: "ReturnValues ALL_OLD (before)",
      rate: median(rates.ALL_OLD),
    },
    { what: "", variant: "ReturnValues NONE (now, when the pre-read decided)", rate: median(rates.NONE) },
    { what: "pre-read (BatchGetItem, 100 keys)", variant: "whole items", rate: median(rates.whole) },
    { what: "", variant: "projection of the 4 version attributes (kept)", rate: median(rates.projected) },
  ];
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(" | ")} |`;
  return [
    line(header),
    `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

const fmt = (value: number, digits = 0) =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main() {
  const settings = parseSettings();
  const loadAtStart = os.loadavg()[0] ?? 0;
  const emulator = await startTikTokEmulator({
    seed: 2026,
    shops: [{ id: SHOP_ID, orders: settings.orders }],
    log: () => {},
  });
  const orders = emulator
    .truth(SHOP_ID)
    .map((raw) => normalizeOrder(raw, { storeRecipientData: true }))
    .filter((order): order is NormalizedOrder => !isInvalidOrder(order));
  await emulator.stop();
  const dynamo = await startDynamoDbLocal();
  const dynamodb = createDynamoDbClient({ dynamodbEndpoint: dynamo.endpoint });
  const documents = createDocumentClient(dynamodb);
  let currentTable: string | undefined;
  const meter = meterDynamoDb(dynamodb, () => currentTable);
  const setTable = (name: string) => {
    currentTable = name;
  };
  const say = (text: string) => process.stdout.write(`${text}\n`);
  try {
    say(`DynamoDB Local ${dynamo.endpoint}; ${fmt(orders.length)} orders; ${settings.rounds} rounds each`);
    // Warm-up: a cold JVM is slow for its first thousands of requests.
    const warm = await createOrdersTable(dynamodb, "summary");
    await putAll(
      documents,
      warm,
      orders.map((order) => storedItem(SHOP_ID, order, 1)),
      settings.concurrency,
      "NONE",
    );
    await dropTables(dynamodb, [warm]);

    const cases: [OrderEncoding, IndexShape][] = [
      ["map", "all"],
      ...ORDER_ENCODINGS.map((encoding): [OrderEncoding, IndexShape] => [encoding, "summary"]),
      [DEFAULT_ORDER_ENCODING, "keys"],
      [DEFAULT_ORDER_ENCODING, "all"],
    ];
    const prepared = cases.map(([encoding, shape]) => prepareCase(orders, encoding, shape));
    // Round-robin over the cases, so a drift of the machine or of DynamoDB Local hits them all alike.
    for (let round = 0; round < settings.rounds; round += 1) {
      for (const measured of prepared) {
        await measureRound(dynamodb, documents, meter, setTable, measured, settings);
      }
      say(`  round ${round + 1} of ${settings.rounds} done`);
    }
    const rows = prepared.map(summarize);
    for (const row of rows) {
      say(
        `  ${row.encoding.padEnd(16)} ${SHAPE_LABEL[row.shape].padEnd(22)} ${fmt(row.meanBytes).padStart(6)} B  ` +
          `${fmt(row.totalUnits, 2)} WRU/order  ${fmt(row.putsPerSecond).padStart(6)} PutItem/s`,
      );
    }
    const perWrite = await measurePerWrite(dynamodb, documents, orders, settings);
    for (const row of perWrite) say(`  ${row.variant.padEnd(52)} ${fmt(row.rate)} orders/s`);

    const chosen = rows.find((row) => row.encoding === DEFAULT_ORDER_ENCODING && row.shape === "summary");
    const summaryRows = rows.filter((row) => row.shape === "summary");
    const fastest = summaryRows.reduce((best, row) => (row.putsPerSecond > best.putsPerSecond ? row : best));
    const cheapest = summaryRows.reduce((best, row) => (row.totalUnits < best.totalUnits ? row : best));
    const before = rows.find((row) => row.encoding === "map" && row.shape === "all");
    const cost = (row: EncodingRow) => row.totalUnits * FULL_RESYNC_ORDERS * PRICES.dynamodbWriteRequestUnit;

    const command = `npm run bench:encoding -- --orders ${settings.orders} --rounds ${settings.rounds} --concurrency ${settings.concurrency}`;
    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    const page = [
      "# Storing the order: encoding and index shape (measured)",
      "",
      "Written by `npm run bench:encoding` (bench/encoding.ts); do not edit by hand, run it again.",
      "",
      `- Command: \`${command}\``,
      `- Machine: ${cpu}, ${os.cpus().length} cores, Node ${process.version}, load average ${loadAtStart.toFixed(2)} at the start; ${new Date().toISOString().slice(0, 10)}.`,
      `- Data: the emulator's orders of the bench's shop (seed 2026), ${fmt(orders.length)} orders, ${fmt(
        orders.reduce((total, order) => total + Buffer.byteLength(JSON.stringify(order.order)), 0) /
          orders.length,
      )} bytes of JSON each on average.`,
      `- Writes: conditional PutItem (the store's rule-5 condition), ${settings.concurrency} in flight, into a fresh table`,
      "  without the stream, as the local stack provisions it (DynamoDB Local's stream slows every later write;",
      "  on AWS it costs writes nothing); DynamoDB Local in memory, warmed up first. Median of the rounds.",
      "- Item bytes by DynamoDB's rules (attribute names and values); write units per order as DynamoDB Local",
      "  reports them (base table plus one entry per index; AWS bills the same: 1 WRU per KB of each).",
      "",
      "## Encodings and index shapes",
      "",
      table(
        [
          "order encoding",
          "indexes",
          "item bytes (mean / p95 / max)",
          "base WRU",
          "WRU/order",
          "PutItem/s",
          "encode µs",
          "decode µs",
          `AWS writes, ${fmt(FULL_RESYNC_ORDERS)} orders`,
        ],
        rows.map((row) => [
          row === chosen ? `**${row.encoding}** (chosen)` : row.encoding,
          SHAPE_LABEL[row.shape],
          `${fmt(row.meanBytes)} / ${fmt(row.p95Bytes)} / ${fmt(row.maxBytes)}`,
          fmt(row.baseUnits, 2),
          fmt(row.totalUnits, 2),
          fmt(row.putsPerSecond),
          fmt(row.encodeMicros),
          fmt(row.decodeMicros),
          `$${fmt(cost(row), 3)}`,
        ]),
      ),
      "",
      `With the summary indexes: fastest \`${fastest.encoding}\` (${fmt(fastest.putsPerSecond)} PutItem/s), fewest write units \`${cheapest.encoding}\` (${fmt(cheapest.totalUnits, 2)} per order).` +
        (chosen && before
          ? ` Against the shape before issue 17 (Map, ALL indexes): ${fmt(chosen.putsPerSecond / before.putsPerSecond, 1)}× the write rate, ${fmt(before.totalUnits / chosen.totalUnits, 1)}× fewer write units.`
          : ""),
      "",
      ...choice(chosen, rows),
      "## What each write asks back (the chosen encoding and indexes)",
      "",
      table(
        ["request", "variant", "orders/s"],
        perWrite.map((row) => [row.what, row.variant, fmt(row.rate)]),
      ),
      "",
    ].join("\n");
    if (settings.out) {
      const path = resolve(settings.out);
      writeFileSync(path, page);
      say(`written to ${path}`);
    } else {
      say(page);
    }
  } finally {
    dynamodb.destroy();
    await dynamo.stop();
  }
}

/**
 * The choice and why, from this run's figures: the written encoding (DEFAULT_ORDER_ENCODING) with the
 * definition's indexes (keys + summary) against the other encodings on the same indexes, and the index
 * shapes against each other for that encoding.
 */
function choice(chosen: EncodingRow | undefined, rows: readonly EncodingRow[]): string[] {
  if (!chosen) return [];
  const sameShape = rows.filter((row) => row.shape === chosen.shape && row !== chosen);
  const map = rows.find((row) => row.encoding === "map" && row.shape === chosen.shape);
  const json = rows.find((row) => row.encoding === "json" && row.shape === chosen.shape);
  const rank = (key: (row: EncodingRow) => number, descending: boolean) =>
    1 + sameShape.filter((row) => (descending ? key(row) > key(chosen) : key(row) < key(chosen))).length;
  const keysOnly = rows.find((row) => row.encoding === chosen.encoding && row.shape === "keys");
  const all = rows.find((row) => row.encoding === chosen.encoding && row.shape === "all");
  const lines = [
    "",
    "## The choice",
    "",
    `Written: \`${chosen.encoding}\` with indexes projecting ${SHAPE_LABEL[chosen.shape]}. On those indexes it ranks ` +
      `#${rank((row) => row.totalUnits, false)} of ${sameShape.length + 1} encodings by write units ` +
      `(${fmt(chosen.totalUnits, 2)} per order, ${fmt(chosen.meanBytes)} B items) and ` +
      `#${rank((row) => row.putsPerSecond, true)} by write rate (${fmt(chosen.putsPerSecond)} PutItem/s).`,
  ];
  if (map && json) {
    lines.push(
      "",
      `- Against a Map (${fmt(map.totalUnits, 2)} WRU/order, ${fmt(map.putsPerSecond)} PutItem/s) and a JSON string ` +
        `(${fmt(json.totalUnits, 2)}, ${fmt(json.putsPerSecond)}/s): write units are what AWS bills for every ` +
        "order of every full resync, and an item under 1 KB is one unit whatever else changes; the rate is what a " +
        "local first sync waits on.",
    );
  }
  lines.push(
    `- Its CPU: ${fmt(chosen.encodeMicros)} µs to encode and ${fmt(chosen.decodeMicros)} µs to decode an order.`,
    "- The dictionary is frozen (shared/orders/order-dictionary.ts): a new one takes a new tag byte, and " +
      "`readStoredOrder` keeps reading every encoding ever written (Map items of existing tables included).",
  );
  if (keysOnly && all) {
    lines.push(
      `- Indexes: keys only cost ${fmt(keysOnly.totalUnits, 2)} WRU/order, keys + summary ` +
        `${fmt(chosen.totalUnits, 2)}, ALL ${fmt(all.totalUnits, 2)}: the summary (status, total, currency, line ` +
        "count) lets a dashboard list orders from one Query without reading each order, for a few bytes per index entry.",
    );
  }
  lines.push("");
  return lines;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
