/**
 * An authorization's TOKEN item in the state table (pk `AUTH#<authId>`, sk `TOKEN`). One TikTok token pair
 * covers every shop the seller authorized, so the pair is keyed by authorization, not by shop (README
 * "Many shops and tokens"; DESIGN listed `SHOP#<authId>`/`TOKEN`, which two shops of one grant would
 * rotate under each other). Every write is conditional on `version`, so concurrent Lambdas agree on who
 * refreshes and no rotated pair is ever overwritten by an older one. A failed condition is an answer
 * (false), not an error.
 */

import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { type Clock, systemClock } from "../clock";
import type { StoredTokenPair, TokenPair, TokenRepository } from "../tiktok/tokens";

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

/** Where releases before per-authorization tokens kept a shop's pair; read once to migrate it. */
export function legacyTokenKey(shopId: string): { pk: string; sk: string } {
  return { pk: `SHOP#${shopId}`, sk: TOKEN_SK };
}

function isConditionFailure(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === "ConditionalCheckFailedException";
}

export class DynamoTokenRepository implements TokenRepository {
  private readonly documents: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly clock: Clock;

  constructor(deps: DynamoTokenRepositoryDeps) {
    this.documents = deps.documents;
    this.tableName = deps.tableName;
    this.clock = deps.clock ?? systemClock;
  }

  async get(authId: string): Promise<StoredTokenPair | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.tableName, Key: tokenKey(authId), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    return {
      accessToken: String(Item.accessToken ?? ""),
      accessTokenExpiresAt: Number(Item.accessTokenExpiresAt ?? 0),
      refreshToken: String(Item.refreshToken ?? ""),
      refreshTokenExpiresAt: Number(Item.refreshTokenExpiresAt ?? 0),
      version: Number(Item.version ?? 0),
      ...(Item.needsReauth === true ? { needsReauth: true } : {}),
      ...(typeof Item.reauthReason === "string" ? { reauthReason: Item.reauthReason } : {}),
      ...(typeof Item.refreshingBy === "string" ? { refreshingBy: Item.refreshingBy } : {}),
      ...(typeof Item.refreshingUntil === "number" ? { refreshingUntil: Item.refreshingUntil } : {}),
    };
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

  async seed(authId: string, pair: TokenPair): Promise<boolean> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...tokenKey(authId),
            accessToken: pair.accessToken,
            accessTokenExpiresAt: pair.accessTokenExpiresAt,
            refreshToken: pair.refreshToken,
            refreshTokenExpiresAt: pair.refreshTokenExpiresAt,
            version: 1,
            updatedAt: this.isoNow(),
          },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
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
          "updatedAt = :updatedAt REMOVE refreshingBy, refreshingUntil, needsReauth, reauthReason",
        ExpressionAttributeNames: { "#version": "version" },
        ExpressionAttributeValues: {
          ":accessToken": pair.accessToken,
          ":accessExp": pair.accessTokenExpiresAt,
          ":refreshToken": pair.refreshToken,
          ":refreshExp": pair.refreshTokenExpiresAt,
          ":zero": 0,
          ":one": 1,
          ":updatedAt": this.isoNow(),
        },
      }),
    );
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
      try {
        await this.documents.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...rest, ...tokenKey(authId), migratedFrom: `SHOP#${shopId}`, updatedAt: this.isoNow() },
            ConditionExpression: "attribute_not_exists(pk)",
          }),
        );
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    }
    return false;
  }

  private async conditionalUpdate(input: ConstructorParameters<typeof UpdateCommand>[0]): Promise<boolean> {
    try {
      await this.documents.send(new UpdateCommand(input));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private isoNow(): string {
    return new Date(this.clock.nowMs()).toISOString();
  }
}
