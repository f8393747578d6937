/**
 * A recording AWS endpoint for one function: every AWS API request the function's SDK clients send
 * goes through it, is recorded (service, operation, input) and is forwarded to the local emulator that
 * serves it (DynamoDB Local, the SQS emulator). Secrets Manager has no local emulator: GetSecretValue of
 * the one configured secret is answered here, over the same AWS JSON protocol the real service speaks,
 * so the product's real code path (Powertools' getSecret and its own SDK client) runs unchanged.
 *
 * Recording on the wire rather than inside the SDK sees every client a function builds — its own and
 * those libraries build for it — and exactly the operations IAM authorizes: one request, one
 * `X-Amz-Target` operation, whatever the client or the command class was called.
 */
import { randomUUID } from "node:crypto";
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type AwsService = "dynamodb" | "sqs" | "secretsmanager";

export interface RecordedAwsCall {
  readonly service: AwsService;
  /** The API operation, e.g. `TransactWriteItems`, `SendMessageBatch`, `GetSecretValue`. */
  readonly operation: string;
  readonly input: Record<string, unknown>;
}

export interface FakeSecret {
  readonly arn: string;
  readonly value: string;
}

export interface RecordingAwsEndpoint {
  /** `http://127.0.0.1:<port>`: the function's DYNAMODB_ENDPOINT, SQS_ENDPOINT and Secrets Manager endpoint. */
  readonly url: string;
  readonly calls: readonly RecordedAwsCall[];
  /** Requests that were not AWS JSON-protocol calls of a known service (always a test failure). */
  readonly unrecognized: readonly string[];
  close(): Promise<void>;
}

/** `X-Amz-Target` prefixes of the AWS JSON protocols the product's clients speak. */
const TARGET_PREFIXES: Readonly<Record<string, AwsService>> = {
  DynamoDB_20120810: "dynamodb",
  AmazonSQS: "sqs",
  secretsmanager: "secretsmanager",
};

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

function forward(upstream: string, request: IncomingMessage, body: Buffer, response: ServerResponse) {
  const target = new URL(request.url ?? "/", upstream);
  return new Promise<void>((resolve, reject) => {
    const outgoing = httpRequest(
      target,
      { method: request.method, headers: { ...request.headers, host: target.host } },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("error", reject);
        answer.on("end", () => {
          const payload = Buffer.concat(chunks);
          const headers = { ...answer.headers };
          // Re-framed here: the body is sent whole with its own length.
          delete headers["transfer-encoding"];
          delete headers.connection;
          headers["content-length"] = String(payload.length);
          response.writeHead(answer.statusCode ?? 502, headers);
          response.end(payload);
          resolve();
        });
      },
    );
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

function answerJson(response: ServerResponse, status: number, body: unknown) {
  const payload = Buffer.from(JSON.stringify(body));
  response.writeHead(status, {
    "content-type": "application/x-amz-json-1.1",
    "content-length": String(payload.length),
    "x-amzn-requestid": randomUUID(),
  });
  response.end(payload);
}

function answerSecretsManager(
  response: ServerResponse,
  operation: string,
  input: Record<string, unknown>,
  secret: FakeSecret,
) {
  if (operation !== "GetSecretValue") {
    answerJson(response, 400, {
      __type: "InvalidRequestException",
      message: `${operation} is not served here`,
    });
    return;
  }
  if (input.SecretId !== secret.arn) {
    answerJson(response, 400, {
      __type: "ResourceNotFoundException",
      message: "Secrets Manager can't find the specified secret.",
    });
    return;
  }
  answerJson(response, 200, {
    ARN: secret.arn,
    Name: secret.arn.split(":").at(-1),
    SecretString: secret.value,
    VersionId: "00000000-0000-0000-0000-000000000001",
    VersionStages: ["AWSCURRENT"],
    CreatedDate: 1_700_000_000,
  });
}

export async function startRecordingAwsEndpoint(options: {
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
  readonly secret: FakeSecret;
}): Promise<RecordingAwsEndpoint> {
  const calls: RecordedAwsCall[] = [];
  const unrecognized: string[] = [];
  const upstreams: Readonly<Record<"dynamodb" | "sqs", string>> = {
    dynamodb: options.dynamodbEndpoint,
    sqs: options.sqsEndpoint,
  };
  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const header = request.headers["x-amz-target"];
      const [prefix, operation] = (typeof header === "string" ? header : "").split(".");
      const service = prefix ? TARGET_PREFIXES[prefix] : undefined;
      if (!service || !operation) {
        unrecognized.push(`${request.method} ${request.url} (X-Amz-Target: ${String(header)})`);
        answerJson(response, 400, { __type: "UnknownOperationException", message: "not an AWS JSON call" });
        return;
      }
      const input = body.length > 0 ? (JSON.parse(body.toString("utf8")) as Record<string, unknown>) : {};
      calls.push({ service, operation, input });
      if (service === "secretsmanager") answerSecretsManager(response, operation, input, options.secret);
      else await forward(upstreams[service], request, body, response);
    })().catch((error: unknown) => {
      unrecognized.push(`failed to serve ${request.url}: ${String(error)}`);
      if (!response.headersSent)
        answerJson(response, 500, { __type: "InternalFailure", message: String(error) });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    unrecognized,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
