/**
 * A real sync stack for integration tests: the TikTok emulator over HTTP, tables and queues on the run's
 * DynamoDB Local and SQS emulator, and the production Runtime wired to them with a clock that moves with
 * the emulator's.
 */
import { emulatorEnv, localResourceEnv } from "../../infra/local/provision";
import {
  startTikTokEmulator,
  type TikTokEmulator,
  type TikTokEmulatorOptions,
} from "../../infra/local/tiktok-emulator";
import { Runtime } from "../../shared/app/runtime";
import type { Clock } from "../../shared/clock";
import { parseConfig } from "../../shared/config";
import { LogRecorder, MetricsRecorder } from "../../shared/observability/telemetry";
import { createTestResources, type TestResources } from "./local-aws";
import { diffWithTruth } from "./truth";

/** The sync configuration every test harness starts from: the emulator, the test's own resources, no settle. */
export function testSyncEnv(emulator: TikTokEmulator, resources: TestResources): Record<string, string> {
  return {
    ...emulatorEnv(emulator),
    ...localResourceEnv({ ...resources, webhookQueueUrl: undefined }),
    TIKTOK_MAX_RPS: "1000",
    SYNC_SETTLE_SECONDS: "0",
    SYNC_MAX_CLOCK_SKEW_SECONDS: "0",
    SYNC_OVERLAP_SECONDS: "300",
  };
}

export class SharedTestClock implements Clock {
  private offsetMs = 0;
  nowMs(): number {
    return Date.now() + this.offsetMs;
  }
  advanceSeconds(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }
}

export interface SyncHarness {
  readonly emulator: TikTokEmulator;
  readonly resources: TestResources;
  readonly runtime: Runtime;
  readonly clock: SharedTestClock;
  readonly metrics: MetricsRecorder;
  readonly log: LogRecorder;
  readonly shopId: string;
  /** Moves both clocks forward (the emulator stamps mutations with its own time). */
  advance(seconds: number): void;
  diff(): ReturnType<typeof diffWithTruth>;
  /** Another runtime on the same tables and emulator, e.g. a second Lambda container. */
  newRuntime(env?: Record<string, string>): Runtime;
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly emulator?: TikTokEmulatorOptions;
  readonly env?: Record<string, string>;
  readonly label?: string;
}

export async function startSyncHarness(options: HarnessOptions = {}): Promise<SyncHarness> {
  const emulator = await startTikTokEmulator({
    seed: 7,
    shops: [{ id: "shop-1", orders: 500 }],
    log: () => {},
    // Our clock moves with the emulator's, so signatures are checked against the emulator's time.
    timestampReference: "emulator",
    ...options.emulator,
  });
  const resources = await createTestResources({
    label: options.label ?? "sync",
    queues: { visibilityTimeoutSeconds: 3 },
  });
  const shop = emulator.shops()[0];
  if (!shop) throw new Error("the emulator has no shop");
  const tokens = emulator.issueTokens();
  const clock = new SharedTestClock();
  const metrics = new MetricsRecorder();
  const log = new LogRecorder();
  const runtimes: Runtime[] = [];
  const newRuntime = (env: Record<string, string> = {}) => {
    const config = parseConfig({
      ...testSyncEnv(emulator, resources),
      TIKTOK_SHOP_ID: shop.id,
      TIKTOK_SHOP_CIPHER: shop.cipher,
      ...options.env,
      ...env,
    });
    const runtime = new Runtime(config, {
      clock,
      metrics,
      log,
      dynamodb: resources.dynamodb,
      sqs: resources.sqs,
      credentials: {
        appKey: emulator.appKey,
        appSecret: emulator.appSecret,
        initialTokens: { accessToken: tokens.access_token, refreshToken: tokens.refresh_token },
      },
    });
    runtimes.push(runtime);
    return runtime;
  };
  const runtime = newRuntime();
  return {
    emulator,
    resources,
    runtime,
    clock,
    metrics,
    log,
    shopId: shop.id,
    advance(seconds) {
      emulator.advance(seconds);
      clock.advanceSeconds(seconds);
    },
    diff: () => diffWithTruth(resources.documents, resources.ordersTable, shop.id, emulator.truth(shop.id)),
    newRuntime,
    async close() {
      for (const each of runtimes) each.destroy();
      resources.destroy();
      await emulator.stop();
    },
  };
}
