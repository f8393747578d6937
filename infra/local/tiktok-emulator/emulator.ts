/**
 * The TikTok Shop API emulator as tests, the benchmark and the local stack hold it: the world (world.ts:
 * shops, orders, clock, tokens) served over HTTP (server.ts: API, auth host, admin interface). The
 * dependencies run one way: this module → server → admin → control ← world.
 */
import type { TikTokEmulatorOptions } from "./config";
import type { EmulatorControl } from "./control";
import { EmulatorServer } from "./server";
import { EmulatorWorld } from "./world";

/** What tests, the benchmark and the local stack use in-process. */
export interface TikTokEmulator extends EmulatorControl {
  /** API host, e.g. `http://127.0.0.1:40123`. */
  readonly baseUrl: string;
  /** Auth host (`/api/v2/token/...` lives under it): `${baseUrl}/auth`. */
  readonly authBaseUrl: string;
  readonly adminBaseUrl: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * The world plus the server's addresses and `stop`. A subclass of the world, so its ~40 operations need
 * no forwarding; the server gets the world, never this class.
 */
class RunningTikTokEmulator extends EmulatorWorld implements TikTokEmulator {
  private readonly server: EmulatorServer;
  private stopping: Promise<void> | undefined;

  constructor(options: TikTokEmulatorOptions) {
    super(options);
    this.server = new EmulatorServer(this, options);
  }

  listen(): Promise<void> {
    return this.server.listen();
  }

  get port(): number {
    return this.server.port;
  }

  get baseUrl(): string {
    return this.server.baseUrl;
  }

  get authBaseUrl(): string {
    return this.server.authBaseUrl;
  }

  get adminBaseUrl(): string {
    return this.server.adminBaseUrl;
  }

  stop(): Promise<void> {
    if (!this.stopping) {
      this.dispose();
      this.stopping = this.server.close();
    }
    return this.stopping;
  }
}

/** Generates the dataset, binds the server (loopback, free port by default) and resolves when it listens. */
export async function startTikTokEmulator(options: TikTokEmulatorOptions = {}): Promise<TikTokEmulator> {
  const emulator = new RunningTikTokEmulator(options);
  await emulator.listen();
  return emulator;
}
