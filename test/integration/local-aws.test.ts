/** The local AWS twins are real: tables from the shared definition, SQS with visibility and a DLQ. */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from "@aws-sdk/client-sqs";
import { GetCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { startDynamoDbLocal } from "../../infra/local/emulators";
import { createTableInput, createTables, type IndexMigration } from "../../infra/local/provision";
import { createDocumentClient, createDynamoDbClient } from "../../shared/aws-clients";
import { ORDERS_TABLE, STATE_TABLE } from "../../shared/resources";
import { createTestResources, type TestResources, uniqueNamespace } from "../support/local-aws";

let resources: TestResources;

beforeAll(async () => {
  resources = await createTestResources({ label: "localaws", queues: { maxReceiveCount: 2 } });
});
afterAll(() => resources.destroy());

describe("DynamoDB Local", () => {
  it("creates the orders table with the keys and GSIs of the shared definition, its stream off locally", async () => {
    const { Table } = await resources.dynamodb.send(
      new DescribeTableCommand({ TableName: resources.ordersTable }),
    );
    expect(Table?.KeySchema).toEqual([
      { AttributeName: ORDERS_TABLE.partitionKey.name, KeyType: "HASH" },
      { AttributeName: ORDERS_TABLE.sortKey.name, KeyType: "RANGE" },
    ]);
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual([
      "byCreateTime",
      "byUpdateTime",
    ]);
    expect(Table?.StreamSpecification?.StreamEnabled ?? false).toBe(false);
    expect(Table?.BillingModeSummary?.BillingMode).toBe("PAY_PER_REQUEST");
    const ttl = await resources.dynamodb.send(
      new DescribeTimeToLiveCommand({ TableName: resources.stateTable }),
    );
    expect(ttl.TimeToLiveDescription?.AttributeName).toBe(STATE_TABLE.timeToLiveAttribute);
  });

  it("projects keys plus the order summary into both indexes (the shared definition, never ALL)", async () => {
    const { Table } = await resources.dynamodb.send(
      new DescribeTableCommand({ TableName: resources.ordersTable }),
    );
    const indexes = Table?.GlobalSecondaryIndexes ?? [];
    expect(indexes).toHaveLength(2);
    for (const index of indexes) {
      expect(index.Projection?.ProjectionType).toBe("INCLUDE");
      expect([...(index.Projection?.NonKeyAttributes ?? [])].sort()).toEqual([
        "currency",
        "lineCount",
        "status",
        "totalAmount",
      ]);
    }
  });

  // On a DynamoDB Local of its own: an index build waits on the whole in-memory database, so beside the
  // suites writing multi-megabyte orders to the shared one it could take minutes (5 s alone).
  it("rebuilds the indexes of an orders table made before issue 17 (ALL), keeping its orders", async () => {
    const privateDb = await startDynamoDbLocal();
    const dynamodb = createDynamoDbClient({ dynamodbEndpoint: privateDb.endpoint });
    try {
      await rebuildsOldIndexes({ dynamodb, documents: createDocumentClient(dynamodb) });
    } finally {
      dynamodb.destroy();
      await privateDb.stop();
    }
  }, 120_000);

  async function rebuildsOldIndexes(resources: Pick<TestResources, "dynamodb" | "documents">) {
    const namespace = uniqueNamespace("migrate");
    const old = createTableInput(ORDERS_TABLE, namespace);
    await resources.dynamodb.send(
      new CreateTableCommand({
        ...old,
        GlobalSecondaryIndexes: old.GlobalSecondaryIndexes?.map((index) => ({
          ...index,
          Projection: { ProjectionType: "ALL" },
        })),
      }),
    );
    const legacy = {
      shopId: "shop-1",
      orderId: "o-1",
      status: "DELIVERED",
      createTime: 100,
      updateTime: 200,
      order: { id: "o-1", status: "DELIVERED", create_time: 100, update_time: 200 },
      contentHash: "h",
      fetchedAt: 1,
      syncedAt: "1970-01-01T00:00:00.001Z",
    };
    await resources.documents.send(new PutCommand({ TableName: old.TableName, Item: legacy }));
    const announced: Omit<IndexMigration, "ms">[] = [];
    const first = await createTables(resources.dynamodb, namespace, {
      onIndexMigration: (migration) => announced.push(migration),
    });
    expect(first.migrated.map((migration) => [migration.indexName, migration.from, migration.to])).toEqual([
      ["byCreateTime", "ALL", "INCLUDE(status, totalAmount, currency, lineCount)"],
      ["byUpdateTime", "ALL", "INCLUDE(status, totalAmount, currency, lineCount)"],
    ]);
    expect(announced.map((migration) => migration.indexName)).toEqual(["byCreateTime", "byUpdateTime"]);
    const { Table } = await resources.dynamodb.send(new DescribeTableCommand({ TableName: old.TableName }));
    for (const index of Table?.GlobalSecondaryIndexes ?? []) {
      expect(index.Projection?.ProjectionType).toBe("INCLUDE");
      expect(index.IndexStatus).toBe("ACTIVE");
    }
    // Made with the stream on (as before it was off locally): switched off, the order kept.
    expect(Table?.StreamSpecification?.StreamEnabled ?? false).toBe(false);
    // The order is still there, and the rebuilt index serves it with the summary only.
    const { Item } = await resources.documents.send(
      new GetCommand({ TableName: old.TableName, Key: { shopId: "shop-1", orderId: "o-1" } }),
    );
    expect(Item).toEqual(legacy);
    const byUpdate = await resources.documents.send(
      new QueryCommand({
        TableName: old.TableName,
        IndexName: "byUpdateTime",
        KeyConditionExpression: "shopId = :shop AND updateTime >= :since",
        ExpressionAttributeValues: { ":shop": "shop-1", ":since": 150 },
      }),
    );
    expect(byUpdate.Items).toEqual([
      { shopId: "shop-1", orderId: "o-1", updateTime: 200, status: "DELIVERED" },
    ]);
    // Once migrated, provisioning again changes nothing.
    expect((await createTables(resources.dynamodb, namespace)).migrated).toEqual([]);
  }

  it("gives the orders table its NEW_IMAGE stream when asked, and switches it off again keeping the data", async () => {
    const namespace = uniqueNamespace("stream");
    const { ordersTable } = await createTables(resources.dynamodb, namespace, { streams: true });
    const describe = async () =>
      (await resources.dynamodb.send(new DescribeTableCommand({ TableName: ordersTable }))).Table;
    expect((await describe())?.StreamSpecification).toEqual({
      StreamEnabled: true,
      StreamViewType: "NEW_IMAGE",
    });
    const item = { shopId: "shop-1", orderId: "o-1", updateTime: 1, createTime: 1 };
    await resources.documents.send(new PutCommand({ TableName: ordersTable, Item: item }));
    await createTables(resources.dynamodb, namespace);
    expect((await describe())?.StreamSpecification?.StreamEnabled ?? false).toBe(false);
    await createTables(resources.dynamodb, namespace, { streams: true });
    expect((await describe())?.StreamSpecification).toEqual({
      StreamEnabled: true,
      StreamViewType: "NEW_IMAGE",
    });
    const { Item } = await resources.documents.send(
      new GetCommand({ TableName: ordersTable, Key: { shopId: "shop-1", orderId: "o-1" } }),
    );
    expect(Item).toEqual(item);
  });

  it("stores and reads an item, and provisioning twice keeps the data", async () => {
    await resources.documents.send(
      new PutCommand({ TableName: resources.stateTable, Item: { pk: "SHOP#1", sk: "META", cursor: 42 } }),
    );
    await createTables(resources.dynamodb, resources.namespace);
    const { Item } = await resources.documents.send(
      new GetCommand({ TableName: resources.stateTable, Key: { pk: "SHOP#1", sk: "META" } }),
    );
    expect(Item?.cursor).toBe(42);
  });
});

describe("SQS emulator", () => {
  it("sends, receives and deletes in batches", async () => {
    const sent = await resources.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: resources.workQueueUrl,
        Entries: [0, 1, 2].map((n) => ({ Id: `m${n}`, MessageBody: JSON.stringify({ n }) })),
      }),
    );
    expect(sent.Successful).toHaveLength(3);
    const bodies: number[] = [];
    const handles: string[] = [];
    while (bodies.length < 3) {
      const received = await resources.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: resources.workQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      for (const message of received.Messages ?? []) {
        bodies.push((JSON.parse(message.Body as string) as { n: number }).n);
        handles.push(message.ReceiptHandle as string);
      }
    }
    expect(bodies.sort()).toEqual([0, 1, 2]);
    const deleted = await resources.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: resources.workQueueUrl,
        Entries: handles.map((handle, index) => ({ Id: `d${index}`, ReceiptHandle: handle })),
      }),
    );
    expect(deleted.Successful).toHaveLength(3);
    const after = await resources.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: resources.workQueueUrl, WaitTimeSeconds: 0 }),
    );
    expect(after.Messages ?? []).toHaveLength(0);
  });

  it("redrives a message to the DLQ after maxReceiveCount receives", async () => {
    await resources.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: resources.workQueueUrl,
        Entries: [{ Id: "poison", MessageBody: "poison" }],
      }),
    );
    // Receive it and hand it back at once (visibility 0) until SQS gives up on it.
    for (let receives = 0; receives < 2; ) {
      const received = await resources.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: resources.workQueueUrl, WaitTimeSeconds: 1 }),
      );
      for (const message of received.Messages ?? []) {
        receives += 1;
        await resources.sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: resources.workQueueUrl,
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: 0,
          }),
        );
      }
    }
    let deadLettered: string | undefined;
    for (let attempt = 0; attempt < 20 && !deadLettered; attempt += 1) {
      await resources.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: resources.workQueueUrl, WaitTimeSeconds: 0 }),
      );
      const dlq = await resources.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: resources.deadLetterQueueUrl, WaitTimeSeconds: 1 }),
      );
      deadLettered = dlq.Messages?.[0]?.Body;
    }
    expect(deadLettered).toBe("poison");
  });
});
