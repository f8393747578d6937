/**
 * An authorization's TOKEN item in the state table (pk `AUTH#<authId>`, sk `TOKEN`). One TikTok token pair
 * covers every shop the seller authorized, so the pair is keyed by authorization, not by shop (docs/operations.md
 * "Many shops and tokens"; DESIGN listed `SHOP#<authId>`/`TOKEN`, which two shops of one grant would
 * rotate under each other). Every write is conditional on `version`, so concurrent Lambdas agree on who
 * refreshes and no rotated pair is ever overwritten by an older one. A failed condition is an answer
 * (false), not an error.
 *
 * Beside it, `TOKEN_PENDING` holds the last rotated pair whose save to the TOKEN item may not have
 * landed (issue 16 item 8): written by the refresh's owner before that save (with the version it
 * replaces), its tokens scrubbed after it. `get` reads both in one Query and adopts a pending pair that
 * replaces the stored version (the same conditional write as the owner's save), so no reader refreshes
 * from a refresh token TikTok has already retired. One item per authorization, overwritten by the next
 * refresh: no DeleteItem is needed (the worker's role has none), nothing piles up. Like TOKEN it holds
 * the tokens themselves: never logged.
 */

import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { type Clock, systemClock } from "../clock";
import type { AuthorizationNotice, StoredTokenPair, TokenPair, TokenRepository } from "../tiktok/tokens";
import { ConditionalWriter, type TransactItem } from "./conditional-writes";
import { DEFAULT_CONFLICT_RETRY } from "./conflict-retry";

export interface DynamoTokenRepositoryDeps {
  readonly documents: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Decides whether a refresh lease has run out; the system clock unless a test injects one. */
  readonly clock?: Clock;
}

export const TOKEN_SK = "TOKEN";

export function tokenKey(authId: string): { pk: string; sk: string } {
  return { pk: `AUTH#${authId}`, sk: TOKEN_SK };
}

export const PENDING_SK = "TOKEN_PENDING";

/** The authorization's pending copy of a rotated pair (its attribute `expectedVersion`: the version it replaces). */
export function pendingTokenKey(authId: string): { pk: string; sk: string } {
  return { pk: `AUTH#${authId}`, sk: PENDING_SK };
}

/** A pending copy's TTL when TikTok gave no refresh-token expiry: a year (its usual lifetime). */
const PENDING_FALLBACK_TTL_SECONDS = 365 * 86_400;

/** Where releases before per-authorization tokens kept a shop's pair; read once to migrate it. */
export function legacyTokenKey(shopId: string): { pk: string; sk: string } {
  return { pk: `SHOP#${shopId}`, sk: TOKEN_SK };
}

function tokenPair(item: Record<string, unknown>): TokenPair {
  return {
    accessToken: String(item.accessToken ?? ""),
    accessTokenExpiresAt: Number(item.accessTokenExpiresAt ?? 0),
    refreshToken: String(item.refreshToken ?? ""),
    refreshTokenExpiresAt: Number(item.refreshTokenExpiresAt ?? 0),
  };
}

function storedPair(item: Record<string, unknown>): StoredTokenPair {
  return {
    ...tokenPair(item),
    version: Number(item.version ?? 0),
    ...(item.needsReauth === true ? { needsReauth: true } : {}),
    ...(typeof item.reauthReason === "string" ? { reauthReason: item.reauthReason } : {}),
    ...(typeof item.refreshingBy === "string" ? { refreshingBy: item.refreshingBy } : {}),
    ...(typeof item.refreshingUntil === "number" ? { refreshingUntil: item.refreshingUntil } : {}),
    ...(typeof item.authorizationExpiresAt === "number"
      ? { authorizationExpiresAt: item.authorizationExpiresAt }
      : {}),
  };
}

export class DynamoTokenRepository implements TokenRepository {
  private readonly documents: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly clock: Clock;
  private readonly writer: ConditionalWriter;

  constructor(deps: DynamoTokenRepositoryDeps) {
    this.documents = deps.documents;
    this.tableName = deps.tableName;
    this.clock = deps.clock ?? systemClock;
    this.writer = new ConditionalWriter(deps.documents, "a TikTok token", DEFAULT_CONFLICT_RETRY);
  }

  /**
   * The stored pair. A pending pair that replaces it (its owner's save never landed) is adopted first; a
   * pending copy left behind with its tokens (saved, or superseded by a new authorization) is scrubbed.
   */
  async get(authId: string): Promise<StoredTokenPair | undefined> {
    for (let read = 0; read < 3; read += 1) {
      const { Items = [] } = await this.documents.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :token)",
          ExpressionAttributeValues: { ":pk": tokenKey(authId).pk, ":token": TOKEN_SK },
          ConsistentRead: true,
        }),
      );
      const item = Items.find((candidate) => candidate.sk === TOKEN_SK);
      if (!item) return undefined;
      const stored = storedPair(item);
      const pending = Items.find((candidate) => candidate.sk === PENDING_SK && candidate.refreshToken);
      if (!pending) return stored;
      const replaces = Number(pending.expectedVersion);
      if (replaces !== stored.version) {
        await this.dropPending(authId, replaces).catch(() => undefined);
        return stored;
      }
      const pair = tokenPair(pending);
      if (await this.saveRefreshed(authId, stored.version, pair)) {
        await this.dropPending(authId, stored.version).catch(() => undefined);
        return { ...pair, version: stored.version + 1 };
      }
      // The TOKEN item moved meanwhile (its owner's save landed, or another reader adopted it): read again.
    }
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.tableName, Key: tokenKey(authId), ConsistentRead: true }),
    );
    return Item ? storedPair(Item) : undefined;
  }

  claimRefresh(authId: string, expectedVersion: number, owner: string, untilMs: number): Promise<boolean> {
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: tokenKey(authId),
      UpdateExpression: "SET refreshingBy = :owner, refreshingUntil = :until, updatedAt = :updatedAt",
      ConditionExpression:
        "#version = :version AND (attribute_not_exists(needsReauth) OR needsReauth = :false) AND " +
        "(attribute_not_exists(refreshingUntil) OR refreshingUntil <= :now OR refreshingBy = :owner)",
      ExpressionAttributeNames: { "#version": "version" },
      ExpressionAttributeValues: {
        ":owner": owner,
        ":until": untilMs,
        ":version": expectedVersion,
        ":false": false,
        ":now": this.clock.nowMs(),
        ":updatedAt": this.isoNow(),
      },
    });
  }

  saveRefreshed(authId: string, expectedVersion: number, pair: TokenPair): Promise<boolean> {
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: tokenKey(authId),
      UpdateExpression:
        "SET accessToken = :accessToken, accessTokenExpiresAt = :accessExp, refreshToken = :refreshToken, " +
        "refreshTokenExpiresAt = :refreshExp, #version = :next, updatedAt = :updatedAt " +
        "REMOVE refreshingBy, refreshingUntil, needsReauth, reauthReason",
      ConditionExpression: "#version = :version",
      ExpressionAttributeNames: { "#version": "version" },
      ExpressionAttributeValues: {
        ":accessToken": pair.accessToken,
        ":accessExp": pair.accessTokenExpiresAt,
        ":refreshToken": pair.refreshToken,
        ":refreshExp": pair.refreshTokenExpiresAt,
        ":version": expectedVersion,
        ":next": expectedVersion + 1,
        ":updatedAt": this.isoNow(),
      },
    });
  }

  async savePending(authId: string, expectedVersion: number, pair: TokenPair): Promise<void> {
    const nowSeconds = Math.floor(this.clock.nowMs() / 1000);
    await this.documents.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...pendingTokenKey(authId),
          expectedVersion,
          accessToken: pair.accessToken,
          accessTokenExpiresAt: pair.accessTokenExpiresAt,
          refreshToken: pair.refreshToken,
          refreshTokenExpiresAt: pair.refreshTokenExpiresAt,
          updatedAt: this.isoNow(),
          expiresAt:
            pair.refreshTokenExpiresAt > nowSeconds
              ? pair.refreshTokenExpiresAt
              : nowSeconds + PENDING_FALLBACK_TTL_SECONDS,
        },
      }),
    );
  }

  /** Scrubs the pending copy's tokens, if it is still the one replacing `expectedVersion`. */
  async dropPending(authId: string, expectedVersion: number): Promise<void> {
    await this.conditionalUpdate({
      TableName: this.tableName,
      Key: pendingTokenKey(authId),
      UpdateExpression:
        "SET updatedAt = :updatedAt REMOVE accessToken, accessTokenExpiresAt, refreshToken, refreshTokenExpiresAt",
      ConditionExpression: "expectedVersion = :version AND attribute_exists(refreshToken)",
      ExpressionAttributeValues: { ":version": expectedVersion, ":updatedAt": this.isoNow() },
    });
  }

  markNeedsReauth(authId: string, expectedVersion: number, reason: string): Promise<boolean> {
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: tokenKey(authId),
      UpdateExpression:
        "SET needsReauth = :true, reauthReason = :reason, updatedAt = :updatedAt REMOVE refreshingBy, refreshingUntil",
      ConditionExpression: "#version = :version",
      ExpressionAttributeNames: { "#version": "version" },
      ExpressionAttributeValues: {
        ":true": true,
        ":reason": reason,
        ":version": expectedVersion,
        ":updatedAt": this.isoNow(),
      },
    });
  }

  releaseClaim(authId: string, expectedVersion: number, owner: string): Promise<boolean> {
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: tokenKey(authId),
      UpdateExpression: "SET updatedAt = :updatedAt REMOVE refreshingBy, refreshingUntil",
      ConditionExpression: "#version = :version AND refreshingBy = :owner",
      ExpressionAttributeNames: { "#version": "version" },
      ExpressionAttributeValues: {
        ":version": expectedVersion,
        ":owner": owner,
        ":updatedAt": this.isoNow(),
      },
    });
  }

  seed(authId: string, pair: TokenPair): Promise<boolean> {
    return this.writer.update({
      Put: {
        TableName: this.tableName,
        Item: {
          ...tokenKey(authId),
          accessToken: pair.accessToken,
          accessTokenExpiresAt: pair.accessTokenExpiresAt,
          refreshToken: pair.refreshToken,
          refreshTokenExpiresAt: pair.refreshTokenExpiresAt,
          version: 1,
          authorizedAtMs: this.clock.nowMs(),
          updatedAt: this.isoNow(),
        },
        ConditionExpression: "attribute_not_exists(pk)",
      },
    });
  }

  /**
   * Stores a pair obtained from a new authorization (auth code): replaces whatever is there, clears
   * the reauth flag and any claim, and bumps the version so in-flight refreshes of the old pair lose.
   */
  async storeAuthorized(authId: string, pair: TokenPair): Promise<void> {
    await this.documents.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: tokenKey(authId),
        UpdateExpression:
          "SET accessToken = :accessToken, accessTokenExpiresAt = :accessExp, refreshToken = :refreshToken, " +
          "refreshTokenExpiresAt = :refreshExp, #version = if_not_exists(#version, :zero) + :one, " +
          "updatedAt = :updatedAt, authorizedAtMs = :authorizedAt " +
          "REMOVE refreshingBy, refreshingUntil, needsReauth, reauthReason, authorizationExpiresAt, noticeAtMs",
        ExpressionAttributeNames: { "#version": "version" },
        ExpressionAttributeValues: {
          ":accessToken": pair.accessToken,
          ":accessExp": pair.accessTokenExpiresAt,
          ":refreshToken": pair.refreshToken,
          ":refreshExp": pair.refreshTokenExpiresAt,
          ":zero": 0,
          ":one": 1,
          ":updatedAt": this.isoNow(),
          ":authorizedAt": this.clock.nowMs(),
        },
      }),
    );
  }

  /**
   * Applies a TikTok authorization webhook sent at `eventAtSeconds`: a deauthorization (type 6) flags the
   * authorization for re-authorizing, with the reason; an expiry warning (type 7) records the announced
   * expiry. Applied only to an authorization installed before that second, so a late or replayed event
   * never flags a newer authorization (a pair installed in the same second is given the benefit of the
   * doubt: its next refused call flags it anyway). False when not applied (no TOKEN item, or newer).
   */
  applyAuthorizationNotice(
    authId: string,
    eventAtSeconds: number,
    notice: AuthorizationNotice,
  ): Promise<boolean> {
    const set =
      notice.kind === "deauthorized"
        ? "SET needsReauth = :true, reauthReason = :reason, noticeAtMs = :noticeAt, updatedAt = :updatedAt"
        : "SET authorizationExpiresAt = :expiresAt, noticeAtMs = :noticeAt, updatedAt = :updatedAt";
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: tokenKey(authId),
      UpdateExpression: set,
      ConditionExpression:
        "attribute_exists(pk) AND (attribute_not_exists(authorizedAtMs) OR authorizedAtMs < :eventAt)",
      ExpressionAttributeValues: {
        ":eventAt": eventAtSeconds * 1000,
        ":noticeAt": this.clock.nowMs(),
        ":updatedAt": this.isoNow(),
        ...(notice.kind === "deauthorized"
          ? { ":true": true, ":reason": notice.reason }
          : { ":expiresAt": notice.expiresAt }),
      },
    });
  }

  /**
   * Migration from the per-shop layout: copies the first legacy `SHOP#<shopId>`/`TOKEN` item found among
   * `shopIds` to the authorization's item (only if that is still absent), keeping its version and flags,
   * so a rotated pair is never replaced by the stale seed from the environment. True if one was copied.
   */
  async adoptLegacy(authId: string, shopIds: readonly string[]): Promise<boolean> {
    for (const shopId of shopIds) {
      const { Item } = await this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: legacyTokenKey(shopId), ConsistentRead: true }),
      );
      if (!Item) continue;
      const { pk: _pk, sk: _sk, refreshingBy: _by, refreshingUntil: _until, ...rest } = Item;
      return this.writer.update({
        Put: {
          TableName: this.tableName,
          Item: { ...rest, ...tokenKey(authId), migratedFrom: `SHOP#${shopId}`, updatedAt: this.isoNow() },
          ConditionExpression: "attribute_not_exists(pk)",
        },
      });
    }
    return false;
  }

  private conditionalUpdate(update: NonNullable<TransactItem["Update"]>): Promise<boolean> {
    return this.writer.update({ Update: update });
  }

  private isoNow(): string {
    return new Date(this.clock.nowMs()).toISOString();
  }
}
