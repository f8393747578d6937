/**
 * One DynamoDB Local and one SQS emulator for the whole test run. Their endpoints reach the test
 * workers through environment variables; each test namespaces its own tables and queues.
 */
import { startLocalAws } from "../../infra/local/emulators";

export default async function globalSetup(): Promise<void> {
  const aws = await startLocalAws();
  process.env.TEST_DYNAMODB_ENDPOINT = aws.dynamodb.endpoint;
  process.env.TEST_SQS_ENDPOINT = aws.sqs.endpoint;
  (globalThis as { __localAws?: typeof aws }).__localAws = aws;
}
