/**
 * The composition root: builds the sync core's adapters from configuration once (at cold start on
 * Lambda, at start-up locally) and hands them to the handlers. Nothing here is a static singleton:
 * each call builds a fresh runtime, so tests run several side by side.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createDocumentClient, createDynamoDbClient, createSqsClient } from "../aws-clients";
import { type Clock, systemClock } from "../clock";
import type { SyncConfig } from "../config";
import { MetricName } from "../observability/metric-names";
import type { LogPort, MetricsPort } from "../observability/telemetry";
import { OrderStore, type UpsertStrategy } from "../store/order-store";
import { StateStore } from "../store/state-store";
import { DynamoTokenRepository } from "../store/token-repository";
import { ScopedApiCallMeter } from "../sync/full-resync/api-calls";
import {
  type IncrementalOutcome,
  type IncrementalSyncDeps,
  type RunOptions,
  runIncrementalSync,
} from "../sync/incremental";
import { ApiCallMeter, type ShopRef } from "../sync/ports";
import { HttpTikTokAuthClient } from "../tiktok/auth-client";
import {
  type ApiCallEvent,
  type ClientRetryOptions,
  createTikTokClient,
  type TikTokClient,
} from "../tiktok/client";
import { AdaptiveRateLimiter, perWorkerRps } from "../tiktok/rate-limiter";
import { TokenManager, type TokenPair } from "../tiktok/tokens";

export interface AppCredentials {
  readonly appKey: string;
  readonly appSecret: string;
  /** Seeds the TOKEN item on first run only. */
  readonly initialTokens?: { accessToken: string; refreshToken: string };
}

/** A shop this runtime syncs, when more than the one configured by TIKTOK_SHOP_ID (e.g. the local twin). */
export interface ShopSetup {
  readonly shopId: string;
  readonly shopCipher?: string;
  /** The shop's own authorization (seeds its TOKEN item on first run). */
  readonly initialTokens?: { accessToken: string; refreshToken: string };
}

export interface RuntimeOverrides {
  /** Shops to sync; defaults to TIKTOK_SHOP_ID (+ TIKTOK_SHOP_CIPHER). */
  readonly shops?: readonly ShopSetup[];
  readonly clock?: Clock;
  readonly fetch?: typeof fetch;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  readonly credentials: AppCredentials;
  readonly dynamodb?: DynamoDBClient;
  readonly sqs?: SQSClient;
  /** How many workers share the shop's request budget (1 for ticks and the API). */
  readonly budgetShare?: number;
  readonly upsertStrategy?: UpsertStrategy;
  readonly newRunId?: () => string;
  /** TikTok client tuning (tests, chaos runs): per-request timeout and retry schedule. */
  readonly tiktokClient?: { readonly timeoutMs?: number; readonly retry?: Partial<ClientRetryOptions> };
}

/** Everything that talks to TikTok for one shop: its client, token manager and call meter. */
export interface ShopRuntime {
  readonly ref: ShopRef;
  readonly client: TikTokClient;
  readonly meter: ApiCallMeter;
  readonly tokens: TokenManager;
}

export interface FullResyncPort {
  start(
    shopId: string,
    range: { from?: number; to?: number },
  ): Promise<{ jobId: string } & Record<string, unknown>>;
  cancel(shopId: string, jobId: string): Promise<Record<string, unknown>>;
  resume(shopId: string, jobId: string): Promise<Record<string, unknown>>;
  progress(shopId: string, jobId?: string): Promise<Record<string, unknown> | undefined>;
  reconcile(shopId: string): Promise<void>;
  /** First sync: start a full resync, or join the one already running. */
  startOrJoin(shopId: string): Promise<{ jobId: string; started: boolean }>;
}

export class Runtime {
  readonly clock: Clock;
  readonly dynamodb: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly orders: OrderStore;
  readonly state: StateStore;
  readonly tokenRepository: DynamoTokenRepository;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  /** Every TikTok call of every shop, attributable to the full-resync message that made it. */
  readonly apiCalls = new ScopedApiCallMeter();
  private readonly shops = new Map<string, Promise<ShopRuntime>>();
  /** Wired by the full-resync module when present. */
  fullResync: FullResyncPort | undefined;

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
    });
    this.state = new StateStore({
      documents: this.documents,
      tableName: config.STATE_TABLE_NAME,
      clock: this.clock,
    });
    this.tokenRepository = new DynamoTokenRepository({
      documents: this.documents,
      tableName: config.STATE_TABLE_NAME,
      clock: this.clock,
    });
  }

  /** Configured shop ids (one today; discovery of every authorized shop comes with multi-shop support). */
  shopIds(): string[] {
    if (this.overrides.shops) return this.overrides.shops.map((shop) => shop.shopId);
    return this.config.TIKTOK_SHOP_ID ? [this.config.TIKTOK_SHOP_ID] : [];
  }

  private shopSetup(shopId: string): ShopSetup | undefined {
    return this.overrides.shops?.find((shop) => shop.shopId === shopId);
  }

  shop(shopId: string): Promise<ShopRuntime> {
    let shop = this.shops.get(shopId);
    if (!shop) {
      shop = this.buildShop(shopId);
      this.shops.set(shopId, shop);
      shop.catch(() => this.shops.delete(shopId));
    }
    return shop;
  }

  private async buildShop(shopId: string): Promise<ShopRuntime> {
    const { config, clock } = this;
    const { credentials } = this.overrides;
    const meter = new ApiCallMeter();
    const onApiCall = (event: ApiCallEvent) => {
      meter.record(event);
      this.apiCalls.record(event);
    };
    const authClient = new HttpTikTokAuthClient({
      authBaseUrl: config.TIKTOK_AUTH_BASE_URL,
      appKey: credentials.appKey,
      appSecret: credentials.appSecret,
      clock,
      onApiCall,
      ...(this.overrides.fetch ? { fetch: this.overrides.fetch } : {}),
    });
    const seedTokens = this.shopSetup(shopId)?.initialTokens ?? credentials.initialTokens;
    const initialPair: TokenPair | undefined = seedTokens
      ? {
          accessToken: seedTokens.accessToken,
          // Unknown until the first refresh: treat as valid; a rejection triggers the refresh.
          accessTokenExpiresAt: Math.floor(clock.nowMs() / 1000) + 6 * 24 * 3600,
          refreshToken: seedTokens.refreshToken,
          refreshTokenExpiresAt: 0,
        }
      : undefined;
    const tokens = new TokenManager({
      shopId,
      repository: this.tokenRepository,
      authClient,
      clock,
      ...(initialPair ? { initialPair } : {}),
      onRefresh: (event) => {
        if (event.outcome === "failed")
          this.metrics.record(shopId, MetricName.TokenRefreshFailed, 1, "Count");
        if (event.outcome === "reauth_required")
          this.metrics.record(shopId, MetricName.NeedsReauth, 1, "Count");
      },
    });
    const client = createTikTokClient({
      baseUrl: config.TIKTOK_API_BASE_URL,
      appKey: credentials.appKey,
      appSecret: credentials.appSecret,
      tokens,
      rateLimiter: new AdaptiveRateLimiter({
        maxRps: perWorkerRps(config.TIKTOK_MAX_RPS, this.overrides.budgetShare ?? 1),
        clock,
      }),
      clock,
      onApiCall,
      ...(this.overrides.fetch ? { fetch: this.overrides.fetch } : {}),
      ...(this.overrides.tiktokClient?.timeoutMs !== undefined
        ? { timeoutMs: this.overrides.tiktokClient.timeoutMs }
        : {}),
      ...(this.overrides.tiktokClient?.retry ? { retry: this.overrides.tiktokClient.retry } : {}),
    });
    const shopCipher = await this.resolveCipher(shopId, client);
    return { ref: { shopId, shopCipher }, client, meter, tokens };
  }

  /** The configured cipher, else the one remembered in META, else asked of TikTok once and remembered. */
  private async resolveCipher(shopId: string, client: TikTokClient): Promise<string> {
    if (this.config.TIKTOK_SHOP_CIPHER && shopId === this.config.TIKTOK_SHOP_ID)
      return this.config.TIKTOK_SHOP_CIPHER;
    const remembered = (await this.state.getMeta(shopId))?.shop_cipher;
    if (remembered) return remembered;
    const shop = (await client.getAuthorizedShops()).find((candidate) => candidate.id === shopId);
    if (!shop) throw new Error(`shop ${shopId} is not among the shops this access token is authorized for`);
    await this.state.updateMeta(shopId, { shop_cipher: shop.cipher });
    return shop.cipher;
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
      ...(fullResync ? { startFullResync: (id: string) => fullResync.startOrJoin(id) } : {}),
      ...(this.overrides.newRunId ? { newRunId: this.overrides.newRunId } : {}),
    };
  }

  async incremental(shopId: string, options: RunOptions = {}): Promise<IncrementalOutcome> {
    const shop = await this.shop(shopId);
    return runIncrementalSync(this.incrementalDeps(shop), shop.ref, options);
  }

  destroy(): void {
    if (!this.overrides.dynamodb) this.dynamodb.destroy();
    if (!this.overrides.sqs) this.sqs.destroy();
  }
}
