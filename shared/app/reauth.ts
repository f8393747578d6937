/**
 * Installing a new token pair for an authorization after the seller authorized the app again: either
 * exchange an auth code (`/api/v2/token/get`) or take a pair obtained elsewhere. The TOKEN item is
 * replaced with a new version (in-flight refreshes of the old pair lose), `needs_reauth` and any refresh
 * claim are cleared, and the remembered shop list is dropped so the next listing asks TikTok again. The
 * shops of the authorization resume on their next tick. Tokens are never printed or logged.
 */
import { type Clock, unixSeconds } from "../clock";
import type { ShopDirectory } from "../store/shop-directory";
import type { DynamoTokenRepository } from "../store/token-repository";
import type { TikTokAuthClient } from "../tiktok/auth-client";
import type { TokenPair } from "../tiktok/tokens";

export type ReauthSource =
  | { readonly kind: "auth-code"; readonly authCode: string }
  | {
      readonly kind: "pair";
      readonly accessToken: string;
      readonly refreshToken: string;
      /** Unix seconds; unknown → treated as valid for 6 days (a rejection triggers a refresh). */
      readonly accessTokenExpiresAt?: number;
    };

export interface ReauthDeps {
  readonly repository: Pick<DynamoTokenRepository, "storeAuthorized" | "get">;
  readonly directory?: Pick<ShopDirectory, "forget">;
  /** Needed for an auth code. */
  readonly authClient?: Pick<TikTokAuthClient, "getToken">;
  readonly clock: Clock;
}

export interface ReauthResult {
  readonly authId: string;
  readonly version: number;
  /** ISO 8601. */
  readonly accessTokenExpiresAt: string;
  readonly sellerName?: string;
}

export async function installAuthorization(
  deps: ReauthDeps,
  authId: string,
  source: ReauthSource,
): Promise<ReauthResult> {
  const now = unixSeconds(deps.clock);
  let pair: TokenPair;
  let sellerName: string | undefined;
  if (source.kind === "auth-code") {
    if (!deps.authClient) throw new Error("exchanging an auth code needs the TikTok app key and secret");
    const data = await deps.authClient.getToken(source.authCode);
    pair = {
      accessToken: data.access_token,
      accessTokenExpiresAt: data.access_token_expire_in,
      refreshToken: data.refresh_token,
      refreshTokenExpiresAt: data.refresh_token_expire_in,
    };
    sellerName = data.seller_name || undefined;
  } else {
    pair = {
      accessToken: source.accessToken,
      accessTokenExpiresAt: source.accessTokenExpiresAt ?? now + 6 * 86_400,
      refreshToken: source.refreshToken,
      refreshTokenExpiresAt: 0,
    };
  }
  await deps.repository.storeAuthorized(authId, pair);
  await deps.directory?.forget(authId);
  const stored = await deps.repository.get(authId);
  return {
    authId,
    version: stored?.version ?? 0,
    accessTokenExpiresAt: new Date(pair.accessTokenExpiresAt * 1000).toISOString(),
    ...(sellerName ? { sellerName } : {}),
  };
}
