/**
 * Per-test access to the run's DynamoDB Local and SQS emulator: fresh, uniquely named tables and
 * queues for each caller, built from the same definitions as the CDK stack.
 */
import { randomUUID } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createQueues, createTables, type QueueOverrides } from "../../infra/local/provision";
import { createDocumentClient, createDynamoDbClient, createSqsClient } from "../../shared/aws-clients";

export function testEndpoints() {
  const dynamodbEndpoint = process.env.TEST_DYNAMODB_ENDPOINT;
  const sqsEndpoint = process.env.TEST_SQS_ENDPOINT;
  if (!dynamodbEndpoint || !sqsEndpoint) {
    throw new Error("TEST_DYNAMODB_ENDPOINT / TEST_SQS_ENDPOINT unset: run through jest (global setup)");
  }
  return { dynamodbEndpoint, sqsEndpoint };
}

export interface TestResources {
  readonly namespace: string;
  readonly dynamodb: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly ordersTable: string;
  readonly stateTable: string;
  readonly workQueueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly webhookQueueUrl: string;
  readonly webhookDeadLetterQueueUrl: string;
  destroy(): void;
}

export function uniqueNamespace(label = "t"): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

export async function createTestResources(
  options: { label?: string; queues?: QueueOverrides } = {},
): Promise<TestResources> {
  const endpoints = testEndpoints();
  const namespace = uniqueNamespace(options.label);
  const dynamodb = createDynamoDbClient(endpoints);
  const sqs = createSqsClient(endpoints);
  const tables = await createTables(dynamodb, namespace);
  const queues = await createQueues(sqs, namespace, options.queues);
  return {
    namespace,
    dynamodb,
    documents: createDocumentClient(dynamodb),
    sqs,
    ...tables,
    ...queues,
    destroy: () => {
      dynamodb.destroy();
      sqs.destroy();
    },
  };
}
