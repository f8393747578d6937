/**
 * Security: the structured logs of a full run — first full resync, incremental ticks, token refresh and
 * rotation, every kind of API failure, worker crashes, the HTTP API — written by the production logger
 * (Powertools, JSON to stdout) never contain the app secret, an access or refresh token (old or rotated),
 * a request signature or recipient personal data.
 */
import { startHttpApi } from "../../infra/local/http-server";
import { createSyncService } from "../../shared/app/service";
import { makeApiHandler } from "../../shared/http/api";
import { createPowertools } from "../../shared/observability/powertools";
import { runChaos, scanLogs } from "../chaos/scenario";
import { testEndpoints } from "../support/local-aws";

jest.setTimeout(300_000);

it("logs of a full chaos run hold no secret, token, signature or recipient data", async () => {
  const captured: string[] = [];
  const capture = (chunk: unknown) => {
    captured.push(typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
    return true;
  };
  const stdout = jest.spyOn(process.stdout, "write").mockImplementation(capture);
  const stderr = jest.spyOn(process.stderr, "write").mockImplementation(capture);
  let result: Awaited<ReturnType<typeof runChaos>>;
  try {
    const { logPort } = createPowertools("log-scan");
    result = await runChaos({
      seed: 4711,
      orders: 500,
      dynamodbEndpoint: testEndpoints().dynamodbEndpoint,
      log: logPort,
      deadlineMs: 280_000,
      // The HTTP API on top: a sync, the status, a full resync request and a bad one, logged the same way.
      afterChecks: async ({ runtime }) => {
        const api = await startHttpApi(
          makeApiHandler({ service: createSyncService(runtime), log: logPort }),
          {
            port: 0,
          },
        );
        try {
          const call = (method: string, path: string, body?: string) =>
            fetch(`${api.url}${path}`, {
              method,
              ...(body ? { body, headers: { "content-type": "application/json" } } : {}),
            }).then((response) => response.text());
          await call("POST", "/api/sync/orders");
          await call("GET", "/api/sync/status");
          await call("POST", "/api/sync/orders/full", '{"from":"2026-01-01T00:00:00Z"}');
          await call("POST", "/api/sync/orders", '{"force_full": "x"}');
        } finally {
          await api.close();
        }
      },
    });
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  expect(result.problems).toEqual([]);
  const logs = captured.join("");
  // The capture really holds the run's structured logs, warnings of the injected failures included.
  expect(logs).toContain('"message":"incremental sync completed"');
  expect(logs).toContain('"level":"WARN"');
  expect(logs).toMatch(/work message failed|restarting window|page token refused/);
  // What the run handled: the app secret, every token issued (initial and rotated), every signature sent.
  expect(result.secrets.size).toBeGreaterThan(20);
  expect(result.personalData.size).toBeGreaterThan(500);
  expect(scanLogs(logs, result.secrets, result.personalData)).toEqual([]);
  // The scan can fail: one leaked token, one address line or one signature is found.
  const [, aToken] = [...result.secrets].filter((secret) => secret.length >= 8);
  const [anAddress] = [...result.personalData];
  expect(scanLogs(`${logs}{"token":"${aToken}"}`, result.secrets, result.personalData)).not.toEqual([]);
  expect(scanLogs(`${logs}{"to":"${anAddress}"}`, result.secrets, result.personalData)).not.toEqual([]);
  expect(scanLogs(`${logs}?sign=${"ab".repeat(32)}`, new Set(), new Set())).toHaveLength(1);
});
