/**
 * AWS on-demand list prices the benchmark's cost estimate uses: one place, with their date. us-east-1,
 * as published on the AWS pricing pages; check them again before quoting a figure.
 */
export const PRICES = {
  /** When these figures were taken from the AWS pricing pages. */
  asOf: "2026-11-25",
  region: "us-east-1",
  /** DynamoDB on-demand, per write request unit (1 KB; transactional writes take 2), since Nov 2024. */
  dynamodbWriteRequestUnit: 0.625 / 1_000_000,
  /** DynamoDB on-demand, per read request unit (4 KB strongly consistent, or two eventually consistent). */
  dynamodbReadRequestUnit: 0.125 / 1_000_000,
  /** SQS standard queue, per request (each 64 KB chunk of a payload), after the free tier. */
  sqsRequest: 0.4 / 1_000_000,
  /** Lambda on arm64 (Graviton), per GB-second of billed duration. */
  lambdaArmGbSecond: 0.0000133334,
  /** Lambda, per invocation. */
  lambdaRequest: 0.2 / 1_000_000,
} as const;

/** Memory of the deployed functions (infra/stack.ts): the worker has 1024 MB, the others 512 MB. */
export const LAMBDA_MEMORY_GB = { worker: 1, api: 0.5, tick: 0.5 } as const;
