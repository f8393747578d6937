/**
 * Creates the product's tables and queues on local endpoints from the single definition in
 * shared/resources.ts. Idempotent: existing tables and queues keep their data; an existing table's index
 * whose projection differs from the definition is rebuilt (see createTables).
 */

import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  type Projection,
  ResourceInUseException,
  type TableDescription,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { AwsEndpoints } from "../../shared/aws-clients";
import {
  type IndexProjection,
  type KeyDefinition,
  physicalName,
  QUEUES,
  type QueueDefinition,
  TABLES,
  type TableDefinition,
} from "../../shared/resources";

/** The CreateTable/UpdateTable form of an index's projection. */
export function projectionInput(projection: IndexProjection): Projection {
  return projection.type === "KEYS_ONLY"
    ? { ProjectionType: "KEYS_ONLY" }
    : { ProjectionType: "INCLUDE", NonKeyAttributes: [...projection.nonKeyAttributes] };
}

export function createTableInput(
  table: TableDefinition,
  namespace: string,
  options: { readonly stream?: boolean } = {},
): CreateTableCommandInput {
  const attributes = new Map<string, KeyDefinition>();
  for (const key of [table.partitionKey, table.sortKey]) attributes.set(key.name, key);
  for (const index of table.globalSecondaryIndexes) {
    for (const key of [index.partitionKey, index.sortKey]) attributes.set(key.name, key);
  }
  const attributeDefinitions: AttributeDefinition[] = [...attributes.values()].map((key) => ({
    AttributeName: key.name,
    AttributeType: key.type,
  }));
  return {
    TableName: physicalName(namespace, table.id),
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: attributeDefinitions,
    KeySchema: [
      { AttributeName: table.partitionKey.name, KeyType: "HASH" },
      { AttributeName: table.sortKey.name, KeyType: "RANGE" },
    ],
    ...(table.globalSecondaryIndexes.length > 0
      ? {
          GlobalSecondaryIndexes: table.globalSecondaryIndexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: [
              { AttributeName: index.partitionKey.name, KeyType: "HASH" },
              { AttributeName: index.sortKey.name, KeyType: "RANGE" },
            ],
            Projection: projectionInput(index.projection),
          })),
        }
      : {}),
    ...(table.stream && (options.stream ?? true)
      ? { StreamSpecification: { StreamEnabled: true, StreamViewType: table.stream } }
      : {}),
  };
}

export interface LocalTableNames {
  readonly ordersTable: string;
  readonly stateTable: string;
}

/** An index of an existing table rebuilt because its projection differed from the definition. */
export interface IndexMigration {
  readonly tableName: string;
  readonly indexName: string;
  /** The projection found, e.g. `ALL`, and the one it now has, e.g. `INCLUDE(status, …)`. */
  readonly from: string;
  readonly to: string;
  readonly ms: number;
}

export interface CreateTablesOptions {
  /** Told before an index of an existing table is rebuilt (it can take a while on a big table). */
  readonly onIndexMigration?: (migration: Omit<IndexMigration, "ms">) => void;
  /** Longest wait for one index to be deleted or built (default 30 minutes). */
  readonly indexTimeoutMs?: number;
  /**
   * Whether tables the definition gives a stream (orders, NEW_IMAGE) get it here too. Default off:
   * nothing reads the stream on a laptop, and DynamoDB Local's stream emulation keeps every record in
   * its one SQLite store and makes each later write slower as they pile up (measured with 5,000 orders:
   * conditional upserts 303 → 82 orders/s by the second load with the stream, 386 → 811 without; see
   * docs/benchmark). On AWS the stream is always on (infra/stack.ts), and writes do not pay for it.
   * Turn it on (`LOCAL_ORDERS_STREAM=true` for `npm start`) to develop a stream consumer locally. An
   * existing table is switched to the requested setting, keeping its data.
   */
  readonly streams?: boolean;
}

function describeProjection(projection: Projection | undefined): string {
  const type = projection?.ProjectionType ?? "ALL";
  return type === "INCLUDE" ? `INCLUDE(${(projection?.NonKeyAttributes ?? []).join(", ")})` : type;
}

function sameProjection(found: Projection | undefined, wanted: IndexProjection): boolean {
  const expected = projectionInput(wanted);
  if ((found?.ProjectionType ?? "ALL") !== expected.ProjectionType) return false;
  const names = (list: readonly string[] | undefined) => [...(list ?? [])].sort().join("\u0000");
  return names(found?.NonKeyAttributes) === names(expected.NonKeyAttributes);
}

/**
 * Creates the tables that are missing. An existing table keeps its data; an index of it whose
 * projection differs from the definition (an orders table made before indexes stopped projecting ALL)
 * is rebuilt: deleted, then created again with the defined projection — DynamoDB cannot change a
 * projection in place, and takes one index create or delete per UpdateTable. Missing indexes are
 * created the same way.
 */
export async function createTables(
  client: DynamoDBClient,
  namespace: string,
  options: CreateTablesOptions = {},
): Promise<LocalTableNames & { readonly migrated: readonly IndexMigration[] }> {
  const migrated: IndexMigration[] = [];
  const streams = options.streams ?? false;
  for (const table of TABLES) {
    const input = createTableInput(table, namespace, { stream: streams });
    let existed = false;
    try {
      await client.send(new CreateTableCommand(input));
      if (table.timeToLiveAttribute) {
        await client.send(
          new UpdateTimeToLiveCommand({
            TableName: input.TableName,
            TimeToLiveSpecification: { AttributeName: table.timeToLiveAttribute, Enabled: true },
          }),
        );
      }
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
      existed = true;
    }
    const { Table } = await client.send(new DescribeTableCommand({ TableName: input.TableName }));
    if (existed) {
      migrated.push(...(await migrateIndexes(client, table, input, Table, options)));
      await matchStream(client, input, Table);
    }
  }
  return {
    ordersTable: physicalName(namespace, "orders"),
    stateTable: physicalName(namespace, "state"),
    migrated,
  };
}

async function migrateIndexes(
  client: DynamoDBClient,
  table: TableDefinition,
  input: CreateTableCommandInput,
  described: TableDescription | undefined,
  options: CreateTablesOptions,
): Promise<IndexMigration[]> {
  const tableName = input.TableName as string;
  const timeoutMs = options.indexTimeoutMs ?? 30 * 60_000;
  const migrations: IndexMigration[] = [];
  for (const index of table.globalSecondaryIndexes) {
    const found = described?.GlobalSecondaryIndexes?.find((gsi) => gsi.IndexName === index.indexName);
    if (found && sameProjection(found.Projection, index.projection)) continue;
    const migration = {
      tableName,
      indexName: index.indexName,
      from: found ? describeProjection(found.Projection) : "missing",
      to: describeProjection(projectionInput(index.projection)),
    };
    options.onIndexMigration?.(migration);
    const started = performance.now();
    if (found) {
      await client.send(
        new UpdateTableCommand({
          TableName: tableName,
          GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: index.indexName } }],
        }),
      );
      await waitForIndex(client, tableName, index.indexName, "gone", timeoutMs);
    }
    const keys = [index.partitionKey, index.sortKey];
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: keys.map((key) => ({ AttributeName: key.name, AttributeType: key.type })),
        GlobalSecondaryIndexUpdates: [
          {
            Create: {
              IndexName: index.indexName,
              KeySchema: [
                { AttributeName: index.partitionKey.name, KeyType: "HASH" },
                { AttributeName: index.sortKey.name, KeyType: "RANGE" },
              ],
              Projection: projectionInput(index.projection),
            },
          },
        ],
      }),
    );
    await waitForIndex(client, tableName, index.indexName, "ACTIVE", timeoutMs);
    migrations.push({ ...migration, ms: performance.now() - started });
  }
  return migrations;
}

/** Turns an existing table's stream on or off to match `input` (the data stays). */
async function matchStream(
  client: DynamoDBClient,
  input: CreateTableCommandInput,
  described: TableDescription | undefined,
): Promise<void> {
  const wanted = input.StreamSpecification;
  const found = described?.StreamSpecification?.StreamEnabled ? described.StreamSpecification : undefined;
  if (found?.StreamViewType === wanted?.StreamViewType) return;
  if (found) {
    await client.send(
      new UpdateTableCommand({ TableName: input.TableName, StreamSpecification: { StreamEnabled: false } }),
    );
  }
  if (wanted)
    await client.send(new UpdateTableCommand({ TableName: input.TableName, StreamSpecification: wanted }));
}

async function waitForIndex(
  client: DynamoDBClient,
  tableName: string,
  indexName: string,
  state: "gone" | "ACTIVE",
  timeoutMs: number,
): Promise<void> {
  const started = Date.now();
  for (let delay = 50; ; delay = Math.min(2_000, delay * 2)) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const index = Table?.GlobalSecondaryIndexes?.find((gsi) => gsi.IndexName === indexName);
    if (state === "gone" ? !index : index?.IndexStatus === "ACTIVE" && !index.Backfilling) return;
    if (Date.now() - started > timeoutMs) {
      throw new Error(`index ${indexName} of ${tableName} is not ${state} after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

export interface LocalQueueUrls {
  readonly workQueueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly webhookQueueUrl: string;
  readonly webhookDeadLetterQueueUrl: string;
}

export interface QueueOverrides {
  /** Tests shorten the visibility timeout so redelivery happens within seconds. */
  readonly visibilityTimeoutSeconds?: number;
  readonly maxReceiveCount?: number;
  /** The same for the webhook queue (its own, so a test can shorten one without the other). */
  readonly webhookVisibilityTimeoutSeconds?: number;
}

async function createQueue(
  client: SQSClient,
  namespace: string,
  queue: QueueDefinition,
  arns: Map<string, string>,
  overrides: QueueOverrides,
): Promise<string> {
  const attributes: Record<string, string> = {
    VisibilityTimeout: String(
      (queue.id === "webhook"
        ? overrides.webhookVisibilityTimeoutSeconds
        : overrides.visibilityTimeoutSeconds) ?? queue.visibilityTimeoutSeconds,
    ),
    MessageRetentionPeriod: String(queue.messageRetentionSeconds),
  };
  if (queue.deadLetterQueueId) {
    attributes.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: arns.get(queue.deadLetterQueueId),
      maxReceiveCount: overrides.maxReceiveCount ?? queue.maxReceiveCount,
    });
  }
  const created = await client.send(
    new CreateQueueCommand({ QueueName: physicalName(namespace, queue.id), Attributes: attributes }),
  );
  const url = created.QueueUrl as string;
  const described = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
  );
  arns.set(queue.id, described.Attributes?.QueueArn as string);
  return url;
}

export async function createQueues(
  client: SQSClient,
  namespace: string,
  overrides: QueueOverrides = {},
): Promise<LocalQueueUrls> {
  const arns = new Map<string, string>();
  const urls = new Map<string, string>();
  for (const queue of QUEUES)
    urls.set(queue.id, await createQueue(client, namespace, queue, arns, overrides));
  return {
    workQueueUrl: urls.get("work") as string,
    deadLetterQueueUrl: urls.get("work-dlq") as string,
    webhookQueueUrl: urls.get("webhook") as string,
    webhookDeadLetterQueueUrl: urls.get("webhook-dlq") as string,
  };
}

/**
 * The product's resource configuration for provisioned local tables and queues: what CDK binds each
 * function to on AWS, bound to the local stand-ins here (npm start, the bench, the chaos suite, tests).
 */
export function localResourceEnv(
  resources: Pick<LocalTableNames, "ordersTable" | "stateTable"> &
    Pick<LocalQueueUrls, "workQueueUrl" | "deadLetterQueueUrl"> &
    Partial<Pick<LocalQueueUrls, "webhookQueueUrl">>,
  endpoints: Pick<AwsEndpoints, "dynamodbEndpoint" | "sqsEndpoint"> = {},
): Record<string, string> {
  return {
    ORDERS_TABLE_NAME: resources.ordersTable,
    STATE_TABLE_NAME: resources.stateTable,
    WORK_QUEUE_URL: resources.workQueueUrl,
    DEAD_LETTER_QUEUE_URL: resources.deadLetterQueueUrl,
    ...(resources.webhookQueueUrl ? { WEBHOOK_QUEUE_URL: resources.webhookQueueUrl } : {}),
    ...(endpoints.dynamodbEndpoint ? { DYNAMODB_ENDPOINT: endpoints.dynamodbEndpoint } : {}),
    ...(endpoints.sqsEndpoint ? { SQS_ENDPOINT: endpoints.sqsEndpoint } : {}),
  };
}

/** The configuration that points the product at a TikTok emulator: its API and auth hosts, its app. */
export function emulatorEnv(emulator: {
  readonly baseUrl: string;
  readonly authBaseUrl: string;
  readonly appKey: string;
  readonly appSecret: string;
}): Record<string, string> {
  return {
    TIKTOK_API_BASE_URL: emulator.baseUrl,
    TIKTOK_AUTH_BASE_URL: emulator.authBaseUrl,
    TIKTOK_APP_KEY: emulator.appKey,
    TIKTOK_APP_SECRET: emulator.appSecret,
  };
}
