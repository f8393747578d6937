/**
 * An authorization's rotating access/refresh token pair, shared by every Lambda, worker and shop of that
 * authorization through the state table's versioned TOKEN item (`AUTH#<authId>`, docs/operations.md "Many shops and
 * tokens").
 *
 * Single flight across processes: whoever wins the conditional `claimRefresh` (on the version, with a
 * lease) calls TikTok and saves the rotated pair (version + 1); the others poll the item until the
 * version changes, the claim is released or its lease runs out (then they try to claim themselves).
 * Within one instance concurrent callers share one in-flight refresh.
 *
 * A refreshed pair is never lost (issue 16 item 8): once TikTok answers, the old refresh token may be
 * retired, so the owner first writes the new pair to a pending copy (`TOKEN_PENDING#<version>`, which the
 * next reader of the TOKEN item adopts), then saves it to the TOKEN item, retrying throttling and timeouts
 * while it holds the claim. Should every save fail, the pair stays in this instance's memory (its calls
 * keep working) and is saved again at the next read. A refresh starts only with the auth call's timeout
 * and the saves' time left in the caller's deadline: a function ending between TikTok's answer and the
 * save is what would lose a pair.
 */
import { randomUUID } from "node:crypto";
import { setTimeout } from "node:timers/promises";
import { type Clock, unixSeconds } from "../clock";
import { Deadline, DeadlineExceededError } from "../time-budget";
import { TikTokApiError, TikTokReauthRequiredError, TokenRefreshFailedError } from "./api-errors";
import { API_PATHS, type TokenData } from "./api-types";
import type { TikTokAuthClient } from "./auth-client";
import type { AccessTokenProvider } from "./client";
import type { Sleep } from "./retry";

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
  /** When TikTok announced (webhook type 7) that the seller's authorization ends (unix s). */
  readonly authorizationExpiresAt?: number;
}

/** Port onto the TOKEN item; every write is conditional and reports whether it happened. */
/** What a TikTok authorization webhook (types 6 and 7) sets on the TOKEN item. */
export type AuthorizationNotice =
  | { readonly kind: "deauthorized"; readonly reason: string }
  | { readonly kind: "expiring"; readonly expiresAt: number };

export interface TokenRepository {
  get(authId: string): Promise<StoredTokenPair | undefined>;
  /** Claims the refresh iff the version matches, no reauth is pending and no live lease of another owner. */
  claimRefresh(authId: string, expectedVersion: number, owner: string, untilMs: number): Promise<boolean>;
  /** Stores the rotated pair atomically: version + 1, claim cleared. */
  saveRefreshed(authId: string, expectedVersion: number, pair: TokenPair): Promise<boolean>;
  /**
   * Keeps a rotated pair (replacing `expectedVersion`) apart from the TOKEN item, before saving it there:
   * if that save never lands, the next `get` adopts it. Throws when it could not be written.
   */
  savePending(authId: string, expectedVersion: number, pair: TokenPair): Promise<void>;
  /** Removes the pending copy once the pair is in the TOKEN item. */
  dropPending(authId: string, expectedVersion: number): Promise<void>;
  /** Flags the pair as needing a new authorization (and clears the claim). */
  markNeedsReauth(authId: string, expectedVersion: number, reason: string): Promise<boolean>;
  /** Gives up a claim early (after failed attempts) so others need not wait for the lease. */
  releaseClaim(authId: string, expectedVersion: number, owner: string): Promise<boolean>;
  /** Creates the item only if absent (first run, from env or Secrets Manager). */
  seed(authId: string, pair: TokenPair): Promise<boolean>;
}

/**
 * `save_failed`: TikTok rotated the pair but no save to the TOKEN item landed; it is in use in this
 * instance and kept (pending copy, memory) to be stored at the next read.
 */
export type RefreshOutcome = "refreshed" | "failed" | "reauth_required" | "save_failed";

/** Per-call options of the token provider. */
export interface TokenRequestOptions {
  /** When the caller must be done: no refresh is started without the time to finish and store it. */
  readonly deadline?: Deadline;
}

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
  /** The auth client's per-request timeout (default 10 s, HttpTikTokAuthClient's). */
  readonly refreshCallTimeoutMs?: number;
  /** Saves of a refreshed pair to the TOKEN item before it is kept in memory (default 5). */
  readonly saveAttempts?: number;
  /** First backoff between saves, doubled per retry with full jitter (default 100 ms). */
  readonly saveBaseDelayMs?: number;
  /** Time kept for the pending copy and the saves after TikTok answers (default 5 s). */
  readonly saveReserveMs?: number;
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
/** A save of the TOKEN item is not started with less time left than this. */
const SAVE_ATTEMPT_MS = 500;
const ENDPOINT = API_PATHS.tokenRefresh;

export class TokenManager implements AccessTokenProvider {
  private readonly deps: TokenManagerDeps;
  private readonly ownerId: string;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private cached: StoredTokenPair | undefined;
  private inflight: Promise<StoredTokenPair> | undefined;
  private nextProactiveMs = Number.NEGATIVE_INFINITY;
  /** A rotated pair no save to the TOKEN item has landed for yet (it replaces version `expectedVersion`). */
  private unsaved: { readonly expectedVersion: number; readonly pair: TokenPair } | undefined;

  constructor(deps: TokenManagerDeps) {
    this.deps = deps;
    this.ownerId = deps.ownerId ?? randomUUID();
    this.sleep = deps.sleep ?? ((ms) => setTimeout(ms));
    this.random = deps.random ?? Math.random;
  }

  async getAccessToken(options: TokenRequestOptions = {}): Promise<string> {
    const deadline = options.deadline ?? Deadline.none();
    // While a rotated pair is not stored, every read tries to store it again (load).
    const cached = this.cached && !this.cached.needsReauth && !this.unsaved ? this.cached : undefined;
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
    // A proactive refresh waits for a call with the time to finish it and store the new pair.
    if (usable && !deadline.allows(this.refreshBudgetMs())) return pair.accessToken;
    try {
      const fresh = await this.refresh(pair, deadline);
      if (usable) this.nextProactiveMs = this.deps.clock.nowMs() + (this.deps.proactiveCooldownMs ?? 60_000);
      return fresh.accessToken;
    } catch (error) {
      // A proactive refresh that fails must not break calls while the current token still works.
      if (usable && (error instanceof TokenRefreshFailedError || error instanceof DeadlineExceededError)) {
        this.nextProactiveMs = this.deps.clock.nowMs() + (this.deps.proactiveCooldownMs ?? 60_000);
        return pair.accessToken;
      }
      throw error;
    }
  }

  async refreshAfterRejection(rejected: string, options: TokenRequestOptions = {}): Promise<string> {
    const pair = await this.load();
    this.assertAuthorized(pair);
    // Someone already rotated the pair since our request went out: use theirs.
    if (pair.accessToken !== rejected && !this.isExpired(pair)) return pair.accessToken;
    return (await this.refresh(pair, options.deadline ?? Deadline.none())).accessToken;
  }

  /** The time a refresh needs: the auth call's timeout, then the pending copy and the saves. */
  private refreshBudgetMs(): number {
    return (this.deps.refreshCallTimeoutMs ?? 10_000) + (this.deps.saveReserveMs ?? 5_000);
  }

  private refresh(observed: StoredTokenPair, deadline: Deadline): Promise<StoredTokenPair> {
    if (!this.inflight) {
      this.inflight = this.coordinate(observed, deadline).finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  /** Claim-or-wait loop across instances; returns a pair newer than `observed`. */
  private async coordinate(observed: StoredTokenPair, deadline: Deadline): Promise<StoredTokenPair> {
    const { repository, authId, clock } = this.deps;
    if (this.unsaved) {
      // Our own rotated pair is not stored yet: refreshing from the stored (retired) one would lose it.
      throw new TokenRefreshFailedError(
        `authorization ${authId}: the last refreshed pair is not stored yet; not refreshing again`,
        { endpoint: ENDPOINT },
      );
    }
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
        if (!deadline.allows(pollMs)) {
          throw new DeadlineExceededError(
            `out of time waiting for another instance's token refresh (authorization ${authId})`,
            deadline.remainingMs(),
          );
        }
        waited = true;
        await this.sleep(pollMs);
        pollMs = Math.min(this.deps.maxPollIntervalMs ?? 1_000, pollMs * 2);
      } else {
        if (!deadline.allows(this.refreshBudgetMs())) {
          throw new DeadlineExceededError(
            `too little time left to refresh the access token of authorization ${authId} and store the new pair`,
            deadline.remainingMs(),
          );
        }
        if (await repository.claimRefresh(authId, current.version, this.ownerId, now + leaseMs)) {
          const refreshed = await this.refreshAsOwner(current, leaseMs, deadline);
          if (refreshed) return refreshed;
        }
      }
      current = await this.load();
    }
  }

  /** Calls TikTok while holding the claim; undefined if the claim was lost to another instance. */
  private async refreshAsOwner(
    pair: StoredTokenPair,
    leaseMs: number,
    deadline: Deadline,
  ): Promise<StoredTokenPair | undefined> {
    const { repository, authId, clock, authClient } = this.deps;
    const attempts = Math.max(1, this.deps.refreshAttempts ?? 3);
    const baseDelayMs = this.deps.refreshBaseDelayMs ?? 500;
    const maxDelayMs = this.deps.refreshMaxDelayMs ?? 4_000;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) {
        const delayMs = Math.floor(this.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 2)));
        // No retry without the time to finish it and store the pair: the failed path releases the claim.
        if (!deadline.allows(delayMs + this.refreshBudgetMs())) break;
        await this.sleep(delayMs);
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
      return this.keep(pair, next, deadline);
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

  /**
   * TikTok has rotated the pair (the old refresh token may be retired already): store the new one so it
   * cannot be lost. A pending copy first (the next reader adopts it should the rest fail), then the TOKEN
   * item, retried while the claim and the deadline allow; failing that, memory. Undefined when a newer
   * pair is stored (ours, from an attempt that landed unseen or an adopted pending copy, or another's).
   */
  private async keep(pair: StoredTokenPair, next: TokenPair, deadline: Deadline) {
    const { repository, authId } = this.deps;
    const refreshed: StoredTokenPair = { ...next, version: pair.version + 1 };
    await repository.savePending(authId, pair.version, next).catch(() => undefined);
    const attempts = Math.max(1, this.deps.saveAttempts ?? 5);
    const baseDelayMs = this.deps.saveBaseDelayMs ?? 100;
    for (let attempt = 1; ; attempt += 1) {
      try {
        if (!(await repository.saveRefreshed(authId, pair.version, next))) return undefined;
        await repository.dropPending(authId, pair.version).catch(() => undefined);
        this.cached = refreshed;
        this.deps.onRefresh?.({ authId, outcome: "refreshed", version: refreshed.version });
        return refreshed;
      } catch {
        // Throttled, timed out, unreachable: the pair is still only ours, so try again.
        const delayMs = Math.floor(this.random() * baseDelayMs * 2 ** (attempt - 1));
        if (attempt >= attempts || !deadline.allows(delayMs + SAVE_ATTEMPT_MS)) break;
        await this.sleep(delayMs);
      }
    }
    // The claim stays held (others wait, or adopt the pending copy, rather than refresh from the retired
    // token); this instance uses the pair and stores it at its next read.
    this.unsaved = { expectedVersion: pair.version, pair: next };
    this.cached = refreshed;
    this.deps.onRefresh?.({ authId, outcome: "save_failed", version: pair.version });
    return refreshed;
  }

  /**
   * Tries again to store the pair no save has landed for. Returns it while it still is not stored
   * (keep using it), undefined once it is — or once a newer pair is (then the stored one is current).
   */
  private async storeUnsaved(): Promise<StoredTokenPair | undefined> {
    const unsaved = this.unsaved;
    if (!unsaved) return undefined;
    const { repository, authId } = this.deps;
    try {
      if (await repository.saveRefreshed(authId, unsaved.expectedVersion, unsaved.pair)) {
        await repository.dropPending(authId, unsaved.expectedVersion).catch(() => undefined);
        this.deps.onRefresh?.({ authId, outcome: "refreshed", version: unsaved.expectedVersion + 1 });
      }
      this.unsaved = undefined;
      return undefined;
    } catch {
      return { ...unsaved.pair, version: unsaved.expectedVersion + 1 };
    }
  }

  /** Reads the TOKEN item (seeding it on first run) and caches it. */
  private async load(): Promise<StoredTokenPair> {
    const stillUnsaved = await this.storeUnsaved();
    if (stillUnsaved) return stillUnsaved;
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
