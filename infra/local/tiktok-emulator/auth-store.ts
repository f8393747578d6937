/**
 * Authorization state: auth codes, access tokens and refresh tokens with absolute expiry on the
 * emulator clock. Token strings come from crypto randomness (they are secrets, not dataset).
 */
import { randomBytes } from "node:crypto";
import type { TokenData } from "../../../shared/tiktok/api-types";

/** What a seller authorized: one app, some shops. */
export interface Grant {
  readonly appKey: string;
  readonly shopIds: readonly string[];
  readonly openId: string;
  readonly sellerName: string;
  readonly region: string;
}

export interface TokenLifetimes {
  readonly accessTokenTtlSeconds: number;
  readonly refreshTokenTtlSeconds: number;
}

export interface RefreshPolicy {
  readonly revokeAccessTokenOnRefresh: boolean;
  readonly rotateRefreshToken: boolean;
}

interface AccessTokenRecord {
  readonly grant: Grant;
  expiresAt: number;
  revoked: boolean;
}

interface RefreshTokenRecord {
  readonly grant: Grant;
  readonly expiresAt: number;
  revoked: boolean;
  /** The access token issued with it last: revoked by the next refresh when the policy says so. */
  accessToken: string;
}

interface AuthCodeRecord {
  readonly grant: Grant;
  readonly expiresAt: number;
  used: boolean;
}

export type AccessCheck =
  | { readonly ok: true; readonly grant: Grant }
  | { readonly ok: false; readonly reason: "expired" | "invalid" };

export type RefreshOutcome =
  | { readonly ok: true; readonly tokens: TokenData }
  | { readonly ok: false; readonly reason: "expired" | "unknown" };

export const GRANTED_SCOPES = ["seller.authorization.info", "seller.order.info", "seller.shop.info"];

function randomToken(prefix: string): string {
  return `${prefix}${randomBytes(30).toString("base64url")}`;
}

export class AuthStore {
  private readonly accessTokens = new Map<string, AccessTokenRecord>();
  private readonly refreshTokens = new Map<string, RefreshTokenRecord>();
  private readonly authCodes = new Map<string, AuthCodeRecord>();

  /** Registers a pair directly, as if the seller had just authorized the app. */
  issue(grant: Grant, now: number, lifetimes: TokenLifetimes): TokenData {
    const accessToken = randomToken("ROW_");
    const refreshToken = randomToken("ROW_");
    const accessExpiresAt = now + lifetimes.accessTokenTtlSeconds;
    const refreshExpiresAt = now + lifetimes.refreshTokenTtlSeconds;
    this.accessTokens.set(accessToken, { grant, expiresAt: accessExpiresAt, revoked: false });
    this.refreshTokens.set(refreshToken, { grant, expiresAt: refreshExpiresAt, revoked: false, accessToken });
    return this.tokenData(grant, accessToken, accessExpiresAt, refreshToken, refreshExpiresAt);
  }

  /** Accepts a known pair (e.g. from a local .env) without issuing new strings. */
  preset(
    grant: Grant,
    accessToken: string,
    refreshToken: string | undefined,
    now: number,
    lifetimes: TokenLifetimes,
  ): void {
    this.accessTokens.set(accessToken, {
      grant,
      expiresAt: now + lifetimes.accessTokenTtlSeconds,
      revoked: false,
    });
    if (refreshToken !== undefined) {
      this.refreshTokens.set(refreshToken, {
        grant,
        expiresAt: now + lifetimes.refreshTokenTtlSeconds,
        revoked: false,
        accessToken,
      });
    }
  }

  createAuthCode(grant: Grant, now: number, ttlSeconds: number): string {
    const code = randomToken("TTP_");
    this.authCodes.set(code, { grant, expiresAt: now + ttlSeconds, used: false });
    return code;
  }

  /** Single use; undefined when the code is unknown, used, expired or belongs to another app. */
  exchangeAuthCode(
    appKey: string,
    code: string,
    now: number,
    lifetimes: TokenLifetimes,
  ): TokenData | undefined {
    const record = this.authCodes.get(code);
    if (!record || record.used || record.expiresAt <= now || record.grant.appKey !== appKey) return undefined;
    record.used = true;
    return this.issue(record.grant, now, lifetimes);
  }

  refresh(
    appKey: string,
    refreshToken: string,
    now: number,
    lifetimes: TokenLifetimes,
    policy: RefreshPolicy,
  ): RefreshOutcome {
    const record = this.refreshTokens.get(refreshToken);
    if (!record || record.revoked || record.grant.appKey !== appKey) return { ok: false, reason: "unknown" };
    if (record.expiresAt <= now) return { ok: false, reason: "expired" };
    if (policy.revokeAccessTokenOnRefresh) {
      const previous = this.accessTokens.get(record.accessToken);
      if (previous) previous.revoked = true;
    }
    if (policy.rotateRefreshToken) {
      record.revoked = true;
      return { ok: true, tokens: this.issue(record.grant, now, lifetimes) };
    }
    const accessToken = randomToken("ROW_");
    const accessExpiresAt = now + lifetimes.accessTokenTtlSeconds;
    this.accessTokens.set(accessToken, { grant: record.grant, expiresAt: accessExpiresAt, revoked: false });
    record.accessToken = accessToken;
    return {
      ok: true,
      tokens: this.tokenData(record.grant, accessToken, accessExpiresAt, refreshToken, record.expiresAt),
    };
  }

  checkAccessToken(token: string | undefined, appKey: string, now: number): AccessCheck {
    const record = token === undefined ? undefined : this.accessTokens.get(token);
    if (!record || record.revoked || record.grant.appKey !== appKey) return { ok: false, reason: "invalid" };
    if (record.expiresAt <= now) return { ok: false, reason: "expired" };
    return { ok: true, grant: record.grant };
  }

  /** The grant behind an access token, refresh token or auth code (expired or revoked too). */
  grantOf(kind: "access" | "refresh" | "code", token: string | undefined): Grant | undefined {
    if (token === undefined) return undefined;
    const map =
      kind === "access" ? this.accessTokens : kind === "refresh" ? this.refreshTokens : this.authCodes;
    return map.get(token)?.grant;
  }

  /** Makes every live access token (of grants covering `shopId`, if given) expired as of `now`; returns how many. */
  expireAccessTokens(now: number, shopId?: string): number {
    let expired = 0;
    for (const record of this.accessTokens.values()) {
      if (record.revoked || record.expiresAt <= now) continue;
      if (shopId !== undefined && !record.grant.shopIds.includes(shopId)) continue;
      record.expiresAt = now;
      expired++;
    }
    return expired;
  }

  /** Revokes every live refresh token of grants covering `shopId`; returns how many. */
  revokeRefreshTokensOf(shopId: string): number {
    let revoked = 0;
    for (const record of this.refreshTokens.values()) {
      if (record.revoked || !record.grant.shopIds.includes(shopId)) continue;
      record.revoked = true;
      revoked++;
    }
    return revoked;
  }

  revokeRefreshToken(token: string): boolean {
    const record = this.refreshTokens.get(token);
    if (!record || record.revoked) return false;
    record.revoked = true;
    return true;
  }

  private tokenData(
    grant: Grant,
    accessToken: string,
    accessExpiresAt: number,
    refreshToken: string,
    refreshExpiresAt: number,
  ): TokenData {
    return {
      access_token: accessToken,
      access_token_expire_in: accessExpiresAt,
      refresh_token: refreshToken,
      refresh_token_expire_in: refreshExpiresAt,
      open_id: grant.openId,
      seller_name: grant.sellerName,
      seller_base_region: grant.region,
      user_type: 0,
      granted_scopes: [...GRANTED_SCOPES],
    };
  }
}
