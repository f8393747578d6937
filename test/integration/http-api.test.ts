/**
 * The HTTP API contract over real HTTP (the local twin of API Gateway feeding the same handler):
 * the routes' shapes, and a table of bad requests that each get a 4xx JSON error and change nothing.
 */

import { startHttpApi } from "../../infra/local/http-server";
import { createSyncService } from "../../shared/app/service";
import { makeApiHandler } from "../../shared/http/api";
import { type SyncHarness, startSyncHarness } from "../support/sync-harness";
import { snapshotTables } from "../support/table-snapshot";

let harness: SyncHarness;
let api: Awaited<ReturnType<typeof startHttpApi>>;

beforeAll(async () => {
  harness = await startSyncHarness({ label: "api", emulator: { shops: [{ id: "shop-1", orders: 120 }] } });
  await harness.runtime.state.setCursorIfMissing(harness.shopId, 0);
  // A deadline far beyond the test data: under heavy load the run must still complete in one request.
  const handler = makeApiHandler({ service: createSyncService(harness.runtime), log: harness.log });
  api = await startHttpApi(handler, { port: 0, functionTimeoutMs: 200_000 });
});
afterAll(async () => {
  await api?.close();
  await harness?.close();
});

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await response.text();
  return { status: response.status, json: JSON.parse(text) as Record<string, unknown>, text };
}

describe("routes", () => {
  it("POST /api/sync/orders runs an incremental sync and answers 202 with a run id", async () => {
    const { status, json } = await call("POST", "/api/sync/orders");
    expect(status).toBe(202);
    expect(json).toMatchObject({
      sync_type: "incremental",
      status: "completed",
      status_url: "/api/sync/status?shop_id=shop-1",
    });
    expect(json.run_id).toEqual(expect.any(String));
    expect((await harness.diff()).missing).toEqual([]);
  });

  it("GET /api/sync/status lists the shop with the seed's field names, cursor, lag and last run", async () => {
    const { status, json } = await call("GET", "/api/sync/status");
    expect(status).toBe(200);
    const shops = json.shops as Record<string, unknown>[];
    expect(shops).toHaveLength(1);
    expect(shops[0]).toMatchObject({
      shop_id: "shop-1",
      sync_type: "incremental",
      is_full_sync: false,
      records_synced: 120,
      last_sync_time: expect.stringMatching(/Z$/),
      last_record_time: expect.stringMatching(/Z$/),
      cursor: expect.stringMatching(/Z$/),
      lag_seconds: expect.any(Number),
      last_run: expect.objectContaining({
        api_calls: expect.any(Number),
        inserted: 120,
        duration_ms: expect.any(Number),
      }),
      dlq_depth: 0,
      token: expect.objectContaining({ needs_reauth: false, expires_at: expect.stringMatching(/Z$/) }),
    });
    expect(JSON.stringify(json)).not.toContain(
      (await harness.runtime.tokenRepository.get("default"))?.accessToken,
    );
  });

  it("GET /api/sync/status?shop_id= filters to one shop", async () => {
    const { status, json } = await call("GET", "/api/sync/status?shop_id=shop-1");
    expect(status).toBe(200);
    expect((json.shops as unknown[]).length).toBe(1);
  });
});

const huge = JSON.stringify({ from: "x".repeat(40_000) });
const BAD_REQUESTS: [string, string, string, string | undefined, number, string, Record<string, string>?][] =
  [
    ["unknown route", "GET", "/api/nope", undefined, 404, "route_not_found"],
    ["root", "GET", "/", undefined, 404, "route_not_found"],
    ["wrong method on orders", "GET", "/api/sync/orders", undefined, 405, "method_not_allowed"],
    ["wrong method on status", "POST", "/api/sync/status", undefined, 405, "method_not_allowed"],
    ["DELETE on full", "DELETE", "/api/sync/orders/full", undefined, 405, "method_not_allowed"],
    ["PUT on orders", "PUT", "/api/sync/orders", "{}", 405, "method_not_allowed"],
    ["malformed JSON", "POST", "/api/sync/orders", "{", 400, "malformed_json"],
    ["truncated JSON", "POST", "/api/sync/orders/full", '{"from": "2024-01-01"', 400, "malformed_json"],
    ["JSON array body", "POST", "/api/sync/orders", "[]", 400, "invalid_body"],
    ["JSON string body", "POST", "/api/sync/orders", '"full"', 400, "invalid_body"],
    ["JSON null body", "POST", "/api/sync/orders", "null", 400, "invalid_body"],
    ["force_full as string", "POST", "/api/sync/orders", '{"force_full":"yes"}', 400, "invalid_body"],
    ["force_full as number", "POST", "/api/sync/orders", '{"force_full":1}', 400, "invalid_body"],
    ["unknown body field", "POST", "/api/sync/orders", '{"force":true}', 400, "invalid_body"],
    ["prototype pollution field", "POST", "/api/sync/orders", '{"__proto__":{"x":1}}', 400, "invalid_body"],
    [
      "force_full query not boolean",
      "POST",
      "/api/sync/orders?force_full=maybe",
      undefined,
      400,
      "invalid_parameter",
    ],
    ["force_full query empty", "POST", "/api/sync/orders?force_full=", undefined, 400, "invalid_parameter"],
    ["unknown query parameter", "POST", "/api/sync/orders?full=true", undefined, 400, "unknown_parameter"],
    [
      "repeated query parameter",
      "POST",
      "/api/sync/orders?shop_id=shop-1&shop_id=x",
      undefined,
      400,
      "invalid_parameter",
    ],
    ["unknown shop", "POST", "/api/sync/orders?shop_id=shop-404", undefined, 404, "unknown_shop"],
    ["unknown shop on status", "GET", "/api/sync/status?shop_id=nope", undefined, 404, "unknown_shop"],
    [
      "shop id with quote (injection)",
      "GET",
      "/api/sync/status?shop_id=x'%20OR%201=1--",
      undefined,
      400,
      "invalid_parameter",
    ],
    [
      "shop id too long",
      "GET",
      `/api/sync/status?shop_id=${"a".repeat(65)}`,
      undefined,
      400,
      "invalid_parameter",
    ],
    [
      "shop id with $ (expression)",
      "POST",
      "/api/sync/orders?shop_id=%24%7Bx%7D",
      undefined,
      400,
      "invalid_parameter",
    ],
    ["status with a body", "GET", "/api/sync/status", undefined, 404, "x"],
    ["from not a date", "POST", "/api/sync/orders/full", '{"from":"yesterday"}', 400, "invalid_body"],
    [
      "from impossible date",
      "POST",
      "/api/sync/orders/full",
      '{"from":"2024-02-31T00:00:00Z"}',
      400,
      "invalid_body",
    ],
    ["from as number", "POST", "/api/sync/orders/full", '{"from":1700000000}', 400, "invalid_body"],
    [
      "from after to",
      "POST",
      "/api/sync/orders/full",
      '{"from":"2025-01-02T00:00:00Z","to":"2025-01-01T00:00:00Z"}',
      400,
      "invalid_body",
    ],
    [
      "unknown field in full body",
      "POST",
      "/api/sync/orders/full",
      '{"from":"2025-01-01","shop":"x"}',
      400,
      "invalid_body",
    ],
    ["oversized body", "POST", "/api/sync/orders/full", huge, 413, "body_too_large"],
    [
      "non-JSON content type",
      "POST",
      "/api/sync/orders",
      "force_full=true",
      415,
      "unsupported_media_type",
      { "content-type": "application/x-www-form-urlencoded" },
    ],
    ["unknown query on full", "POST", "/api/sync/orders/full?from=2024", undefined, 400, "unknown_parameter"],
    ["unknown query on status", "GET", "/api/sync/status?verbose=1", undefined, 400, "unknown_parameter"],
    ["cancel with bad job id", "POST", "/api/sync/jobs/bad%20id/cancel", undefined, 400, "invalid_parameter"],
    [
      "resume with bad percent-encoding",
      "POST",
      "/api/sync/jobs/%E0%A4%A/resume",
      undefined,
      400,
      "invalid_parameter",
    ],
    ["cancel with a body field", "POST", "/api/sync/jobs/abc/cancel", '{"force":true}', 400, "invalid_body"],
    ["GET on cancel", "GET", "/api/sync/jobs/abc/cancel", undefined, 405, "method_not_allowed"],
    ["job route without action", "POST", "/api/sync/jobs/abc", undefined, 404, "route_not_found"],
    ["script in path", "GET", "/api/sync/%3Cscript%3E", undefined, 404, "route_not_found"],
    [
      "cancel on unknown shop",
      "POST",
      "/api/sync/jobs/abc/cancel?shop_id=zzz",
      undefined,
      404,
      "unknown_shop",
    ],
    // Every category on every route: huge bodies, unknown shops and injection-looking values everywhere.
    ["oversized body on orders", "POST", "/api/sync/orders", huge, 413, "body_too_large"],
    ["oversized body on cancel", "POST", "/api/sync/jobs/abc/cancel", huge, 413, "body_too_large"],
    [
      "unknown shop on full",
      "POST",
      "/api/sync/orders/full?shop_id=shop-404",
      undefined,
      404,
      "unknown_shop",
    ],
    [
      "SQL-looking date",
      "POST",
      "/api/sync/orders/full",
      `{"from":"2024-01-01'; DROP TABLE orders;--"}`,
      400,
      "invalid_body",
    ],
    ["NoSQL operator object", "POST", "/api/sync/orders/full", '{"from":{"$gt":""}}', 400, "invalid_body"],
    [
      "huge query value on status",
      "GET",
      `/api/sync/status?shop_id=${"a".repeat(8_000)}`,
      undefined,
      400,
      "invalid_parameter",
    ],
    [
      "script tag in shop id",
      "GET",
      "/api/sync/status?shop_id=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
      undefined,
      400,
      "invalid_parameter",
    ],
    [
      "deeply nested JSON",
      "POST",
      "/api/sync/orders",
      `${"[".repeat(4_000)}${"]".repeat(4_000)}`,
      400,
      "invalid_body",
    ],
    ["force_full null", "POST", "/api/sync/orders", '{"force_full":null}', 400, "invalid_body"],
    ["force_full on status", "GET", "/api/sync/status?force_full=true", undefined, 400, "unknown_parameter"],
    [
      "repeated shop_id on status",
      "GET",
      "/api/sync/status?shop_id=shop-1&shop_id=shop-1",
      undefined,
      400,
      "invalid_parameter",
    ],
    ["encoded slash in route", "GET", "/api/sync/status%2F..%2Fstatus", undefined, 404, "route_not_found"],
  ];
// A GET with a body is not expressible with fetch; that row checks a path typo instead.
BAD_REQUESTS[24] = ["status path typo", "GET", "/api/sync/statuses", undefined, 404, "route_not_found"];

describe("bad input: 4xx JSON error, nothing changed", () => {
  it(`has at least 40 cases (${BAD_REQUESTS.length}), covering the three routes`, () => {
    expect(BAD_REQUESTS.length).toBeGreaterThanOrEqual(40);
    const perRoute = (pathname: string) =>
      BAD_REQUESTS.filter(([, , path]) => new URL(path, "http://api.invalid").pathname === pathname).length;
    expect({
      orders: perRoute("/api/sync/orders") >= 8,
      full: perRoute("/api/sync/orders/full") >= 8,
      status: perRoute("/api/sync/status") >= 8,
    }).toEqual({ orders: true, full: true, status: true });
  });

  // Every row gets its headers argument, so jest never mistakes the last parameter for `done`.
  const rows = BAD_REQUESTS.map(
    (row) => [...row.slice(0, 6), row[6] ?? {}] as Required<(typeof BAD_REQUESTS)[number]>,
  );
  it.each(rows)("%s → %s %s", async (_name, method, path, body, expectedStatus, expectedCode, headers) => {
    const tables = [harness.resources.ordersTable, harness.resources.stateTable];
    const before = await snapshotTables(harness.resources.documents, tables);
    const { status, json, text } = await call(method, path, body, headers);
    expect(status).toBe(expectedStatus);
    const error = json.error as { code: string; message: string };
    expect(error.code).toBe(expectedCode);
    expect(error.message.length).toBeGreaterThan(5);
    expect(text).not.toMatch(/\bat .+\.(ts|js):\d+/);
    expect(await snapshotTables(harness.resources.documents, tables)).toEqual(before);
  });
});

// Issue 16 item 10: a backfill bound without a time zone was read in the server's local time (a laptop's
// zone locally), so the same request meant different ranges on AWS and on `npm start`.
describe("backfill dates must carry a time zone (Z or an offset)", () => {
  const ZONELESS: [string, string][] = [
    ["date-time without a zone", '{"from":"2024-01-01T00:00:00"}'],
    ["minutes only, no zone", '{"to":"2024-06-01T12:30"}'],
    ["a bare date", '{"from":"2024-01-01"}'],
    ["both bounds without a zone", '{"from":"2024-01-01T00:00:00","to":"2024-02-01T00:00:00"}'],
  ];
  it.each(ZONELESS)("%s → 400 invalid_date, nothing changed", async (_name, body) => {
    const tables = [harness.resources.ordersTable, harness.resources.stateTable];
    const before = await snapshotTables(harness.resources.documents, tables);
    const { status, json } = await call("POST", "/api/sync/orders/full", body);
    expect(status).toBe(400);
    const error = json.error as { code: string; message: string };
    expect(error.code).toBe("invalid_date");
    expect(error.message).toMatch(/time zone/);
    expect(await snapshotTables(harness.resources.documents, tables)).toEqual(before);
  });

  it("an offset is honoured: 02:00+02:00 is midnight UTC", async () => {
    const ranges: { from?: number; to?: number }[] = [];
    const handler = makeApiHandler({
      log: harness.log,
      service: {
        ...createSyncService(harness.runtime),
        async startFullResync(_shopId, range) {
          ranges.push(range);
          return { job_id: "job-1" };
        },
      },
    });
    const response = await handler({
      rawPath: "/api/sync/orders/full",
      requestContext: { http: { method: "POST", path: "/api/sync/orders/full" } },
      headers: { "content-type": "application/json" },
      body: '{"from":"2020-01-01T02:00:00+02:00","to":"2020-01-02T00:00:00Z"}',
    } as unknown as Parameters<typeof handler>[0]);
    expect(response.statusCode).toBe(202);
    expect(ranges).toEqual([{ from: Date.UTC(2020, 0, 1) / 1000, to: Date.UTC(2020, 0, 2) / 1000 }]);
  });
});
