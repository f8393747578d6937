/**
 * Creates the product's tables and queues on local endpoints from the single definition in
 * shared/resources.ts. Idempotent: existing tables and queues are kept as they are.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import {
  type KeyDefinition,
  physicalName,
  QUEUES,
  type QueueDefinition,
  TABLES,
  type TableDefinition,
} from "../../shared/resources";

export function createTableInput(table: TableDefinition, namespace: string): CreateTableCommandInput {
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
            Projection: { ProjectionType: "ALL" },
          })),
        }
      : {}),
    ...(table.stream ? { StreamSpecification: { StreamEnabled: true, StreamViewType: table.stream } } : {}),
  };
}

export interface LocalTableNames {
  readonly ordersTable: string;
  readonly stateTable: string;
}

export async function createTables(client: DynamoDBClient, namespace: string): Promise<LocalTableNames> {
  for (const table of TABLES) {
    const input = createTableInput(table, namespace);
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
    }
    await client.send(new DescribeTableCommand({ TableName: input.TableName }));
  }
  return { ordersTable: physicalName(namespace, "orders"), stateTable: physicalName(namespace, "state") };
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
