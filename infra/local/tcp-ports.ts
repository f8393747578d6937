import { createServer } from "node:net";

/** Asks the OS for a free TCP port on loopback (bind to 0, read it back, release it). */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the port the OS assigned"));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** Resolves true when something already listens on the port. */
export function isPortInUse(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(true));
    server.listen(port, host, () => server.close(() => resolve(false)));
  });
}

/** Polls `probe` until it resolves, `deadlineMs` passes or `abort` says the target died. */
export async function waitUntil(
  probe: () => Promise<unknown>,
  options: { deadlineMs: number; what: string; intervalMs?: number; abort?: () => Error | undefined },
): Promise<void> {
  const started = Date.now();
  let lastError: unknown;
  for (;;) {
    const aborted = options.abort?.();
    if (aborted) throw aborted;
    try {
      await probe();
      return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() - started > options.deadlineMs) {
      throw new Error(`${options.what} did not become ready within ${options.deadlineMs} ms`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
