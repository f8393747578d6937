/**
 * AWS SDK client factories. Nothing here is a singleton: callers build clients from config at cold
 * start and pass them down. Local endpoints (DynamoDB Local, the SQS emulator) get dummy credentials
 * and a region, so a laptop needs no AWS account.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

export const LOCAL_AWS_REGION = "us-east-1";
export const LOCAL_AWS_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" } as const;

export interface AwsEndpoints {
  /** Unset on AWS: the SDK's default endpoint, region and credentials chain are used. */
  readonly dynamodbEndpoint?: string | undefined;
  readonly sqsEndpoint?: string | undefined;
  readonly region?: string | undefined;
}

/**
 * Locally every worker lane shares one process and one client (on AWS each Lambda has its own), so
 * WORKER_CONCURRENCY × 25 parallel writes queue behind the sockets. The queue is wanted: with 512
 * sockets, 250 concurrent conditional PutItems made DynamoDB Local fail requests with "too long
 * waiting for a lock" (measured). Keep the SDK's 50 and silence its queueing warning.
 */
const LOCAL_REQUEST_HANDLER = {
  httpAgent: { keepAlive: true, maxSockets: 50 },
  socketAcquisitionWarningTimeout: 10 * 60_000,
};

function localOverrides(endpoint: string | undefined, region: string | undefined) {
  if (!endpoint) return region ? { region } : {};
  return {
    endpoint,
    region: region ?? LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
    requestHandler: LOCAL_REQUEST_HANDLER,
  };
}

export function createDynamoDbClient(endpoints: AwsEndpoints): DynamoDBClient {
  return new DynamoDBClient(localOverrides(endpoints.dynamodbEndpoint, endpoints.region));
}

export function createDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

export function createSqsClient(endpoints: AwsEndpoints): SQSClient {
  return new SQSClient(localOverrides(endpoints.sqsEndpoint, endpoints.region));
}
