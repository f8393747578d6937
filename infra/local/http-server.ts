/**
 * The local twin of API Gateway HTTP API: turns each Node HTTP request into an API Gateway v2 event and
 * feeds the same handler the Lambda runs, with a Lambda-like context of the API function's timeout
 * (API_TIMEOUT_SECONDS), so the routes — and their time budget — behave identically on a laptop.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { MAX_BODY_BYTES } from "../../shared/http/api";
import { API_TIMEOUT_SECONDS } from "../../shared/resources";
import { localLambdaContext } from "./lambda-context";

export type ApiEventHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** Bodies up to this size are buffered; the handler answers 413 itself past its own, smaller limit. */
const MAX_BUFFERED_BYTES = MAX_BODY_BYTES * 4;
/**
 * A larger body is read and dropped before the 413, so the keep-alive connection stays in step for the
 * next request; past this (API Gateway's own payload limit) it is not worth reading, and the 413 closes
 * the connection instead.
 */
const MAX_DRAINED_BYTES = 10 * 1024 * 1024;

type BodyRead =
  | { readonly kind: "body"; readonly text: string }
  /** `drained`: the whole body was read, so the connection can serve the next request. */
  | { readonly kind: "tooLarge"; readonly drained: boolean };

/** Never stops reading in the middle of a body it will keep the connection for. */
function readBody(request: IncomingMessage): Promise<BodyRead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BUFFERED_BYTES) chunks.push(chunk);
      else chunks.length = 0;
      if (size > MAX_DRAINED_BYTES) {
        request.off("data", onData);
        resolve({ kind: "tooLarge", drained: false });
      }
    };
    request.on("data", onData);
    request.on("end", () =>
      resolve(
        size > MAX_BUFFERED_BYTES
          ? { kind: "tooLarge", drained: true }
          : { kind: "body", text: Buffer.concat(chunks).toString("utf8") },
      ),
    );
    request.on("error", reject);
  });
}

export function toApiGatewayEvent(request: IncomingMessage, body: string): APIGatewayProxyEventV2 {
  const url = new URL(request.url ?? "/", "http://localhost");
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    // API Gateway joins repeated parameters with a comma.
    query[name] = name in query ? `${query[name]},${value}` : value;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(",") : value;
  }
  const method = (request.method ?? "GET").toUpperCase();
  const now = Date.now();
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ""),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(body.length > 0 ? { body } : {}),
    isBase64Encoded: false,
    requestContext: {
      accountId: "local",
      apiId: "local",
      domainName: headers.host ?? "localhost",
      domainPrefix: "local",
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
  };
}

export function startHttpApi(
  handler: ApiEventHandler,
  options: {
    port: number;
    host?: string;
    /** The context's remaining time per request (default API_TIMEOUT_SECONDS, as on AWS). */
    functionTimeoutMs?: number;
  },
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const timeoutMs = options.functionTimeoutMs ?? API_TIMEOUT_SECONDS * 1000;
  const server = createServer(async (request, response) => {
    let result: APIGatewayProxyStructuredResultV2;
    let closeConnection = false;
    try {
      const body = await readBody(request);
      if (body.kind === "tooLarge") {
        closeConnection = !body.drained;
        result = {
          statusCode: 413,
          body: JSON.stringify({
            error: { code: "body_too_large", message: `request body exceeds ${MAX_BODY_BYTES} bytes` },
          }),
        };
      } else {
        result = await handler(
          toApiGatewayEvent(request, body.text),
          localLambdaContext("local-api", timeoutMs),
        );
      }
    } catch {
      result = {
        statusCode: 500,
        body: JSON.stringify({ error: { code: "internal_error", message: "internal error" } }),
      };
      // The body may not have been read to its end: the connection cannot serve another request.
      closeConnection = !request.complete;
    }
    response.writeHead(result.statusCode ?? 200, {
      "content-type": "application/json; charset=utf-8",
      ...(result.headers as Record<string, string> | undefined),
      ...(closeConnection ? { connection: "close" } : {}),
    });
    // An unread rest of the body is discarded while the answer goes out, then the connection closes.
    if (closeConnection) request.resume();
    response.end(result.body ?? "");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : options.port;
      resolve({
        server,
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((resolveClose) => {
            server.closeAllConnections();
            server.close(() => resolveClose());
          }),
      });
    });
  });
}
