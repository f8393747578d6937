/**
 * Cold-start wiring shared by the Lambda entry points: environment parsed once with zod, the TikTok app
 * credentials read from Secrets Manager (cached by Powertools Parameters), Powertools observability.
 * Secrets stay out of environment variables and logs on AWS.
 */
import { getSecret } from "@aws-lambda-powertools/parameters/secrets";
import { z } from "zod";
import { parseConfig, type SyncConfig } from "../config";
import { createPowertools } from "../observability/powertools";
import type { FullResyncDeps, FullResyncSettings } from "../sync/full-resync/deps";
import { wireFullResync } from "./full-resync-wiring";
import { type AppCredentials, Runtime } from "./runtime";

const secretSchema = z.object({
  app_key: z.string().min(1),
  app_secret: z.string().min(1),
  access_token: z.string().min(1).optional(),
  refresh_token: z.string().min(1).optional(),
});

export async function loadCredentials(config: SyncConfig): Promise<AppCredentials> {
  if (config.TIKTOK_SECRET_ARN) {
    const raw = await getSecret(config.TIKTOK_SECRET_ARN, { transform: "json", maxAge: 300 });
    const parsed = secretSchema.safeParse(raw);
    if (!parsed.success) {
      throw new Error(
        "the TikTok secret must be JSON with app_key and app_secret (and optionally the token pair)",
      );
    }
    const { app_key, app_secret, access_token, refresh_token } = parsed.data;
    return {
      appKey: app_key,
      appSecret: app_secret,
      ...(access_token && refresh_token
        ? { initialTokens: { accessToken: access_token, refreshToken: refresh_token } }
        : {}),
    };
  }
  return credentialsFromEnv(config);
}

export function credentialsFromEnv(config: SyncConfig): AppCredentials {
  return {
    appKey: config.TIKTOK_APP_KEY as string,
    appSecret: config.TIKTOK_APP_SECRET as string,
    ...(config.TIKTOK_ACCESS_TOKEN && config.TIKTOK_REFRESH_TOKEN
      ? {
          initialTokens: {
            accessToken: config.TIKTOK_ACCESS_TOKEN,
            refreshToken: config.TIKTOK_REFRESH_TOKEN,
          },
        }
      : {}),
  };
}

/**
 * Builds the function's runtime once per container. The promise is created on the first invocation (no
 * top-level await, which CommonJS bundles cannot carry) and reused while the container lives.
 */
export function lambdaRuntime(
  serviceName: string,
  options: {
    budgetShare?: (config: SyncConfig) => number;
    fullResyncSettings?: (config: SyncConfig) => Partial<FullResyncSettings>;
  } = {},
) {
  const config = parseConfig(process.env);
  const powertools = createPowertools(serviceName);
  let wired: Promise<{ runtime: Runtime; fullResync: FullResyncDeps }> | undefined;
  const get = () => {
    wired ??= loadCredentials(config).then((credentials) => {
      const runtime = new Runtime(config, {
        credentials,
        metrics: powertools.metricsPort,
        log: powertools.logPort,
        ...(options.budgetShare ? { budgetShare: options.budgetShare(config) } : {}),
      });
      const settings = options.fullResyncSettings?.(config);
      return { runtime, fullResync: wireFullResync(runtime, settings ? { settings } : {}) };
    });
    wired.catch(() => {
      wired = undefined;
    });
    return wired;
  };
  return { config, powertools, wired: get, runtime: async () => (await get()).runtime };
}
