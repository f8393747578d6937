/**
 * An authorization's rotating access/refresh token pair, shared by every Lambda, worker and shop of that
 * authorization through the state table's versioned TOKEN item (`AUTH#<authId>`, README "Many shops and
 * tokens").
 *
 * Single flight across processes: whoever wins the conditional `claimRefresh` (on the version, with a
 * lease) calls TikTok and saves the rotated pair (version + 1); the others poll the item until the
 * version changes, the claim is released or its lease runs out (then they try to claim themselves).
 * Within one instance concurrent callers share one in-flight refresh.
 */
import { randomUUID } from "node:crypto";
import { type Clock, unixSeconds } from "../clock";
import { API_PATHS, type TokenData } from "./api-types";
import type { TikTokAuthClient } from "./auth-client";
import type { AccessTokenProvider } from "./client";
import { TikTokApiError, TikTokReauthRequiredError, TokenRefreshFailedError } from "./errors";
import { realSleep, type Sleep } from "./retry";

/** The token fields proper, as seeded or refreshed. */
export interface TokenPair {
  readonly accessToken: string;
  /** Unix seconds. */
  readonly accessTokenExpiresAt: number;
  readonly refreshToken: string;
  /** Unix seconds; 0 when unknown. */
  readonly refreshTokenExpiresAt: number;
}

export interface StoredTokenPair extends TokenPair {
  /** Bumped by every rotation; all writes are conditional on it. */
  readonly version: number;
  readonly needsReauth?: boolean;
  readonly reauthReason?: string;
  /** Owner of an in-progress refresh, and when its lease ends (epoch ms). */
  readonly refreshingBy?: string;
  readonly refreshingUntil?: number;
}

/** Port onto the TOKEN item; every write is conditional and reports whether it happened. */
export interface TokenRepository {
  get(authId: string): Promise<StoredTokenPair | undefined>;
  /** Claims the refresh iff the version matches, no reauth is pending and no live lease of another owner. */
  claimRefresh(authId: string, expectedVersion: number, owner: string, untilMs: number): Promise<boolean>;
  /** Stores the rotated pair atomically: version + 1, claim cleared. */
  saveRefreshed(authId: string, expectedVersion: number, pair: TokenPair): Promise<boolean>;
  /** Flags the pair as needing a new authorization (and clears the claim). */
  markNeedsReauth(authId: string, expectedVersion: number, reason: string): Promise<boolean>;
  /** Gives up a claim early (after failed attempts) so others need not wait for the lease. */
  releaseClaim(authId: string, expectedVersion: number, owner: string): Promise<boolean>;
  /** Creates the item only if absent (first run, from env or Secrets Manager). */
  seed(authId: string, pair: TokenPair): Promise<boolean>;
}

export type RefreshOutcome = "refreshed" | "failed" | "reauth_required";

export interface TokenManagerDeps {
  /** The authorization (seller grant) whose pair this manages; every shop of the grant shares it. */
  readonly authId: string;
  readonly repository: TokenRepository;
  readonly authClient: Pick<TikTokAuthClient, "refresh">;
  readonly clock: Clock;
  /** Refresh proactively when the access token expires within this (default 3600 s). */
  readonly refreshBeforeExpirySeconds?: number;
  /**
   * How long a claim keeps others waiting (default 20 s). It must cover one auth call (its timeout)
   * plus the backoff before the next; the owner renews it before every retry.
   */
  readonly leaseMs?: number;
  /** Identifies this instance in claims (default a random UUID). */
  readonly ownerId?: string;
  /** Seeded into the repository when no TOKEN item exists yet. */
  readonly initialPair?: TokenPair;
  /** Called before seeding when no TOKEN item exists (e.g. adopt a pre-authorization-layout item). */
  readonly migrate?: () => Promise<unknown>;
  /** Auth calls per refresh before TokenRefreshFailedError (default 3). */
  readonly refreshAttempts?: number;
  readonly refreshBaseDelayMs?: number;
  readonly refreshMaxDelayMs?: number;
  /** First poll delay of a waiting instance, doubled up to `maxPollIntervalMs` (defaults 50 / 1000). */
  readonly pollIntervalMs?: number;
  readonly maxPollIntervalMs?: number;
  /** After a proactive refresh (ok or failed), the next proactive one waits this long (default 60 s). */
  readonly proactiveCooldownMs?: number;
  readonly sleep?: Sleep;
  readonly random?: () => number;
  /** For the `TokenRefreshFailed` metric and alarms. Never receives tokens. */
  readonly onRefresh?: (event: { authId: string; outcome: RefreshOutcome; version: number }) => void;
}

/** A token this close to expiry is treated as expired (clock skew, request latency). */
const EXPIRY_SAFETY_SECONDS = 60;
const ENDPOINT = API_PATHS.tokenRefresh;

export class TokenManager implements AccessTokenProvider {
  private readonly deps: TokenManagerDeps;
  private readonly ownerId: string;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private cached: StoredTokenPair | undefined;
  private inflight: Promise<StoredTokenPair> | undefined;
  private nextProactiveMs = Number.NEGATIVE_INFINITY;

  constructor(deps: TokenManagerDeps) {
    this.deps = deps;
    this.ownerId = deps.ownerId ?? randomUUID();
    this.sleep = deps.sleep ?? realSleep;
    this.random = deps.random ?? Math.random;
  }

  async getAccessToken(): Promise<string> {
    const cached = this.cached && !this.cached.needsReauth ? this.cached : undefined;
    let pair = cached ?? (await this.load());
    this.assertAuthorized(pair);
    if (!this.needsRefresh(pair)) return pair.accessToken;
    if (cached) {
      // Another instance may have rotated it already: look before refreshing.
      pair = await this.load();
      this.assertAuthorized(pair);
      if (!this.needsRefresh(pair)) return pair.accessToken;
    }
    const usable = !this.isExpired(pair);
    if (usable && this.deps.clock.nowMs() < this.nextProactiveMs) return pair.accessToken;
    try {
      const fresh = await this.refresh(pair);
      if (usable) this.nextProactiveMs = this.deps.clock.nowMs() + (this.deps.proactiveCooldownMs ?? 60_000);
      return fresh.accessToken;
    } catch (error) {
      // A proactive refresh that fails must not break calls while the current token still works.
      if (usable && error instanceof TokenRefreshFailedError) {
        this.nextProactiveMs = this.deps.clock.nowMs() + (this.deps.proactiveCooldownMs ?? 60_000);
        return pair.accessToken;
      }
      throw error;
    }
  }

  async refreshAfterRejection(rejected: string): Promise<string> {
    const pair = await this.load();
    this.assertAuthorized(pair);
    // Someone already rotated the pair since our request went out: use theirs.
    if (pair.accessToken !== rejected && !this.isExpired(pair)) return pair.accessToken;
    return (await this.refresh(pair)).accessToken;
  }

  private refresh(observed: StoredTokenPair): Promise<StoredTokenPair> {
    if (!this.inflight) {
      this.inflight = this.coordinate(observed).finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  /** Claim-or-wait loop across instances; returns a pair newer than `observed`. */
  private async coordinate(observed: StoredTokenPair): Promise<StoredTokenPair> {
    const { repository, authId, clock } = this.deps;
    const leaseMs = this.deps.leaseMs ?? 20_000;
    let pollMs = this.deps.pollIntervalMs ?? 50;
    let current = observed;
    let waited = false;
    for (;;) {
      this.assertAuthorized(current);
      if (current.version !== observed.version) return current;
      if (waited && current.refreshingBy === undefined) {
        // The claim was released without a new version: its owner's refresh failed after retries.
        // Don't pile more auth calls on a failing endpoint; the next call tries again.
        throw new TokenRefreshFailedError(
          `token refresh for authorization ${authId} failed in another instance`,
          {
            endpoint: ENDPOINT,
          },
        );
      }
      const now = clock.nowMs();
      const heldByOther =
        current.refreshingBy !== undefined &&
        current.refreshingBy !== this.ownerId &&
        (current.refreshingUntil ?? 0) > now;
      if (heldByOther) {
        waited = true;
        await this.sleep(pollMs);
        pollMs = Math.min(this.deps.maxPollIntervalMs ?? 1_000, pollMs * 2);
      } else if (await repository.claimRefresh(authId, current.version, this.ownerId, now + leaseMs)) {
        const refreshed = await this.refreshAsOwner(current, leaseMs);
        if (refreshed) return refreshed;
      }
      current = await this.load();
    }
  }

  /** Calls TikTok while holding the claim; undefined if the claim was lost to another instance. */
  private async refreshAsOwner(pair: StoredTokenPair, leaseMs: number): Promise<StoredTokenPair | undefined> {
    const { repository, authId, clock, authClient } = this.deps;
    const attempts = Math.max(1, this.deps.refreshAttempts ?? 3);
    const baseDelayMs = this.deps.refreshBaseDelayMs ?? 500;
    const maxDelayMs = this.deps.refreshMaxDelayMs ?? 4_000;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) {
        await this.sleep(Math.floor(this.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 2))));
        // Renew the lease so waiters keep waiting; losing it means someone else took over.
        if (!(await repository.claimRefresh(authId, pair.version, this.ownerId, clock.nowMs() + leaseMs))) {
          return undefined;
        }
      }
      let data: TokenData;
      try {
        data = await authClient.refresh(pair.refreshToken);
      } catch (error) {
        if (error instanceof TikTokReauthRequiredError) {
          // Conditional on the version: a stale refresh token of ours must not flag a newer pair.
          if (!(await repository.markNeedsReauth(authId, pair.version, error.message))) return undefined;
          this.cached = { ...pair, needsReauth: true, reauthReason: error.message };
          this.deps.onRefresh?.({ authId, outcome: "reauth_required", version: pair.version });
          throw error;
        }
        lastError = error;
        // Config errors (bad app key or secret) won't heal by retrying.
        if (error instanceof TikTokApiError && !error.retryable) break;
        continue;
      }
      const next: TokenPair = {
        accessToken: data.access_token,
        accessTokenExpiresAt: data.access_token_expire_in,
        // Refresh may rotate the refresh token; keep the old one if TikTok did not send one.
        refreshToken: data.refresh_token || pair.refreshToken,
        refreshTokenExpiresAt: data.refresh_token_expire_in || pair.refreshTokenExpiresAt,
      };
      if (!(await repository.saveRefreshed(authId, pair.version, next))) return undefined;
      const saved: StoredTokenPair = { ...next, version: pair.version + 1 };
      this.cached = saved;
      this.deps.onRefresh?.({ authId, outcome: "refreshed", version: saved.version });
      return saved;
    }
    // The old pair stays as it was; let others try without waiting out the lease.
    await repository.releaseClaim(authId, pair.version, this.ownerId).catch(() => false);
    this.deps.onRefresh?.({ authId, outcome: "failed", version: pair.version });
    const reason = lastError instanceof Error ? lastError.message : String(lastError);
    throw new TokenRefreshFailedError(`token refresh for authorization ${authId} failed: ${reason}`, {
      endpoint: ENDPOINT,
      code: lastError instanceof TikTokApiError ? lastError.code : undefined,
      httpStatus: lastError instanceof TikTokApiError ? lastError.httpStatus : undefined,
      requestId: lastError instanceof TikTokApiError ? lastError.requestId : undefined,
      cause: lastError,
    });
  }

  /** Reads the TOKEN item (seeding it on first run) and caches it. */
  private async load(): Promise<StoredTokenPair> {
    const { repository, authId, initialPair, migrate } = this.deps;
    let pair = await repository.get(authId);
    if (!pair && migrate) {
      await migrate();
      pair = await repository.get(authId);
    }
    if (!pair && initialPair) {
      await repository.seed(authId, initialPair);
      pair = await repository.get(authId);
    }
    if (!pair) {
      throw new TikTokReauthRequiredError(
        `no TikTok token stored for authorization ${authId}: install one with npm run reauth`,
        {
          endpoint: ENDPOINT,
        },
      );
    }
    this.cached = pair;
    return pair;
  }

  private assertAuthorized(pair: StoredTokenPair): void {
    if (pair.needsReauth) {
      throw new TikTokReauthRequiredError(
        `authorization ${this.deps.authId} must be re-authorized (npm run reauth)${pair.reauthReason ? `: ${pair.reauthReason}` : ""}`,
        { endpoint: ENDPOINT },
      );
    }
  }

  private needsRefresh(pair: StoredTokenPair): boolean {
    const margin = Math.max(this.deps.refreshBeforeExpirySeconds ?? 3600, EXPIRY_SAFETY_SECONDS);
    return pair.accessTokenExpiresAt - margin <= unixSeconds(this.deps.clock);
  }

  private isExpired(pair: StoredTokenPair): boolean {
    return pair.accessTokenExpiresAt - EXPIRY_SAFETY_SECONDS <= unixSeconds(this.deps.clock);
  }
}
