/**
 * Every environment variable, one bad value at a time (README "Configuration"): the message names the
 * variable precisely (and never echoes a credential), the Lambda cold start refuses to build anything,
 * and `npm start` exits 2 having started nothing (no data folder, no banner, no child process left).
 *
 * The table must cover every variable the schemas know: a new variable without a row fails the test.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localEnvSchema, parseStartConfig } from "../../infra/local/local-config";
import { lambdaApp } from "../../shared/app/lambda";
import { ConfigError, syncEnvSchema } from "../../shared/config";

jest.setTimeout(240_000);

const ROOT = join(__dirname, "..", "..");
const TSX_CLI = join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");

/** [variable, bad value, what the message must say]. */
const BAD_ENV: readonly [string, string, RegExp][] = [
  ["TIKTOK_API_BASE_URL", "ftp://tiktok", /^TIKTOK_API_BASE_URL must be an http\(s\) URL$/],
  ["TIKTOK_AUTH_BASE_URL", "auth.tiktok-shops.com", /^TIKTOK_AUTH_BASE_URL must be an http\(s\) URL$/],
  ["TIKTOK_APP_KEY", "   ", /^TIKTOK_APP_KEY must not be empty$/],
  ["TIKTOK_APP_SECRET", "  ", /^TIKTOK_APP_SECRET must not be empty$/],
  ["TIKTOK_SECRET_ARN", " ", /^TIKTOK_SECRET_ARN must not be empty$/],
  ["TIKTOK_ACCESS_TOKEN", "  ", /^TIKTOK_ACCESS_TOKEN must not be empty$/],
  ["TIKTOK_REFRESH_TOKEN", "   ", /^TIKTOK_REFRESH_TOKEN must not be empty$/],
  ["TIKTOK_SHOP_ID", "shop'; DROP TABLE", /^TIKTOK_SHOP_ID must be 1-64 letters, digits/],
  ["TIKTOK_SHOP_CIPHER", "  ", /^TIKTOK_SHOP_CIPHER must not be empty$/],
  ["TIKTOK_MAX_RPS", "fast", /^TIKTOK_MAX_RPS must be a positive number$/],
  ["DYNAMODB_ENDPOINT", "localhost:8000", /^DYNAMODB_ENDPOINT must be an http\(s\) URL$/],
  ["SQS_ENDPOINT", "http://", /^SQS_ENDPOINT must be an http\(s\) URL$/],
  ["AWS_REGION", "  ", /^AWS_REGION must not be empty$/],
  ["ORDERS_TABLE_NAME", "  ", /^ORDERS_TABLE_NAME must not be empty$/],
  ["STATE_TABLE_NAME", " ", /^STATE_TABLE_NAME must not be empty$/],
  ["WORK_QUEUE_URL", "  ", /^WORK_QUEUE_URL must not be empty$/],
  ["DEAD_LETTER_QUEUE_URL", "  ", /^DEAD_LETTER_QUEUE_URL must not be empty$/],
  ["WEBHOOK_QUEUE_URL", "  ", /^WEBHOOK_QUEUE_URL must not be empty$/],
  ["PORT", "70000", /^PORT must be between 1 and 65535$/],
  ["SYNC_INTERVAL_SECONDS", "1", /^SYNC_INTERVAL_SECONDS must be between 5 and 86400$/],
  ["SYNC_OVERLAP_SECONDS", "10", /^SYNC_OVERLAP_SECONDS \(10\) must exceed SYNC_SETTLE_SECONDS \(30\)/],
  ["SYNC_SETTLE_SECONDS", "-1", /^SYNC_SETTLE_SECONDS must be a whole number$/],
  ["SYNC_MAX_CLOCK_SKEW_SECONDS", "1e3", /^SYNC_MAX_CLOCK_SKEW_SECONDS must be a whole number$/],
  ["WORKER_CONCURRENCY", "0", /^WORKER_CONCURRENCY must be between 1 and 1000$/],
  ["SYNC_LOCK_LEASE_SECONDS", "5", /^SYNC_LOCK_LEASE_SECONDS must be between 10 and 3600$/],
  ["TIKTOK_RESULT_CAP", "ten", /^TIKTOK_RESULT_CAP must be a whole number$/],
  ["FULL_RESYNC_PLANNER_PROBES", "10001", /^FULL_RESYNC_PLANNER_PROBES must be between 0 and 10000$/],
  ["STORE_RECIPIENT_DATA", "yes", /^STORE_RECIPIENT_DATA must be true or false$/],
  ["DETAILED_METRICS", "on", /^DETAILED_METRICS must be true or false$/],
  [
    "TIKTOK_SHOPS",
    "bad shop!",
    /^TIKTOK_SHOPS entry 1: expected shopId\[:cipher\]\[@authorization\], got "bad shop!"$/,
  ],
  ["TIKTOK_AUTHORIZATIONS", "a b", /^TIKTOK_AUTHORIZATIONS must be a comma list of ids of 1-64 letters/],
  ["SHOP_CONCURRENCY", "0", /^SHOP_CONCURRENCY must be between 1 and 100$/],
  ["SHOP_DISCOVERY_TTL_SECONDS", "-5", /^SHOP_DISCOVERY_TTL_SECONDS must be a whole number$/],
  ["ORDER_RETENTION_DAYS", "0", /^ORDER_RETENTION_DAYS must be between 1 and 36500$/],
  ["LOCAL_DATA_DIR", "  ", /^LOCAL_DATA_DIR must not be empty$/],
  ["EMULATOR_ORDERS", "0", /^EMULATOR_ORDERS must be between 1 and 1000000$/],
  ["EMULATOR_SHOPS", "21", /^EMULATOR_SHOPS must be between 1 and 20$/],
  ["EMULATOR_UPDATES_PER_SECOND", "-2", /^EMULATOR_UPDATES_PER_SECOND must be a number ≥ 0$/],
  ["EMULATOR_CREATES_PER_SECOND", "5000", /^EMULATOR_CREATES_PER_SECOND must be at most 1000$/],
  ["EMULATOR_WEBHOOKS", "maybe", /^EMULATOR_WEBHOOKS must be true or false$/],
  ["LOCAL_ORDERS_STREAM", "yes", /^LOCAL_ORDERS_STREAM must be true or false$/],
];
const LOCAL_ONLY = new Set(Object.keys(localEnvSchema.shape));
const CREDENTIALS = /APP_KEY|APP_SECRET|ACCESS_TOKEN|REFRESH_TOKEN/;

/** A configuration `npm start` accepts (the emulated stack), so each row has exactly one bad variable. */
function validEnv(dataDir: string): Record<string, string> {
  return {
    LOCAL_DATA_DIR: dataDir,
    TIKTOK_SHOP_ID: "shop-1",
    TIKTOK_APP_KEY: "key",
    TIKTOK_APP_SECRET: "secret",
  };
}

/** Variables that replace another (a shop list replaces the single shop): the valid one is dropped. */
const REPLACES: Readonly<Record<string, string>> = { TIKTOK_SHOPS: "TIKTOK_SHOP_ID" };

/** `env` with exactly one bad variable. */
function withBad(env: Record<string, string>, name: string, value: string): Record<string, string> {
  const replaced = REPLACES[name];
  return Object.fromEntries(Object.entries({ ...env, [name]: value }).filter(([key]) => key !== replaced));
}

/** The runner's own configuration must not leak into what is tested. */
function cleanProcessEnv(): NodeJS.ProcessEnv {
  const inherited = new Set([...Object.keys(syncEnvSchema.shape), ...LOCAL_ONLY, "PORT"]);
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !inherited.has(name)));
}

let workDir: string;
beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), "tss-bad-env-"));
});
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

it("has a row for every variable the configuration schemas know", () => {
  const known = [...Object.keys(syncEnvSchema.shape), ...LOCAL_ONLY].sort();
  expect(BAD_ENV.map(([name]) => name).sort()).toEqual(known);
});

describe.each(BAD_ENV)("%s=%j", (name, value, message) => {
  it("is refused by npm start's configuration with one message naming it", () => {
    let problems: readonly string[] = [];
    try {
      parseStartConfig([], withBad(validEnv(join(workDir, "unused")), name, value));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems = error.problems;
    }
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
    if (CREDENTIALS.test(name) && value.trim()) expect(problems[0]).not.toContain(value);
  });

  if (!LOCAL_ONLY.has(name)) {
    it("stops a Lambda cold start before anything is built", () => {
      const saved = process.env;
      process.env = {
        ...cleanProcessEnv(),
        ...withBad(
          {
            TIKTOK_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
            TIKTOK_SHOP_ID: "shop-1",
          },
          name,
          value,
        ),
      };
      try {
        let problems: readonly string[] = [];
        try {
          lambdaApp("bad-env-test", { role: "tick" });
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          problems = error.problems;
        }
        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatch(message);
      } finally {
        process.env = saved;
      }
    });
  }
});

/** Runs `npm start`'s script (as the npm script does, without npm in between) and waits for its exit. */
function startWith(env: Record<string, string>) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [TSX_CLI, "infra/local/start.ts"], {
      cwd: ROOT,
      env: { ...cleanProcessEnv(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) => resolve({ code, output }));
  });
}

it("npm start exits 2 for each bad variable, names it, and starts nothing", async () => {
  const rows = BAD_ENV.filter(([name]) => name !== "LOCAL_DATA_DIR");
  const failures: string[] = [];
  // Six at a time: each is a short-lived Node process.
  for (let start = 0; start < rows.length; start += 6) {
    await Promise.all(
      rows.slice(start, start + 6).map(async ([name, value, message]) => {
        const dataDir = join(workDir, name);
        const { code, output } = await startWith(withBad(validEnv(dataDir), name, value));
        const line = output.split("\n").find((candidate) => candidate.includes(name)) ?? "";
        const problems = [
          code === 2 ? "" : `exit code ${code}`,
          message.test(line.replace(/^\s*- /, "")) ? "" : `no line matching ${message}`,
          output.includes("Nothing was started") ? "" : "no 'Nothing was started'",
          output.includes("API ready") || output.includes("DynamoDB ") ? "something started" : "",
          existsSync(dataDir) ? "the data folder was created" : "",
        ].filter(Boolean);
        if (problems.length > 0)
          failures.push(`${name}=${JSON.stringify(value)}: ${problems.join(", ")}\n${output}`);
      }),
    );
  }
  expect(failures).toEqual([]);
});
