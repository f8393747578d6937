/**
 * `npm run bench:upsert`: measures the order store's conditional-upsert strategies on DynamoDB Local
 * (DESIGN rule 5), for a first load (all new), a re-read of unchanged orders (a full resync over a synced
 * table) and a load where a tenth changed. Prints orders/s and PutItem requests per order.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

import { BatchExecuteStatementCommand, BatchStatementErrorCodeEnum } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { startDynamoDbLocal } from "../infra/local/emulators";
import { createTables } from "../infra/local/provision";
import { createDocumentClient, createDynamoDbClient } from "../shared/aws-clients";
import { chunk } from "../shared/concurrency";
import { type NormalizedOrder, normalizeOrder } from "../shared/orders/normalize";
import { OrderStore, type UpsertStrategy } from "../shared/store/order-store";
import { parseCli, usageError } from "./cli";

const USAGE = `Usage: npm run bench:upsert [-- <orders>]

  <orders>   orders per scenario (default 3000)`;

/** The one (optional) argument: orders per scenario. */
function ordersPerScenario(argv: readonly string[]): number {
  const parsed = parseCli(
    { args: [...argv], options: { help: { type: "boolean", short: "h" } }, allowPositionals: true },
    USAGE,
  );
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const [raw = "3000", ...extra] = parsed.positionals;
  if (extra.length > 0)
    usageError(`one argument at most (orders per scenario), got ${parsed.positionals.join(" ")}`, USAGE);
  const orders = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(orders) || orders < 1) {
    usageError(`orders per scenario must be a positive whole number, got "${raw}"`, USAGE);
  }
  return orders;
}

const ORDERS = ordersPerScenario(process.argv.slice(2));

function makeOrders(count: number, version: number, changedEvery = 1): NormalizedOrder[] {
  return Array.from({ length: count }, (_, n) => {
    const changed = n % changedEvery === 0;
    const raw = {
      id: `order-${n}`,
      status: changed && version > 0 ? "IN_TRANSIT" : "AWAITING_SHIPMENT",
      create_time: 1_700_000_000 + n,
      update_time: 1_700_000_000 + n + (changed ? version * 1000 : 0),
      payment: { currency: "USD", total_amount: "42.50" },
      line_items: [{ id: `li-${n}`, product_name: "A product with a realistic name", sale_price: "42.50" }],
      recipient_address: { name: "Someone", full_address: "1 Main Street, Springfield" },
    };
    return normalizeOrder(raw, { storeRecipientData: true }) as NormalizedOrder;
  });
}

/** PartiQL's two-step upsert: INSERT everything, then a conditional UPDATE for the duplicates. */
async function partiqlUpsert(
  client: ReturnType<typeof createDynamoDbClient>,
  table: string,
  orders: NormalizedOrder[],
) {
  let statements = 0;
  for (const page of chunk(orders, 25)) {
    const inserted = await client.send(
      new BatchExecuteStatementCommand({
        Statements: page.map((order) => ({
          Statement: `INSERT INTO "${table}" VALUE {'shopId': ?, 'orderId': ?, 'updateTime': ?, 'contentHash': ?, 'order': ?}`,
          Parameters: [
            { S: "shop" },
            { S: order.orderId },
            { N: String(order.updateTime) },
            { S: order.contentHash },
            { M: marshall(order.order, { removeUndefinedValues: true }) },
          ],
        })),
      }),
    );
    statements += page.length;
    const duplicates = page.filter(
      (_, index) => inserted.Responses?.[index]?.Error?.Code === BatchStatementErrorCodeEnum.DuplicateItem,
    );
    if (duplicates.length === 0) continue;
    await client.send(
      new BatchExecuteStatementCommand({
        Statements: duplicates.map((order) => ({
          Statement: `UPDATE "${table}" SET updateTime = ? SET contentHash = ? SET "order" = ? WHERE shopId = ? AND orderId = ? AND updateTime < ?`,
          Parameters: [
            { N: String(order.updateTime) },
            { S: order.contentHash },
            { M: marshall(order.order, { removeUndefinedValues: true }) },
            { S: "shop" },
            { S: order.orderId },
            { N: String(order.updateTime) },
          ],
        })),
      }),
    );
    statements += duplicates.length;
  }
  return statements;
}

async function main() {
  const dynamo = await startDynamoDbLocal();
  const client = createDynamoDbClient({ dynamodbEndpoint: dynamo.endpoint });
  const documents = createDocumentClient(client);
  const rows: string[][] = [];
  try {
    const scenarios: [string, NormalizedOrder[]][] = [
      ["first load (all new)", makeOrders(ORDERS, 0)],
      ["re-read, nothing changed", makeOrders(ORDERS, 0)],
      ["re-read, 10% changed", makeOrders(ORDERS, 1, 10)],
    ];
    for (const strategy of ["read-then-write", "conditional-put", "partiql-two-step"] as const) {
      const { ordersTable } = await createTables(client, `bench-${strategy}`);
      const store = new OrderStore({
        documents,
        tableName: ordersTable,
        strategy: strategy as UpsertStrategy,
      });
      for (const [name, orders] of scenarios) {
        const started = performance.now();
        let writes = 0;
        if (strategy === "partiql-two-step") {
          writes = await partiqlUpsert(client, ordersTable, orders);
        } else {
          for (const page of chunk(orders, 100))
            writes += (await store.upsert("shop", page, Date.now())).writeRequests;
        }
        const seconds = (performance.now() - started) / 1000;
        rows.push([
          strategy,
          name,
          String(Math.round(orders.length / seconds)),
          (writes / orders.length).toFixed(2),
        ]);
      }
    }
  } finally {
    client.destroy();
    await dynamo.stop();
  }
  const header = ["strategy", "scenario", "orders/s", "write requests/order"];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ");
  process.stdout.write(`DynamoDB Local, ${ORDERS} orders per scenario, pages of 100\n${line(header)}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}

void main();
