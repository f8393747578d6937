/** The benchmark's side of its sync process (bench/sync-process.ts): start, request/response, stop. */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { build } from "esbuild";
import type { SyncRequest, SyncResponse } from "./protocol";

/** A request without its id (distributed over the union). */
type RequestBody = SyncRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

/** The sync process and its request/response channel. */
export class SyncChild {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (e: Error) => void }
  >();

  constructor(readonly child: ChildProcess) {
    child.on("message", (response: SyncResponse) => {
      const waiter = this.pending.get(response.id);
      if (!waiter) return;
      this.pending.delete(response.id);
      if (response.ok) waiter.resolve(response.result);
      else waiter.reject(new Error(`sync process: ${response.error}`));
    });
    child.on("exit", (code, signal) => {
      for (const waiter of this.pending.values()) {
        waiter.reject(new Error(`sync process exited (code ${code ?? "none"}, signal ${signal ?? "none"})`));
      }
      this.pending.clear();
    });
  }

  /**
   * Bundles bench/sync-process.ts with esbuild and runs the bundle on plain node, as Lambda runs the
   * deployed functions (CDK bundles them with esbuild): no TypeScript loader in the measured memory.
   */
  static async start(): Promise<SyncChild> {
    const dir = mkdtempSync(join(os.tmpdir(), "tss-bench-"));
    const outfile = join(dir, "sync-process.js");
    await build({
      entryPoints: [join(__dirname, "sync-process.ts")],
      bundle: true,
      platform: "node",
      target: "node20",
      outfile,
      logLevel: "warning",
    });
    const child = fork(outfile, [], {
      stdio: "inherit",
      execArgv: ["--expose-gc"],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    });
    child.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    return new SyncChild(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  call<T>(request: RequestBody): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolveCall, rejectCall) => {
      this.pending.set(id, { resolve: resolveCall as (value: unknown) => void, reject: rejectCall });
      this.child.send({ ...request, id } as SyncRequest);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise((resolveExit) => this.child.once("exit", resolveExit));
    // A busy process (lanes mid-page on a starved DynamoDB Local) may not answer: bounded wait.
    await Promise.race([this.call({ type: "stop" }).catch(() => undefined), exited, sleep(10_000)]);
    await Promise.race([exited, sleep(5_000)]);
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}
