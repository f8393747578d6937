/**
 * The local HTTP server (the twin of API Gateway) on a keep-alive connection: an oversized body is
 * answered 413 and the connection stays usable, as a browser or fetch would reuse it (issue 16 item 9).
 */
import { Agent, request as httpRequest } from "node:http";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { startHttpApi } from "../../infra/local/http-server";

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** Whether the request went out on a connection an earlier request had used. */
  readonly reusedSocket: boolean;
}

function send(agent: Agent, url: string, method: string, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      {
        agent,
        method,
        headers: body ? { "content-type": "application/json", "content-length": body.length } : {},
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString("utf8"),
            reusedSocket: request.reusedSocket,
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

describe("local HTTP server on a keep-alive connection (issue 16 item 9)", () => {
  let api: Awaited<ReturnType<typeof startHttpApi>>;
  let agent: Agent;
  const seen: APIGatewayProxyEventV2[] = [];

  beforeAll(async () => {
    api = await startHttpApi(
      async (event) => {
        seen.push(event);
        return {
          statusCode: 200,
          body: JSON.stringify({ path: event.rawPath, bytes: event.body?.length ?? 0 }),
        };
      },
      { port: 0 },
    );
  });
  beforeEach(() => {
    // One socket, kept alive: every request of a test travels on the same connection when it can.
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
  });
  afterEach(() => agent.destroy());
  afterAll(() => api.close());

  it("a 2 MB body is answered 413 and the next request on the same connection succeeds", async () => {
    const first = await send(agent, `${api.url}/api/sync/orders`, "POST", Buffer.alloc(2 * 1024 * 1024, "a"));
    expect(first.status).toBe(413);
    expect(JSON.parse(first.body)).toEqual({
      error: { code: "body_too_large", message: expect.any(String) },
    });
    const second = await send(agent, `${api.url}/api/sync/status`, "GET");
    expect(second).toMatchObject({ status: 200, reusedSocket: true });
    expect(JSON.parse(second.body)).toEqual({ path: "/api/sync/status", bytes: 0 });
    expect(seen.at(-1)?.rawPath).toBe("/api/sync/status");
  });

  it("a body past what is worth draining is answered 413 and the connection closed, so the next request opens a new one", async () => {
    const first = await send(
      agent,
      `${api.url}/api/sync/orders`,
      "POST",
      Buffer.alloc(24 * 1024 * 1024, "a"),
    );
    expect(first.status).toBe(413);
    expect(first.headers.connection).toBe("close");
    const second = await send(agent, `${api.url}/api/sync/status`, "GET");
    expect(second).toMatchObject({ status: 200, reusedSocket: false });
  });

  it("a body within the limit keeps the connection for the next request", async () => {
    const first = await send(agent, `${api.url}/api/sync/orders`, "POST", Buffer.from("{}"));
    expect(first.status).toBe(200);
    const second = await send(agent, `${api.url}/api/sync/status`, "GET");
    expect(second).toMatchObject({ status: 200, reusedSocket: true });
  });
});
