/**
 * The composition root: builds the sync core's adapters and operations from configuration once (at cold
 * start on Lambda, at start-up locally), complete at construction: stores, queues, the shops and their
 * TikTok clients, the incremental sync, and — with a work queue configured — the full resync and the
 * reconciliation. Nothing here is a static singleton: tests run several runtimes side by side.
 */

import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createDocumentClient, createDynamoDbClient, createSqsClient } from "../aws-clients";
import { type Clock, systemClock } from "../clock";
import type { SyncConfig } from "../config";
import type { LogPort, MetricsPort } from "../observability/telemetry";
import { OrderStore, type UpsertStrategy } from "../store/order-store";
import { ShopDirectory } from "../store/shop-directory";
import { StateStore } from "../store/state-store";
import { DynamoTokenRepository } from "../store/token-repository";
import { ScopedApiCallMeter } from "../sync/full-resync/api-calls";
import { type IncrementalOutcome, type RunOptions, runIncrementalSync } from "../sync/incremental";
import type { IncrementalSyncDeps } from "../sync/incremental-deps";
import { buildFullResync, type FullResync, type FullResyncWiringOptions } from "./full-resync-wiring";
import { buildReconciliation, type Reconciliation } from "./reconciliation-wiring";
import { ShopRegistry, type ShopRegistryDeps, type ShopRuntime } from "./shop-registry";

export type { AppCredentials } from "./credentials";
export type { AuthorizationSetup, ShopEntry, ShopRuntime, ShopSetup } from "./shop-registry";

export interface RuntimeOverrides
  extends Omit<
    ShopRegistryDeps,
    "config" | "clock" | "state" | "tokenRepository" | "shopDirectory" | "apiCalls" | "metrics" | "log"
  > {
  readonly clock?: Clock;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  /** Clients the caller owns (and destroys); otherwise built from the configured endpoints. */
  readonly dynamodb?: DynamoDBClient;
  readonly sqs?: SQSClient;
  readonly upsertStrategy?: UpsertStrategy;
  readonly newRunId?: () => string;
  /** Full resync and reconciliation tuning (tests, the benchmark, the local stack). */
  readonly fullResync?: FullResyncWiringOptions;
}

export class Runtime {
  readonly clock: Clock;
  readonly dynamodb: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly orders: OrderStore;
  readonly state: StateStore;
  readonly tokenRepository: DynamoTokenRepository;
  readonly shopDirectory: ShopDirectory;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  /** Every TikTok call of every shop, attributable to the full-resync message that made it. */
  readonly apiCalls = new ScopedApiCallMeter();
  /** The shops synced and their TikTok access (clients, tokens, ciphers). */
  readonly shops: ShopRegistry;
  /** Present when a work queue is configured (WORK_QUEUE_URL): the tick, API, worker and reconcile use it. */
  readonly fullResync: FullResync | undefined;
  /** The reconciliation (issue 18), beside the full resync: it heals through ranged jobs. */
  readonly reconciliation: Reconciliation | undefined;

  constructor(
    readonly config: SyncConfig,
    private readonly overrides: RuntimeOverrides,
  ) {
    this.clock = overrides.clock ?? systemClock;
    const endpoints = {
      dynamodbEndpoint: config.DYNAMODB_ENDPOINT,
      sqsEndpoint: config.SQS_ENDPOINT,
      region: config.AWS_REGION,
    };
    this.dynamodb = overrides.dynamodb ?? createDynamoDbClient(endpoints);
    this.sqs = overrides.sqs ?? createSqsClient(endpoints);
    this.documents = createDocumentClient(this.dynamodb);
    this.metrics = overrides.metrics;
    this.log = overrides.log;
    this.orders = new OrderStore({
      documents: this.documents,
      tableName: config.ORDERS_TABLE_NAME,
      ...(overrides.upsertStrategy ? { strategy: overrides.upsertStrategy } : {}),
      ...(config.ORDER_RETENTION_DAYS ? { retentionDays: config.ORDER_RETENTION_DAYS } : {}),
    });
    const table = { documents: this.documents, tableName: config.STATE_TABLE_NAME };
    this.state = new StateStore({ ...table, clock: this.clock });
    this.tokenRepository = new DynamoTokenRepository({ ...table, clock: this.clock });
    this.shopDirectory = new ShopDirectory(table);
    this.shops = new ShopRegistry({
      ...overrides,
      config,
      clock: this.clock,
      state: this.state,
      tokenRepository: this.tokenRepository,
      shopDirectory: this.shopDirectory,
      apiCalls: this.apiCalls,
    });
    if (config.WORK_QUEUE_URL) {
      const parts = {
        config,
        documents: this.documents,
        sqs: this.sqs,
        workQueueUrl: config.WORK_QUEUE_URL,
        state: this.state,
        orders: this.orders,
        shops: this.shops,
        apiCalls: this.apiCalls,
        clock: this.clock,
        metrics: this.metrics,
        log: this.log,
      };
      this.fullResync = buildFullResync(parts, overrides.fullResync);
      this.reconciliation = buildReconciliation(
        parts,
        this.fullResync.deps,
        overrides.fullResync?.reconciliation,
      );
    } else {
      this.fullResync = undefined;
      this.reconciliation = undefined;
    }
  }

  /** The full resync, or a clear error where the deployment configured no work queue. */
  requireFullResync(): FullResync {
    if (!this.fullResync) throw new Error("WORK_QUEUE_URL is required: full resyncs run on the work queue");
    return this.fullResync;
  }

  /** Whether the app credentials are there; when not, why (status shows it, sync routes refuse). */
  configuration() {
    return this.shops.configuration();
  }

  /** The incremental sync's ports for one shop (tests wrap `tiktok` to inject events between pages). */
  incrementalDeps(shop: ShopRuntime): IncrementalSyncDeps {
    const fullResync = this.fullResync;
    return {
      tiktok: shop.client,
      apiCalls: shop.meter,
      orders: this.orders,
      state: this.state,
      clock: this.clock,
      metrics: this.metrics,
      log: this.log,
      settings: {
        overlapSeconds: this.config.SYNC_OVERLAP_SECONDS,
        settleSeconds: this.config.SYNC_SETTLE_SECONDS,
        lockLeaseMs: this.config.SYNC_LOCK_LEASE_SECONDS * 1000,
        storeRecipientData: this.config.STORE_RECIPIENT_DATA,
      },
      ...(fullResync ? { startFullResync: (id, options) => fullResync.startOrJoin(id, options) } : {}),
      ...(this.overrides.newRunId ? { newRunId: this.overrides.newRunId } : {}),
    };
  }

  async incremental(shopId: string, options: RunOptions = {}): Promise<IncrementalOutcome> {
    const shop = await this.shops.open(shopId);
    return runIncrementalSync(this.incrementalDeps(shop), shop.ref, options);
  }

  destroy(): void {
    if (!this.overrides.dynamodb) this.dynamodb.destroy();
    if (!this.overrides.sqs) this.sqs.destroy();
  }
}
