/**
 * `npm start`: the whole product on a laptop in one command. What is configured is used, what is not is
 * emulated: DynamoDB Local (data kept in .local/), the fauxqs SQS emulator, and our TikTok Shop emulator
 * with a default dataset that keeps changing. The same cores the Lambdas run serve the HTTP API on PORT,
 * tick on a schedule and work the queue through a local poller. Ctrl-C stops everything and exits 0.
 *
 * Two processes: this script first runs as a small supervisor (configuration and port checks, signals),
 * then again as the stack process in a process group of its own, which owns every other child.
 *
 * Exit codes: 0 stopped by SIGINT/SIGTERM/SIGHUP (or --help), 1 could not start or a service died,
 * 2 bad configuration (nothing was started).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError } from "../../shared/config";
import { type LocalOptions, parseStartConfig, parseStartFlags, type StartConfig } from "./local-config";
import type { LocalStack } from "./local-stack";
import { isPortInUse } from "./tcp-ports";

const USAGE = `Usage: npm start [-- --fresh]

  --fresh   wipe local data (DynamoDB Local's folder and the emulator's anchor) and start over
            with a first full sync

Every variable of README "Configuration" applies; whatever service is not configured is emulated:
TIKTOK_API_BASE_URL (+ TIKTOK_APP_KEY/SECRET, TIKTOK_SHOP_ID, tokens), DYNAMODB_ENDPOINT, SQS_ENDPOINT.`;

const PID_FILE = "npm-start.pid";

/** Set on the stack process the supervisor starts (see supervise()). */
const STACK_PROCESS_ENV = "TSS_LOCAL_STACK_PROCESS";

function fail(message: string, code = 1): never {
  process.stderr.write(`\n✖ ${message}\n`);
  process.exit(code);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Another `npm start` on the same data folder (where /proc can tell, a pid reused by others is ignored). */
function otherInstance(pidFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, "utf8").trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !isAlive(pid)) return undefined;
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("start.ts")) return undefined;
  } catch {
    // No /proc (macOS): trust the live pid.
  }
  return pid;
}

/** Keeps one `npm start` per data folder: the lock clean-up at start-up relies on it. */
function claimDataDir(options: LocalOptions): () => void {
  const pidFile = join(options.dataDir, PID_FILE);
  const other = otherInstance(pidFile);
  if (other !== undefined) {
    fail(
      `Another npm start (pid ${other}) is using ${resolve(options.dataDir)}: stop it first, or give this one its own LOCAL_DATA_DIR and PORT.`,
    );
  }
  mkdirSync(options.dataDir, { recursive: true });
  writeFileSync(pidFile, `${process.pid}\n`);
  return () => {
    try {
      if (readFileSync(pidFile, "utf8").trim() === String(process.pid)) rmSync(pidFile, { force: true });
    } catch {
      // Already gone.
    }
  };
}

function parseOrExit(): StartConfig {
  try {
    return parseStartConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n\nNothing was started. See README "Configuration".\n`);
      process.exit(2);
    }
    throw error;
  }
}

/**
 * The stack process: starts the services, serves until told to stop, then stops every child in order
 * (worker batches and ticks drained first, DynamoDB Local last, with SIGTERM, waiting for it to exit).
 */
async function runStack(): Promise<void> {
  // A closed pipe (npm start | head) must not crash the stack with its children running.
  process.stdout.on("error", () => {});
  let stack: LocalStack | undefined;
  let starting = false;
  let releaseDataDir = () => {};
  let exiting: Promise<void> | undefined;
  /** Stops every child exactly once, then exits with `code`. */
  const exit = (code: number, message?: string): Promise<void> => {
    exiting ??= (async () => {
      stack?.quiet();
      if (message) process.stderr.write(`\n✖ ${message}\n`);
      if (code === 0) process.stdout.write("\nstopping…\n");
      try {
        await stack?.stop();
      } finally {
        releaseDataDir();
      }
      if (code === 0) process.stdout.write("stopped.\n");
      process.exit(code);
    })();
    return exiting;
  };
  // Handlers first: a signal while the modules load or the services start must still end in order.
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    // While services start, their handles do not exist yet: stop once start-up returns.
    if (!starting) void exit(0);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);
  // The supervisor is gone (killed): stop in order rather than run on unseen.
  process.on("disconnect", onSignal);
  process.on("uncaughtException", (error) => void exit(1, `unexpected error: ${error.stack ?? error}`));
  process.on("unhandledRejection", (reason) => void exit(1, `unexpected error: ${String(reason)}`));

  const { config, options, emulateTikTok } = parseOrExit();
  releaseDataDir = claimDataDir(options);
  if (options.fresh) {
    rmSync(join(options.dataDir, "dynamodb"), { recursive: true, force: true });
    rmSync(join(options.dataDir, "emulator.json"), { force: true });
    process.stdout.write(
      config.DYNAMODB_ENDPOINT
        ? "--fresh: emulator anchor reset; DYNAMODB_ENDPOINT is set, so its tables are kept as they are.\n"
        : `--fresh: local data in ${resolve(options.dataDir)} wiped.\n`,
    );
  }

  // Loaded only now: the supervisor reports a bad configuration without loading the SDK and the cores.
  const { startLocalStack } = await import("./local-stack");
  if (interrupted) return void exit(0);
  starting = true;
  try {
    stack = await startLocalStack({ config, options, emulateTikTok, out: process.stdout });
  } catch (error) {
    releaseDataDir();
    if (interrupted) process.exit(0);
    fail((error as Error).message);
  } finally {
    starting = false;
  }
  if (interrupted) return void exit(0);
  void stack.failed.then((error) => exit(1, `${error.message} Stopping the local stack.`));
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * What `npm start` runs: checks the configuration and the port, then runs the stack in a process group of
 * its own and passes it the signals it receives. A terminal's Ctrl-C reaches only this process and its
 * parents (npm, tsx), so DynamoDB Local and the SQS emulator are stopped by the stack, in order, instead
 * of dying under its feet; and this process stays idle, so it always answers tsx's signal relay in time.
 * If the stack itself dies (kill -9), whatever is left of its process group is stopped here.
 */
async function supervise(): Promise<void> {
  // Before the configuration is checked: help is shown even with a broken .env.
  if (parseStartFlags(process.argv.slice(2)).help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { config } = parseOrExit();
  if (await isPortInUse(config.PORT)) {
    fail(`Port ${config.PORT} is already in use: stop what runs there or start with PORT=<another port>.`);
  }
  const child = spawn(process.execPath, [...process.execArgv, __filename, ...process.argv.slice(2)], {
    env: { ...process.env, [STACK_PROCESS_ENV]: "1" },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    detached: true,
  });
  const pgid = child.pid as number;
  const pass = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => pass(signal));
  // Our parent (tsx, npm) was killed or the terminal went away: stop rather than run on unseen.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) pass("SIGTERM");
  }, 1_000).unref();
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  if (groupAlive(pgid)) {
    // The stack died without stopping its services: stop them here (SIGTERM, then SIGKILL after 5 s).
    if (signal) process.stderr.write(`\n✖ The local stack was killed (${signal}); stopping its services.\n`);
    process.kill(-pgid, "SIGTERM");
    const deadline = Date.now() + 5_000;
    while (groupAlive(pgid) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 100));
    if (groupAlive(pgid)) process.kill(-pgid, "SIGKILL");
  }
  process.exit(code ?? 1);
}

void (process.env[STACK_PROCESS_ENV] === "1" ? runStack() : supervise());
