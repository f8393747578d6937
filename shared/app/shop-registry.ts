/**
 * The shops this deployment syncs and how each is reached: configured, or discovered per authorization
 * (remembered in the state table for SHOP_DISCOVERY_TTL_SECONDS); one token manager per authorization;
 * per shop a TikTok client with its share of the request budget, its call meter and its cipher. Token
 * calls are counted to the shop whose request needed them. Built once by the Runtime.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Clock } from "../clock";
import { configuredShops, DEFAULT_AUTH_ID, type SyncConfig } from "../config";
import { MetricName } from "../observability/metric-names";
import type { LogPort, MetricsPort } from "../observability/telemetry";
import type { DiscoveredShop, ShopDirectory } from "../store/shop-directory";
import type { DynamoTokenRepository } from "../store/token-repository";
import type { ScopedApiCallMeter } from "../sync/full-resync/api-calls";
import { ApiCallMeter, type ShopRef, type SyncStateRepository } from "../sync/ports";
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
import {
  type AppCredentials,
  CredentialsNotConfiguredError,
  type CredentialsState,
  credentialsConfigured,
} from "./credentials";

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

export interface ShopRegistryDeps {
  readonly config: SyncConfig;
  readonly clock: Clock;
  /** The app key and secret, or why there are none yet (then nothing calls TikTok: status only). */
  readonly credentials: CredentialsState;
  /** Shops to sync; defaults to TIKTOK_SHOPS, TIKTOK_SHOP_ID, or discovery per authorization. */
  readonly shops?: readonly ShopSetup[] | undefined;
  /** Authorizations; defaults to TIKTOK_AUTHORIZATIONS (the first seeded by `credentials.initialTokens`). */
  readonly authorizations?: readonly AuthorizationSetup[] | undefined;
  readonly state: SyncStateRepository;
  readonly tokenRepository: DynamoTokenRepository;
  readonly shopDirectory: ShopDirectory;
  /** Every TikTok call of every shop, attributable to the full-resync message that made it. */
  readonly apiCalls: ScopedApiCallMeter;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  readonly fetch?: typeof fetch | undefined;
  /** The fraction of each shop's TIKTOK_MAX_RPS this process may use (shared/tiktok/rate-budget.ts). */
  readonly rateShare?: number | undefined;
  /** Token refresh tuning (tests shorten the backoff). */
  readonly tokenManager?:
    | Partial<
        Pick<TokenManagerDeps, "refreshAttempts" | "refreshBaseDelayMs" | "refreshMaxDelayMs" | "leaseMs">
      >
    | undefined;
  /** Traces every TikTok HTTP request (X-Ray subsegments on Lambda). */
  readonly trace?: HttpTracePort | undefined;
  /** TikTok client tuning (tests, chaos runs): per-request timeout and retry schedule. */
  readonly tiktokClient?:
    | { readonly timeoutMs?: number; readonly retry?: Partial<ClientRetryOptions> }
    | undefined;
}

export class ShopRegistry {
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

  constructor(private readonly deps: ShopRegistryDeps) {}

  /** Whether the app credentials are there; when not, why (status shows it, sync routes refuse). */
  configuration(): { readonly configured: true } | { readonly configured: false; readonly reason: string } {
    const { credentials } = this.deps;
    return credentialsConfigured(credentials)
      ? { configured: true }
      : { configured: false, reason: credentials.notConfigured };
  }

  /** The app credentials, or CredentialsNotConfiguredError: nothing may call TikTok without them. */
  private requireCredentials(): AppCredentials {
    const { credentials } = this.deps;
    if (!credentialsConfigured(credentials))
      throw new CredentialsNotConfiguredError(credentials.notConfigured);
    return credentials;
  }

  /** The authorizations (token pairs) this runtime uses; the first is the default. */
  authorizationIds(): string[] {
    if (this.deps.authorizations) return this.deps.authorizations.map((auth) => auth.authId);
    return [...this.deps.config.TIKTOK_AUTHORIZATIONS];
  }

  private defaultAuthId(): string {
    return this.authorizationIds()[0] ?? DEFAULT_AUTH_ID;
  }

  /** The configured shop list (overrides, TIKTOK_SHOPS, TIKTOK_SHOP_ID), or undefined: discover. */
  private configuredShops(): ShopEntry[] | undefined {
    if (this.deps.shops) {
      return this.deps.shops.map((shop) => ({
        shopId: shop.shopId,
        ...(shop.shopCipher ? { shopCipher: shop.shopCipher } : {}),
        authId: shop.authId ?? this.defaultAuthId(),
      }));
    }
    return configuredShops(this.deps.config);
  }

  /**
   * Every shop to sync: the configured list, else the shops each authorization's token covers
   * (`GET /authorization/202309/shops`, remembered in the state table and reused for
   * SHOP_DISCOVERY_TTL_SECONDS). An authorization that cannot be asked (e.g. it needs re-authorizing)
   * contributes the shops it had last time, so they stay visible in status.
   */
  async list(options: { rediscover?: boolean } = {}): Promise<ShopEntry[]> {
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

  async ids(): Promise<string[]> {
    return (await this.list()).map((shop) => shop.shopId);
  }

  /** The shop's entry (configured or discovered), or undefined for a shop this runtime does not sync. */
  async entry(shopId: string): Promise<ShopEntry | undefined> {
    return this.known.get(shopId) ?? (await this.list()).find((shop) => shop.shopId === shopId);
  }

  private discover(authId: string, skipStored = false): Promise<ShopEntry[]> {
    const nowMs = this.deps.clock.nowMs();
    const cached = this.discovered.get(authId);
    if (cached?.pending) return cached.pending;
    if (cached && cached.untilMs > nowMs) return Promise.resolve(cached.shops);
    const ttlMs = this.deps.config.SHOP_DISCOVERY_TTL_SECONDS * 1000;
    const toEntries = (shops: readonly DiscoveredShop[]): ShopEntry[] =>
      shops.map((shop) => ({ shopId: shop.shopId, shopCipher: shop.shopCipher, authId }));
    const pending = (async () => {
      const stored = await this.deps.shopDirectory.get(authId).catch(() => undefined);
      // Without credentials TikTok cannot be asked: the shops found last time are all there is.
      const unconfigured = !this.configuration().configured;
      if (stored && (unconfigured || (!skipStored && nowMs - stored.fetchedAtMs < ttlMs))) {
        const shops = toEntries(stored.shops);
        this.discovered.set(authId, { shops, untilMs: stored.fetchedAtMs + ttlMs });
        return shops;
      }
      if (unconfigured) {
        this.discovered.set(authId, { shops: [], untilMs: this.deps.clock.nowMs() + DISCOVERY_RETRY_MS });
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
        await this.deps.shopDirectory.put(authId, { shops, fetchedAtMs: this.deps.clock.nowMs() });
        const entries = toEntries(shops);
        this.discovered.set(authId, { shops: entries, untilMs: this.deps.clock.nowMs() + ttlMs });
        return entries;
      } catch (error) {
        this.deps.log.warn("shop discovery failed; using the shops found last time", {
          authId,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
        const entries = toEntries(stored?.shops ?? []);
        this.discovered.set(authId, {
          shops: entries,
          untilMs: this.deps.clock.nowMs() + Math.min(ttlMs, DISCOVERY_RETRY_MS),
        });
        return entries;
      }
    })();
    this.discovered.set(authId, { shops: cached?.shops ?? [], untilMs: 0, pending });
    return pending;
  }

  /** Forgets discovered shop lists (e.g. after a new authorization was installed). */
  forgetDiscovered(): void {
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
    const { config, clock } = this.deps;
    const credentials = this.requireCredentials();
    const onApiCall = (event: ApiCallEvent) => {
      this.tokenCallScope.getStore()?.record(event);
      this.deps.apiCalls.record(event);
    };
    const authClient = new HttpTikTokAuthClient({
      authBaseUrl: config.TIKTOK_AUTH_BASE_URL,
      appKey: credentials.appKey,
      appSecret: credentials.appSecret,
      clock,
      onApiCall,
      ...(this.deps.fetch ? { fetch: this.deps.fetch } : {}),
    });
    const seedTokens = this.deps.authorizations
      ? this.deps.authorizations.find((auth) => auth.authId === authId)?.initialTokens
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
      repository: this.deps.tokenRepository,
      authClient,
      clock,
      ...this.deps.tokenManager,
      ...(initialPair ? { initialPair } : {}),
      ...(legacyShops.length > 0
        ? { migrate: () => this.deps.tokenRepository.adoptLegacy(authId, legacyShops) }
        : {}),
      onRefresh: (event) => {
        if (event.outcome === "refreshed") return;
        // A metric per shop of the authorization: the dashboard and alarms are per shop.
        const shops = [...this.known.values()].filter((shop) => shop.authId === authId);
        for (const shop of shops) {
          this.deps.metrics.record(shop.shopId, MetricName.TokenRefreshFailed, 1, "Count");
          if (event.outcome === "reauth_required")
            this.deps.metrics.record(shop.shopId, MetricName.NeedsReauth, 1, "Count");
        }
        const fields = { authId, shops: shops.map((shop) => shop.shopId) };
        if (event.outcome === "reauth_required")
          this.deps.log.error(
            "TikTok authorization needs re-authorizing: its shops make no calls until npm run reauth installs a new pair",
            fields,
          );
        else if (event.outcome === "save_failed")
          this.deps.log.error(
            "refreshed token pair not saved to its TOKEN item yet: in use here (and in its pending copy if that write landed), saved at the next read",
            fields,
          );
        else this.deps.log.warn("token refresh failed; the stored pair is kept and retried", fields);
      },
    });
    const client = this.tiktokClient(credentials, tokens, onApiCall, { tuned: false });
    return { authId, tokens, client };
  }

  /** Requests per second this runtime may send for one shop: its share of TIKTOK_MAX_RPS. */
  rps(): number {
    return this.deps.config.TIKTOK_MAX_RPS * (this.deps.rateShare ?? 1);
  }

  /** The shop's authorization and its stored token state (for status and the tick's re-auth check). */
  async tokenStatus(shopId: string): Promise<TokenStatus> {
    const authId = (await this.entry(shopId))?.authId ?? this.defaultAuthId();
    return { authId, pair: await this.deps.tokenRepository.get(authId) };
  }

  /** The shop's TikTok access, built once (a failed build is retried at the next call). */
  open(shopId: string): Promise<ShopRuntime> {
    let shop = this.shops.get(shopId);
    if (!shop) {
      shop = this.buildShop(shopId);
      this.shops.set(shopId, shop);
      shop.catch(() => this.shops.delete(shopId));
    }
    return shop;
  }

  private async buildShop(shopId: string): Promise<ShopRuntime> {
    const credentials = this.requireCredentials();
    const entry = await this.entry(shopId);
    if (!entry) throw new Error(`shop ${shopId} is neither configured nor among the discovered shops`);
    const auth = this.authorization(entry.authId);
    const meter = new ApiCallMeter();
    const onApiCall = (event: ApiCallEvent) => {
      meter.record(event);
      this.deps.apiCalls.record(event);
    };
    // The authorization's manager, with token calls counted to this shop's meter.
    const tokens: AccessTokenProvider = {
      getAccessToken: () => this.tokenCallScope.run(meter, () => auth.tokens.getAccessToken()),
      refreshAfterRejection: (rejected) =>
        this.tokenCallScope.run(meter, () => auth.tokens.refreshAfterRejection(rejected)),
    };
    const client = this.tiktokClient(credentials, tokens, onApiCall, { tuned: true });
    const shopCipher = await this.resolveCipher(entry, client);
    return { ref: { shopId, shopCipher }, authId: entry.authId, client, meter, tokens: auth.tokens };
  }

  /**
   * A TikTok client with its own rate limiter (this process's share of the shop's budget). `tuned`: the
   * caller's timeout and retry tuning applies (shop clients; the authorization's discovery client keeps
   * the defaults).
   */
  private tiktokClient(
    credentials: AppCredentials,
    tokens: AccessTokenProvider,
    onApiCall: (event: ApiCallEvent) => void,
    options: { readonly tuned: boolean },
  ): TikTokClient {
    const { config, clock, fetch, trace, tiktokClient } = this.deps;
    return createTikTokClient({
      baseUrl: config.TIKTOK_API_BASE_URL,
      appKey: credentials.appKey,
      appSecret: credentials.appSecret,
      tokens,
      rateLimiter: new AdaptiveRateLimiter({ maxRps: this.rps(), clock }),
      clock,
      onApiCall,
      ...(fetch ? { fetch } : {}),
      ...(trace ? { trace } : {}),
      ...(options.tuned && tiktokClient?.timeoutMs !== undefined
        ? { timeoutMs: tiktokClient.timeoutMs }
        : {}),
      ...(options.tuned && tiktokClient?.retry ? { retry: tiktokClient.retry } : {}),
    });
  }

  /** The configured or discovered cipher, else the one remembered in META, else asked of TikTok once. */
  private async resolveCipher(entry: ShopEntry, client: TikTokClient): Promise<string> {
    const { shopId } = entry;
    if (entry.shopCipher) return entry.shopCipher;
    const remembered = (await this.deps.state.getMeta(shopId))?.shop_cipher;
    if (remembered) return remembered;
    const shop = (await client.getAuthorizedShops()).find((candidate) => candidate.id === shopId);
    if (!shop)
      throw new Error(
        `shop ${shopId} is not among the shops authorization ${entry.authId} covers (GET /authorization/202309/shops)`,
      );
    await this.deps.state.updateMeta(shopId, { shop_cipher: shop.cipher });
    return shop.cipher;
  }
}
