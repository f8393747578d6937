/**
 * Several shops for integration tests: one TikTok emulator over HTTP holding every shop, tables and queues
 * on the run's DynamoDB Local and SQS emulator, and production Runtimes (full resync wired, workers driven
 * by the local SQS poller as `npm start` runs them) on a clock that moves with the emulator's.
 */
import { makeWorkerHandler } from "../../functions/worker/handler-core";
import { type SqsPoller, startSqsPoller } from "../../infra/local/sqs-poller";
import {
  type EmulatorShopOptions,
  startTikTokEmulator,
  type TikTokEmulator,
  type TikTokEmulatorOptions,
} from "../../infra/local/tiktok-emulator";
import { Runtime, type RuntimeOverrides } from "../../shared/app/runtime";
import { parseConfig } from "../../shared/config";
import { LogRecorder, MetricsRecorder } from "../../shared/observability/telemetry";
import type { FullResyncDeps, FullResyncSettings } from "../../shared/sync/full-resync/deps";
import { createTestResources, type TestResources } from "./local-aws";
import { SharedTestClock, testSyncEnv } from "./sync-harness";
import { diffWithTruth, type TruthDiff } from "./truth";

export const VISIBILITY_TIMEOUT_SECONDS = 5;

export interface MultiShopHarness {
  readonly emulator: TikTokEmulator;
  readonly resources: TestResources;
  readonly clock: SharedTestClock;
  readonly metrics: MetricsRecorder;
  readonly log: LogRecorder;
  /** The environment every runtime of this harness is configured with. */
  readonly env: Record<string, string>;
  /** A runtime (a Lambda container) with its full resync; its worker deps for a poller. */
  newRuntime(
    overrides?: Partial<
      Pick<
        RuntimeOverrides,
        "authorizations" | "shops" | "tokenManager" | "rateShare" | "fetch" | "fullResync"
      >
    >,
    env?: Record<string, string>,
    /** Full-resync settings beyond the config's (e.g. maxProbes: the planner sizes windows by probes). */
    fullResync?: Partial<FullResyncSettings>,
  ): { runtime: Runtime; workerDeps: FullResyncDeps };
  startWorkers(workerDeps: FullResyncDeps, concurrency?: number): SqsPoller;
  advance(seconds: number): void;
  diff(shopId: string): Promise<TruthDiff>;
  close(): Promise<void>;
}

export async function startMultiShopHarness(options: {
  readonly label: string;
  readonly shops: readonly EmulatorShopOptions[];
  readonly emulator?: Partial<TikTokEmulatorOptions>;
  readonly env?: Record<string, string>;
  /** Authorizations and their seed pairs, from the emulator (default: one grant covering every shop). */
  readonly authorizations?: (emulator: TikTokEmulator) => RuntimeOverrides["authorizations"];
}): Promise<MultiShopHarness> {
  const emulator = await startTikTokEmulator({
    seed: 10,
    shops: options.shops,
    historyDays: 90,
    log: () => {},
    timestampReference: "emulator",
    ...options.emulator,
  });
  const resources = await createTestResources({
    label: options.label,
    queues: { visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS },
  });
  const clock = new SharedTestClock();
  const metrics = new MetricsRecorder();
  const log = new LogRecorder();
  const authorizations =
    options.authorizations?.(emulator) ??
    (() => {
      const tokens = emulator.issueTokens();
      return [
        {
          authId: "default",
          initialTokens: { accessToken: tokens.access_token, refreshToken: tokens.refresh_token },
        },
      ];
    })();
  const env: Record<string, string> = {
    ...testSyncEnv(emulator, resources),
    ...(authorizations ? { TIKTOK_AUTHORIZATIONS: authorizations.map((auth) => auth.authId).join(",") } : {}),
    ...options.env,
  };
  const runtimes: Runtime[] = [];
  const pollers: SqsPoller[] = [];
  return {
    emulator,
    resources,
    clock,
    metrics,
    log,
    env,
    newRuntime(overrides = {}, extraEnv = {}, fullResync = {}) {
      const runtime = new Runtime(parseConfig({ ...env, ...extraEnv }), {
        clock,
        metrics,
        log,
        dynamodb: resources.dynamodb,
        sqs: resources.sqs,
        credentials: { appKey: emulator.appKey, appSecret: emulator.appSecret },
        ...(authorizations ? { authorizations } : {}),
        tokenManager: { refreshBaseDelayMs: 20, refreshMaxDelayMs: 100 },
        ...overrides,
        fullResync: {
          ...overrides.fullResync,
          settings: {
            visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
            maxReceiveCount: 5,
            ...fullResync,
            ...overrides.fullResync?.settings,
          },
        },
      });
      runtimes.push(runtime);
      return { runtime, workerDeps: runtime.requireFullResync().deps };
    },
    startWorkers(workerDeps, concurrency = 4) {
      const poller = startSqsPoller({
        sqs: resources.sqs,
        queueUrl: resources.workQueueUrl,
        handler: makeWorkerHandler(workerDeps),
        batchSize: 1,
        concurrency,
        waitTimeSeconds: 1,
        log: workerDeps.log,
      });
      pollers.push(poller);
      return poller;
    },
    advance(seconds) {
      emulator.advance(seconds);
      clock.advanceSeconds(seconds);
    },
    diff: (shopId) =>
      diffWithTruth(resources.documents, resources.ordersTable, shopId, emulator.truth(shopId)),
    async close() {
      for (const poller of pollers) await poller.stop().catch(() => undefined);
      for (const runtime of runtimes) runtime.destroy();
      resources.destroy();
      await emulator.stop();
    },
  };
}
