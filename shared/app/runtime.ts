/**
 * The composition root: builds the sync core's adapters from configuration once (at cold start on
 * Lambda, at start-up locally) and hands them to the handlers. Nothing here is a static singleton:
 * each call builds a fresh runtime, so tests run several side by side.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createDocumentClient, createDynamoDbClient, createSqsClient } from "../aws-clients";
import { type Clock, systemClock } from "../clock";
import { configuredShops, DEFAULT_AUTH_ID, type SyncConfig } from "../config";
import { MetricName } from "../observability/metric-names";
import type { LogPort, MetricsPort } from "../observability/telemetry";
import { OrderStore, type UpsertStrategy } from "../store/order-store";
import { type DiscoveredShop, ShopDirectory } from "../store/shop-directory";
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
  type AccessTokenProvider,
  type ApiCallEvent,
  type ClientRetryOptions,
  createTikTokClient,
  type HttpTracePort,
  type TikTokClient,
} from "../tiktok/client";
import { AdaptiveRateLimiter } from "../tiktok/rate-limiter";
import { type StoredTokenPair, TokenManager, type TokenManagerDeps, type TokenPair } from "../tiktok/tokens";
import type { TimedOptions } from "../time-budget";
import {
  type AppCredentials,
  CredentialsNotConfiguredError,
  type CredentialsState,
  credentialsConfigured,
} from "./credentials";
import type { ReconciliationPort } from "./reconciliation-wiring";

export type { AppCredentials } from "./credentials";

/** A shop this runtime syncs when the caller fixes the list (overrides TIKTOK_SHOPS / discovery). */
export interface ShopSetup {
  readonly shopId: string;
  readonly shopCipher?: string;
  /** The authorization whose token covers the shop (default: the first authorization). */
  readonly authId?: string;
}

/** An authorization (seller grant) when the caller fixes the list (overrides TIKTOK_AUTHORIZATIONS). */
export interface AuthorizationSetup {
  readonly authId: string;
  /** Seeds its TOKEN item on first run only. */
  readonly initialTokens?: { accessToken: string; refreshToken: string };
}

/** A shop as the runtime knows it: configured or discovered, with the authorization that covers it. */
export interface ShopEntry {
  readonly shopId: string;
  readonly shopCipher?: string;
  readonly authId: string;
}

export interface RuntimeOverrides {
  /** Shops to sync; defaults to TIKTOK_SHOPS, TIKTOK_SHOP_ID, or discovery per authorization. */
  readonly shops?: readonly ShopSetup[];
  /** Authorizations; defaults to TIKTOK_AUTHORIZATIONS (the first seeded by `credentials.initialTokens`). */
  readonly authorizations?: readonly AuthorizationSetup[];
  readonly clock?: Clock;
  readonly fetch?: typeof fetch;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  /** The app key and secret, or why there are none yet (then nothing calls TikTok: status only). */
  readonly credentials: CredentialsState;
  readonly dynamodb?: DynamoDBClient;
  readonly sqs?: SQSClient;
  /**
   * The fraction of each shop's TIKTOK_MAX_RPS this runtime's limiters may use (shared/tiktok/rate-budget.ts:
   * tick, API and each worker instance take a share on AWS). Default 1: one process, one limiter per shop.
   */
  readonly rateShare?: number;
  readonly upsertStrategy?: UpsertStrategy;
  readonly newRunId?: () => string;
  /** Token refresh tuning (tests shorten the backoff). */
  readonly tokenManager?: Partial<
    Pick<TokenManagerDeps, "refreshAttempts" | "refreshBaseDelayMs" | "refreshMaxDelayMs" | "leaseMs">
  >;
  /** Traces every TikTok HTTP request (X-Ray subsegments on Lambda). */
  readonly trace?: HttpTracePort;
  /** TikTok client tuning (tests, chaos runs): per-request timeout and retry schedule. */
  readonly tiktokClient?: { readonly timeoutMs?: number; readonly retry?: Partial<ClientRetryOptions> };
}

/** Everything that talks to TikTok for one shop: its client, token manager and call meter. */
export interface ShopRuntime {
  readonly ref: ShopRef;
  readonly authId: string;
  readonly client: TikTokClient;
  readonly meter: ApiCallMeter;
  readonly tokens: TokenManager;
}

/** One authorization: its shared token manager and a shop-less client (shop discovery). */
export interface AuthorizationRuntime {
  readonly authId: string;
  readonly tokens: TokenManager;
  readonly client: TikTokClient;
}

/** Token state of a shop's authorization, for status and the tick (never the tokens themselves). */
export interface TokenStatus {
  readonly authId: string;
  readonly pair: StoredTokenPair | undefined;
}

/** A failed discovery is retried after this long (the remembered list is used meanwhile). */
const DISCOVERY_RETRY_MS = 60_000;

export interface FullResyncPort {
  start(
    shopId: string,
    range: { from?: number; to?: number },
    options?: TimedOptions,
  ): Promise<{ jobId: string } & Record<string, unknown>>;
  cancel(shopId: string, jobId: string): Promise<Record<string, unknown>>;
  resume(shopId: string, jobId: string): Promise<Record<string, unknown>>;
  progress(shopId: string, jobId?: string): Promise<Record<string, unknown> | undefined>;
  reconcile(shopId: string, options?: TimedOptions): Promise<void>;
  /** First sync: start a full resync, or join the one already running. */
  startOrJoin(shopId: string, options?: TimedOptions): Promise<{ jobId: string; started: boolean }>;
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
  private readonly shops = new Map<string, Promise<ShopRuntime>>();
  private readonly auths = new Map<string, AuthorizationRuntime>();
  /** Discovered shops per authorization, reused until `untilMs`. */
  private readonly discovered = new Map<
    string,
    { shops: ShopEntry[]; untilMs: number; pending?: Promise<ShopEntry[]> }
  >();
  /** Every shop seen by the last listings: which authorization covers it (read synchronously). */
  private readonly known = new Map<string, ShopEntry>();
  /** Token calls are counted to the shop whose request needed them. */
  private readonly tokenCallScope = new AsyncLocalStorage<ApiCallMeter>();
  /** Wired by the full-resync module when present. */
  fullResync: FullResyncPort | undefined;
  /** The reconciliation (issue 18), wired with the full resync (it heals through ranged jobs). */
  reconciliation: ReconciliationPort | undefined;

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
    this.shopDirectory = new ShopDirectory({ documents: this.documents, tableName: config.STATE_TABLE_NAME });
  }

  /** Whether the app credentials are there; when not, why (status shows it, sync routes refuse). */
  configuration(): { readonly configured: true } | { readonly configured: false; readonly reason: string } {
    const { credentials } = this.overrides;
    return credentialsConfigured(credentials)
      ? { configured: true }
      : { configured: false, reason: credentials.notConfigured };
  }

  /** The app credentials, or CredentialsNotConfiguredError: nothing may call TikTok without them. */
  private requireCredentials(): AppCredentials {
    const { credentials } = this.overrides;
    if (!credentialsConfigured(credentials))
      throw new CredentialsNotConfiguredError(credentials.notConfigured);
    return credentials;
  }

  /** The authorizations (token pairs) this runtime uses; the first is the default. */
  authorizationIds(): string[] {
    if (this.overrides.authorizations) return this.overrides.authorizations.map((auth) => auth.authId);
    return [...this.config.TIKTOK_AUTHORIZATIONS];
  }

  private defaultAuthId(): string {
    return this.authorizationIds()[0] ?? DEFAULT_AUTH_ID;
  }

  /** The configured shop list (overrides, TIKTOK_SHOPS, TIKTOK_SHOP_ID), or undefined: discover. */
  private configuredShops(): ShopEntry[] | undefined {
    if (this.overrides.shops) {
      return this.overrides.shops.map((shop) => ({
        shopId: shop.shopId,
        ...(shop.shopCipher ? { shopCipher: shop.shopCipher } : {}),
        authId: shop.authId ?? this.defaultAuthId(),
      }));
    }
    return configuredShops(this.config);
  }

  /**
   * Every shop to sync: the configured list, else the shops each authorization's token covers
   * (`GET /authorization/202309/shops`, remembered in the state table and reused for
   * SHOP_DISCOVERY_TTL_SECONDS). An authorization that cannot be asked (e.g. it needs re-authorizing)
   * contributes the shops it had last time, so they stay visible in status.
   */
  async listShops(options: { rediscover?: boolean } = {}): Promise<ShopEntry[]> {
    const configured = this.configuredShops();
    const shops: ShopEntry[] = [];
    if (configured) shops.push(...configured);
    else {
      if (options.rediscover) this.discovered.clear();
      const lists = await Promise.all(
        this.authorizationIds().map((authId) => this.discover(authId, options.rediscover === true)),
      );
      const seen = new Set<string>();
      for (const shop of lists.flat()) {
        if (seen.has(shop.shopId)) continue; // a shop granted twice: the first authorization covers it
        seen.add(shop.shopId);
        shops.push(shop);
      }
    }
    for (const shop of shops) this.known.set(shop.shopId, shop);
    return shops;
  }

  async shopIds(): Promise<string[]> {
    return (await this.listShops()).map((shop) => shop.shopId);
  }

  /** The shop's entry (configured or discovered), or undefined for a shop this runtime does not sync. */
  async shopEntry(shopId: string): Promise<ShopEntry | undefined> {
    return this.known.get(shopId) ?? (await this.listShops()).find((shop) => shop.shopId === shopId);
  }

  private discover(authId: string, skipStored = false): Promise<ShopEntry[]> {
    const nowMs = this.clock.nowMs();
    const cached = this.discovered.get(authId);
    if (cached?.pending) return cached.pending;
    if (cached && cached.untilMs > nowMs) return Promise.resolve(cached.shops);
    const ttlMs = this.config.SHOP_DISCOVERY_TTL_SECONDS * 1000;
    const toEntries = (shops: readonly DiscoveredShop[]): ShopEntry[] =>
      shops.map((shop) => ({ shopId: shop.shopId, shopCipher: shop.shopCipher, authId }));
    const pending = (async () => {
      const stored = await this.shopDirectory.get(authId).catch(() => undefined);
      // Without credentials TikTok cannot be asked: the shops found last time are all there is.
      const unconfigured = !this.configuration().configured;
      if (stored && (unconfigured || (!skipStored && nowMs - stored.fetchedAtMs < ttlMs))) {
        const shops = toEntries(stored.shops);
        this.discovered.set(authId, { shops, untilMs: stored.fetchedAtMs + ttlMs });
        return shops;
      }
      if (unconfigured) {
        this.discovered.set(authId, { shops: [], untilMs: this.clock.nowMs() + DISCOVERY_RETRY_MS });
        return [];
      }
      try {
        const found = await this.authorization(authId).client.getAuthorizedShops();
        const shops: DiscoveredShop[] = found
          .filter((shop) => typeof shop.id === "string" && typeof shop.cipher === "string")
          .map((shop) => ({
            shopId: shop.id,
            shopCipher: shop.cipher,
            ...(typeof shop.name === "string" ? { name: shop.name } : {}),
            ...(typeof shop.region === "string" ? { region: shop.region } : {}),
          }));
        await this.shopDirectory.put(authId, { shops, fetchedAtMs: this.clock.nowMs() });
        const entries = toEntries(shops);
        this.discovered.set(authId, { shops: entries, untilMs: this.clock.nowMs() + ttlMs });
        return entries;
      } catch (error) {
        this.log.warn("shop discovery failed; using the shops found last time", {
          authId,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
        const entries = toEntries(stored?.shops ?? []);
        this.discovered.set(authId, {
          shops: entries,
          untilMs: this.clock.nowMs() + Math.min(ttlMs, DISCOVERY_RETRY_MS),
        });
        return entries;
      }
    })();
    this.discovered.set(authId, { shops: cached?.shops ?? [], untilMs: 0, pending });
    return pending;
  }

  /** Forgets discovered shop lists (e.g. after a new authorization was installed). */
  forgetDiscoveredShops(): void {
    this.discovered.clear();
  }

  /** The authorization's shared token manager and shop-less client, built once per runtime. */
  authorization(authId: string): AuthorizationRuntime {
    let auth = this.auths.get(authId);
    if (!auth) {
      auth = this.buildAuthorization(authId);
      this.auths.set(authId, auth);
    }
    return auth;
  }

  private buildAuthorization(authId: string): AuthorizationRuntime {
    const { config, clock } = this;
    const credentials = this.requireCredentials();
    const onApiCall = (event: ApiCallEvent) => {
      this.tokenCallScope.getStore()?.record(event);
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
    const seedTokens = this.overrides.authorizations
      ? this.overrides.authorizations.find((auth) => auth.authId === authId)?.initialTokens
      : authId === this.defaultAuthId()
        ? credentials.initialTokens
        : undefined;
    const initialPair: TokenPair | undefined = seedTokens
      ? {
          accessToken: seedTokens.accessToken,
          // Unknown until the first refresh: treat as valid; a rejection triggers the refresh.
          accessTokenExpiresAt: Math.floor(clock.nowMs() / 1000) + 6 * 24 * 3600,
          refreshToken: seedTokens.refreshToken,
          refreshTokenExpiresAt: 0,
        }
      : undefined;
    const legacyShops = (this.configuredShops() ?? [])
      .filter((shop) => shop.authId === authId)
      .map((shop) => shop.shopId);
    const tokens = new TokenManager({
      authId,
      repository: this.tokenRepository,
      authClient,
      clock,
      ...this.overrides.tokenManager,
      ...(initialPair ? { initialPair } : {}),
      ...(legacyShops.length > 0
        ? { migrate: () => this.tokenRepository.adoptLegacy(authId, legacyShops) }
        : {}),
      onRefresh: (event) => {
        if (event.outcome === "refreshed") return;
        // A metric per shop of the authorization: the dashboard and alarms are per shop.
        const shops = [...this.known.values()].filter((shop) => shop.authId === authId);
        for (const shop of shops) {
          this.metrics.record(shop.shopId, MetricName.TokenRefreshFailed, 1, "Count");
          if (event.outcome === "reauth_required")
            this.metrics.record(shop.shopId, MetricName.NeedsReauth, 1, "Count");
        }
        const fields = { authId, shops: shops.map((shop) => shop.shopId) };
        if (event.outcome === "reauth_required")
          this.log.error(
            "TikTok authorization needs re-authorizing: its shops make no calls until npm run reauth installs a new pair",
            fields,
          );
        else if (event.outcome === "save_failed")
          this.log.error(
            "refreshed token pair not saved to its TOKEN item yet: in use here (and in its pending copy if that write landed), saved at the next read",
            fields,
          );
        else this.log.warn("token refresh failed; the stored pair is kept and retried", fields);
      },
    });
    const client = createTikTokClient({
      baseUrl: config.TIKTOK_API_BASE_URL,
      appKey: credentials.appKey,
      appSecret: credentials.appSecret,
      tokens,
      rateLimiter: new AdaptiveRateLimiter({ maxRps: this.shopRps(), clock }),
      clock,
      onApiCall,
      ...(this.overrides.fetch ? { fetch: this.overrides.fetch } : {}),
      ...(this.overrides.trace ? { trace: this.overrides.trace } : {}),
    });
    return { authId, tokens, client };
  }

  /** Requests per second this runtime may send for one shop: its share of TIKTOK_MAX_RPS. */
  shopRps(): number {
    return this.config.TIKTOK_MAX_RPS * (this.overrides.rateShare ?? 1);
  }

  /** The shop's authorization and its stored token state (for status and the tick's re-auth check). */
  async tokenStatus(shopId: string): Promise<TokenStatus> {
    const authId = (await this.shopEntry(shopId))?.authId ?? this.defaultAuthId();
    return { authId, pair: await this.tokenRepository.get(authId) };
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
    const credentials = this.requireCredentials();
    const entry = await this.shopEntry(shopId);
    if (!entry) throw new Error(`shop ${shopId} is neither configured nor among the discovered shops`);
    const auth = this.authorization(entry.authId);
    const meter = new ApiCallMeter();
    const onApiCall = (event: ApiCallEvent) => {
      meter.record(event);
      this.apiCalls.record(event);
    };
    // The authorization's manager, with token calls counted to this shop's meter.
    const tokens: AccessTokenProvider = {
      getAccessToken: () => this.tokenCallScope.run(meter, () => auth.tokens.getAccessToken()),
      refreshAfterRejection: (rejected) =>
        this.tokenCallScope.run(meter, () => auth.tokens.refreshAfterRejection(rejected)),
    };
    const client = createTikTokClient({
      baseUrl: config.TIKTOK_API_BASE_URL,
      appKey: credentials.appKey,
      appSecret: credentials.appSecret,
      tokens,
      rateLimiter: new AdaptiveRateLimiter({ maxRps: this.shopRps(), clock }),
      clock,
      onApiCall,
      ...(this.overrides.fetch ? { fetch: this.overrides.fetch } : {}),
      ...(this.overrides.trace ? { trace: this.overrides.trace } : {}),
      ...(this.overrides.tiktokClient?.timeoutMs !== undefined
        ? { timeoutMs: this.overrides.tiktokClient.timeoutMs }
        : {}),
      ...(this.overrides.tiktokClient?.retry ? { retry: this.overrides.tiktokClient.retry } : {}),
    });
    const shopCipher = await this.resolveCipher(entry, client);
    return { ref: { shopId, shopCipher }, authId: entry.authId, client, meter, tokens: auth.tokens };
  }

  /** The configured or discovered cipher, else the one remembered in META, else asked of TikTok once. */
  private async resolveCipher(entry: ShopEntry, client: TikTokClient): Promise<string> {
    const { shopId } = entry;
    if (entry.shopCipher) return entry.shopCipher;
    const remembered = (await this.state.getMeta(shopId))?.shop_cipher;
    if (remembered) return remembered;
    const shop = (await client.getAuthorizedShops()).find((candidate) => candidate.id === shopId);
    if (!shop)
      throw new Error(
        `shop ${shopId} is not among the shops authorization ${entry.authId} covers (GET /authorization/202309/shops)`,
      );
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
      ...(fullResync
        ? { startFullResync: (id: string, options: TimedOptions) => fullResync.startOrJoin(id, options) }
        : {}),
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
