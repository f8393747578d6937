/**
 * The shop's TOKEN item in the state table (pk `SHOP#<shopId>`, sk `TOKEN`). Every write is conditional
 * on `version`, so concurrent Lambdas agree on who refreshes and no rotated pair is ever overwritten by
 * an older one. A failed condition is an answer (false), not an error.
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

export function tokenKey(shopId: string): { pk: string; sk: string } {
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

  async get(shopId: string): Promise<StoredTokenPair | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.tableName, Key: tokenKey(shopId), ConsistentRead: true }),
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

  claimRefresh(shopId: string, expectedVersion: number, owner: string, untilMs: number): Promise<boolean> {
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: tokenKey(shopId),
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

  saveRefreshed(shopId: string, expectedVersion: number, pair: TokenPair): Promise<boolean> {
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: tokenKey(shopId),
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

  markNeedsReauth(shopId: string, expectedVersion: number, reason: string): Promise<boolean> {
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: tokenKey(shopId),
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

  releaseClaim(shopId: string, expectedVersion: number, owner: string): Promise<boolean> {
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: tokenKey(shopId),
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

  async seed(shopId: string, pair: TokenPair): Promise<boolean> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...tokenKey(shopId),
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
  async storeAuthorized(shopId: string, pair: TokenPair): Promise<void> {
    await this.documents.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: tokenKey(shopId),
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
