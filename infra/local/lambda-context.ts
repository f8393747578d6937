/**
 * A Lambda-like Context for the local twins (SQS poller, HTTP server, scheduler): the same timeout as
 * the deployed function, so `getRemainingTimeInMillis()` — and every deadline derived from it —
 * behaves on a laptop as it does on AWS. Nothing is killed when it runs out: the local stack only
 * reports an overrun (see the poller), the code itself must stop in time.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "aws-lambda";

export function localLambdaContext(functionName: string, timeoutMs: number, now = Date.now): Context {
  const deadline = now() + timeoutMs;
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: "1024",
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${requestId}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
