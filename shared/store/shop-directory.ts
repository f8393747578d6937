/**
 * The shops an authorization's token covers, as last discovered through `GET /authorization/202309/shops`
 * (state table: pk `AUTH#<authId>`, sk `SHOPS`). Lets status and ticks still name the shops of an
 * authorization that can no longer call TikTok (needs re-authorization), and spares a cold start the call
 * while the list is fresh.
 */
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";

export interface DiscoveredShop {
  readonly shopId: string;
  readonly shopCipher: string;
  readonly name?: string;
  readonly region?: string;
}

export interface ShopDirectoryEntry {
  readonly shops: readonly DiscoveredShop[];
  /** Epoch ms of the discovery call. */
  readonly fetchedAtMs: number;
}

export const SHOPS_SK = "SHOPS";

export class ShopDirectory {
  constructor(private readonly deps: { documents: DynamoDBDocumentClient; tableName: string }) {}

  async get(authId: string): Promise<ShopDirectoryEntry | undefined> {
    const { Item } = await this.deps.documents.send(
      new GetCommand({ TableName: this.deps.tableName, Key: { pk: `AUTH#${authId}`, sk: SHOPS_SK } }),
    );
    if (!Item || !Array.isArray(Item.shops)) return undefined;
    return {
      shops: (Item.shops as Record<string, unknown>[])
        .filter((shop) => typeof shop.shopId === "string" && typeof shop.shopCipher === "string")
        .map((shop) => ({
          shopId: shop.shopId as string,
          shopCipher: shop.shopCipher as string,
          ...(typeof shop.name === "string" ? { name: shop.name } : {}),
          ...(typeof shop.region === "string" ? { region: shop.region } : {}),
        })),
      fetchedAtMs: Number(Item.fetchedAtMs ?? 0),
    };
  }

  async put(authId: string, entry: ShopDirectoryEntry): Promise<void> {
    await this.deps.documents.send(
      new PutCommand({
        TableName: this.deps.tableName,
        Item: {
          pk: `AUTH#${authId}`,
          sk: SHOPS_SK,
          shops: entry.shops.map((shop) => ({ ...shop })),
          fetchedAtMs: entry.fetchedAtMs,
        },
      }),
    );
  }

  /** Drops the remembered list (a new authorization may cover other shops). */
  async forget(authId: string): Promise<void> {
    await this.deps.documents.send(
      new DeleteCommand({ TableName: this.deps.tableName, Key: { pk: `AUTH#${authId}`, sk: SHOPS_SK } }),
    );
  }
}
