/**
 * `npm start` end to end, as a user runs it: the real start script in a child process (its own DynamoDB
 * Local, SQS emulator and TikTok emulator, separate from jest's), driven only from outside — its output,
 * the HTTP API, the CLI, the emulator's admin API and DynamoDB Local read directly.
 *
 * The script is run the way the npm script runs it (`tsx infra/local/start.ts`) but without npm in
 * between: npm reports 130 for any script stopped by Ctrl-C, whatever the script's own exit code.
 * Ctrl-C is simulated as a terminal does it: SIGINT to the whole process group.
 *
 * The first run is stopped (SIGTERM) while its first full sync runs; the second run resumes it through
 * the reconciler (no new job), reaches the emulator's truth, picks up orders mutated through the admin
 * API on its next tick, and stops on Ctrl-C with exit code 0 and no process left behind.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { runCli } from "../../infra/local/cli";
import { isAlive } from "../../infra/local/processes";
import { findFreePort } from "../../infra/local/tcp-ports";
import { createDocumentClient, createDynamoDbClient } from "../../shared/aws-clients";
import type { TikTokOrder } from "../../shared/tiktok/api-types";
import { diffWithTruth } from "../support/truth";

const ROOT = join(__dirname, "..", "..");
const TSX_CLI = join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
const SHOPS = ["7494000000000000001", "7494000000000000002"];
const ORDERS_PER_SHOP = 1500;

/** The runner's own configuration must not leak into the stack under test. */
const INHERITED =
  /^(TIKTOK_|DYNAMODB_|SQS_|SYNC_|EMULATOR_|WORKER_|STORE_|ORDERS_TABLE|STATE_TABLE|WORK_QUEUE|DEAD_LETTER|LOCAL_DATA_DIR$|PORT$|TSS_)/;

function baseEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !INHERITED.test(name)));
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  deadlineMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Every descendant of `pid` (ps --ppid, recursively). */
function descendants(pid: number): number[] {
  let children: number[];
  try {
    children = execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n")
      .map((line) => Number(line.trim()))
      .filter((child) => child > 0);
  } catch {
    children = []; // ps exits 1 when there is none.
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** `npm start` in a child process, in a process group of its own (like a terminal's foreground job). */
class StartedStack {
  readonly child: ChildProcess;
  output = "";
  readonly exited: Promise<Exit>;

  constructor(env: Record<string, string>, args: string[] = []) {
    this.child = spawn(process.execPath, [TSX_CLI, "infra/local/start.ts", ...args], {
      cwd: ROOT,
      env: { ...baseEnv(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString();
    };
    this.child.stdout?.on("data", collect);
    this.child.stderr?.on("data", collect);
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => resolve({ code, signal }));
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  async waitFor(pattern: RegExp, deadlineMs: number): Promise<RegExpMatchArray> {
    return until(
      `${pattern} in the output of npm start`,
      () => {
        if (this.child.exitCode !== null) {
          throw new Error(`npm start exited (${this.child.exitCode}):\n${this.output}`);
        }
        return this.output.match(pattern) ?? undefined;
      },
      deadlineMs,
      100,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n--- output ---\n${this.output}`, { cause: error.cause });
    });
  }

  /** Waits for the exit, but not forever. */
  async exit(deadlineMs: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`npm start still running:\n${this.output}`)), deadlineMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Last resort for a failing test: nothing may outlive it. */
  kill(): void {
    for (const pid of [this.pid, ...descendants(this.pid)]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
}

interface Banner {
  readonly apiUrl: string;
  readonly dynamodbEndpoint: string;
  readonly adminUrl: string;
  readonly startupSeconds: number;
}

async function waitUntilReady(stack: StartedStack): Promise<Banner> {
  const ready = await stack.waitFor(/API ready on (http:\/\/\S+) in ([\d.]+) s/, 90_000);
  const dynamodb = stack.output.match(/DynamoDB\s+(http:\/\/\S+)/);
  const admin = stack.output.match(/Admin\s+(http:\/\/\S+)/);
  if (!dynamodb?.[1] || !admin?.[1] || !ready[1]) throw new Error(`banner incomplete:\n${stack.output}`);
  return {
    apiUrl: ready[1],
    dynamodbEndpoint: dynamodb[1],
    adminUrl: admin[1],
    startupSeconds: Number(ready[2]),
  };
}

async function getJson(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

type ShopStatus = {
  shop_id: string;
  sync_type: string | null;
  job: { job_id: string; status: string; orders: number; windows: { failed: number } } | null;
};

async function shopStatuses(apiUrl: string): Promise<ShopStatus[]> {
  const { status, json } = await getJson(`${apiUrl}/api/sync/status`);
  if (status !== 200) throw new Error(`status answered ${status}`);
  return json.shops as ShopStatus[];
}

async function truthOf(adminUrl: string, shopId: string): Promise<TikTokOrder[]> {
  const orders: TikTokOrder[] = [];
  for (let offset = 0; ; offset += 1000) {
    const { json } = await getJson(`${adminUrl}/truth?shop_id=${shopId}&offset=${offset}&limit=1000`);
    orders.push(...(json.orders as TikTokOrder[]));
    if (orders.length >= Number(json.total)) return orders;
  }
}

/** Polls until DynamoDB Local holds exactly the emulator's truth for every shop. */
async function waitForTruth(banner: Banner, client: DynamoDBClient, deadlineMs: number): Promise<void> {
  const documents = createDocumentClient(client);
  let last: unknown;
  await until(
    "DynamoDB to equal the emulator's truth",
    async () => {
      for (const shopId of SHOPS) {
        const diff = await diffWithTruth(
          documents,
          "tss-orders",
          shopId,
          await truthOf(banner.adminUrl, shopId),
        );
        last = { shopId, ...diff, missing: diff.missing.length, stale: diff.stale, extra: diff.extra };
        if (diff.missing.length + diff.stale.length + diff.extra.length > 0) return false;
      }
      return true;
    },
    deadlineMs,
    1_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last diff ${JSON.stringify(last)}`);
  });
}

let workDir: string;
const started: StartedStack[] = [];

function start(env: Record<string, string>, args: string[] = []): StartedStack {
  const stack = new StartedStack(env, args);
  started.push(stack);
  return stack;
}

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), "tss-npm-start-"));
});

afterAll(() => {
  for (const stack of started) if (stack.child.exitCode === null) stack.kill();
  rmSync(workDir, { recursive: true, force: true });
});

describe("npm start refuses to start, with one clear message", () => {
  it("names every bad variable, exits 2 and starts nothing", async () => {
    const dataDir = join(workDir, "bad-env");
    const stack = start({
      LOCAL_DATA_DIR: dataDir,
      PORT: "not-a-port",
      SYNC_INTERVAL_SECONDS: "1",
      EMULATOR_SHOPS: "0",
    });
    const { code } = await stack.exit(30_000);
    expect(code).toBe(2);
    expect(stack.output).toContain("PORT must be a whole number");
    expect(stack.output).toContain("SYNC_INTERVAL_SECONDS must be between 5 and 86400");
    expect(stack.output).toContain("EMULATOR_SHOPS must be between 1 and 20");
    expect(stack.output).toContain("Nothing was started");
    expect(existsSync(dataDir)).toBe(false);
  });

  it("says the port is in use and exits 1 before starting anything", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = join(workDir, "port-in-use");
    try {
      const stack = start({ LOCAL_DATA_DIR: dataDir, PORT: String(port) });
      const { code } = await stack.exit(30_000);
      expect(code).toBe(1);
      expect(stack.output.trim()).toBe(
        `✖ Port ${port} is already in use: stop what runs there or start with PORT=<another port>.`,
      );
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("the CLI says when the API is not running", async () => {
    const lines: string[] = [];
    const stderr = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const code = await runCli(["status"], { PORT: String(await findFreePort()) }, (line) =>
        lines.push(line),
      );
      expect(code).toBe(1);
      expect(String(stderr.mock.calls[0]?.[0])).toMatch(
        /The local API is not running at http:\/\/127\.0\.0\.1:\d+/,
      );
    } finally {
      stderr.mockRestore();
    }
  });
});

describe("npm start, first run, restart and Ctrl-C", () => {
  const dataDir = () => join(workDir, "data");
  let port: number;
  let env: Record<string, string>;
  const jobsOfRun1 = new Map<string, string>();
  const runningAtStop = new Set<string>();

  beforeAll(async () => {
    port = await findFreePort();
    env = {
      PORT: String(port),
      LOCAL_DATA_DIR: dataDir(),
      EMULATOR_ORDERS: String(ORDERS_PER_SHOP),
      EMULATOR_SHOPS: "2",
      // Changes come from the admin API only: a restarted emulator regenerates its history from the seed
      // and would not know changes made by its own feed in the first run.
      EMULATOR_UPDATES_PER_SECOND: "0",
      EMULATOR_CREATES_PER_SECOND: "0",
      // Windows of at most 500 orders: several per shop, so the workers run side by side.
      TIKTOK_RESULT_CAP: "500",
      SYNC_INTERVAL_SECONDS: "5",
      SYNC_SETTLE_SECONDS: "1",
      SYNC_MAX_CLOCK_SKEW_SECONDS: "0",
    };
  });

  it("first run: API ready in seconds, the three routes answer, the first tick starts a full sync; SIGTERM stops it all", async () => {
    const stack = start(env);
    const banner = await waitUntilReady(stack);
    expect(banner.apiUrl).toBe(`http://127.0.0.1:${port}`);
    expect(stack.output).toMatch(/DynamoDB\s+\S+\s+\(emulated: DynamoDB Local/);
    expect(stack.output).toMatch(/SQS\s+\S+\s+\(emulated: fauxqs/);
    expect(stack.output).toMatch(/TikTok\s+\S+\s+\(emulated: 2 shops × 1500 orders/);
    expect(banner.startupSeconds).toBeLessThan(60);

    // The first tick finds no metadata: a full sync per shop.
    await stack.waitFor(/tick: first sync → full resync \S+ started[\s\S]*tick: first sync/, 60_000);

    const status = await getJson(`${banner.apiUrl}/api/sync/status`);
    expect(status.status).toBe(200);
    expect((status.json.shops as ShopStatus[]).map((shop) => shop.shop_id)).toEqual(SHOPS);
    // Several shops and no shop_id: every shop, one entry each (docs/operations.md "HTTP API").
    const incremental = await getJson(`${banner.apiUrl}/api/sync/orders`, { method: "POST" });
    expect(incremental.status).toBe(202);
    expect((incremental.json.shops as { status_url: string }[]).map((entry) => entry.status_url)).toEqual(
      SHOPS.map((shopId) => `/api/sync/status?shop_id=${shopId}`),
    );
    const full = await getJson(`${banner.apiUrl}/api/sync/orders/full?shop_id=${SHOPS[1]}`, {
      method: "POST",
    });
    // 409 names the running job (202 only if that job has already finished).
    expect([202, 409]).toContain(full.status);
    expect(JSON.stringify(full.json)).toMatch(/"job_id":"[^"]+"/);
    const statuses = await until(
      "the full syncs to commit a first page",
      async () => {
        const shops = await shopStatuses(banner.apiUrl);
        return shops.every((shop) => shop.job && (shop.job.orders > 0 || shop.job.status === "COMPLETED"))
          ? shops
          : undefined;
      },
      90_000,
    );
    for (const shop of statuses) {
      jobsOfRun1.set(shop.shop_id, shop.job?.job_id as string);
      if (shop.job?.status === "RUNNING") runningAtStop.add(shop.shop_id);
    }

    const tree = descendants(stack.pid);
    expect(tree.length).toBeGreaterThanOrEqual(3); // the stack process, DynamoDB Local, fauxqs
    stack.child.kill("SIGTERM");
    const exit = await stack.exit(30_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(stack.output).toMatch(/stopping…\nstopped\.\n$/);
    await until(
      "every child process of the first run to be gone",
      () => tree.every((pid) => !isAlive(pid)),
      3_000,
    );
    expect(existsSync(join(dataDir(), "npm-start.pid"))).toBe(false);
  }, 180_000);

  it("restart: resumes the interrupted full sync (no new job), reaches the truth, picks up changes; Ctrl-C exits 0", async () => {
    const stack = start(env);
    const banner = await waitUntilReady(stack);
    const client = createDynamoDbClient({ dynamodbEndpoint: banner.dynamodbEndpoint });
    try {
      for (const shopId of runningAtStop) {
        await stack.waitFor(
          new RegExp(`full resync ${jobsOfRun1.get(shopId)} was interrupted by the last stop`),
          15_000,
        );
      }
      const finished = await until(
        "the interrupted full syncs to complete",
        async () => {
          const shops = await shopStatuses(banner.apiUrl);
          return shops.every((shop) => shop.job?.status === "COMPLETED") ? shops : undefined;
        },
        150_000,
        1_000,
      );
      for (const shop of finished) {
        expect(shop.job?.job_id).toBe(jobsOfRun1.get(shop.shop_id));
        expect(shop.job?.windows.failed).toBe(0);
      }
      expect(stack.output).not.toContain("first sync");
      await stack.waitFor(/full resync \S+ ✔ completed: \d+ orders/, 10_000);
      await waitForTruth(banner, client, 30_000);

      // Not a TTY: plain progress lines, no escape sequences.
      if (runningAtStop.size > 0)
        expect(stack.output).toMatch(/full resync \d+ {2}windows \d+\/\d+ · orders \d+\/\d+/);
      expect(stack.output).not.toContain("\u001b[");

      const mutated = await getJson(`${banner.adminUrl}/mutate`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ count: 40, seed: 11 }),
      });
      expect((mutated.json.mutated as unknown[]).length).toBe(40);
      // The emulator announces its changes by webhook (on by default): a tick line reports them as
      // changed by the tick, or as having come by push since the last tick.
      const changedTicks = () =>
        stack.output.split(/tick: (?:[1-9]\d* changed|0 changed[^\n]* [1-9]\d* came by push)/).length - 1;
      const ticksBefore = changedTicks();
      await waitForTruth(banner, client, 30_000);
      await until("a tick line reporting the changes", () => changedTicks() > ticksBefore, 10_000);

      // The CLI against the running stack.
      const lines: string[] = [];
      expect(await runCli(["status"], { PORT: String(port) }, (line) => lines.push(line))).toBe(0);
      expect(lines.join("\n")).toMatch(/^SHOP\s+LAST SYNC\s+TYPE\s+LAG/);
      for (const shopId of SHOPS)
        expect(lines.join("\n")).toMatch(new RegExp(`${shopId}.*COMPLETED ${ORDERS_PER_SHOP} orders`));
      lines.length = 0;
      expect(await runCli(["sync"], { PORT: String(port) }, (line) => lines.push(line))).toBe(0);
      expect(lines).toHaveLength(2);
    } finally {
      client.destroy();
    }

    const tree = descendants(stack.pid);
    expect(tree.length).toBeGreaterThanOrEqual(4); // supervisor, stack process, DynamoDB Local, fauxqs
    process.kill(-stack.pid, "SIGINT"); // what a terminal does on Ctrl-C
    const exit = await stack.exit(30_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(stack.output).toMatch(/stopping…\nstopped\.\n$/);
    await until("every child process to be gone", () => tree.every((pid) => !isAlive(pid)), 3_000);
  }, 240_000);
});
