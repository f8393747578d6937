/**
 * The TikTok app credentials: from the environment locally, from Secrets Manager on AWS. The stack
 * creates the secret with a generated placeholder (a random alphanumeric string) that the operator
 * replaces with `{"app_key","app_secret","access_token"?,"refresh_token"?}`. Until then the product is
 * "not configured": the tick reports that and returns cleanly, the API answers with it — no alarm,
 * no crash loop. A secret that is present but malformed fails clearly instead (and alarms).
 * Errors never quote the secret (JSON.parse's messages do: they are dropped, not kept as causes).
 */
import { z } from "zod";
import type { SyncConfig } from "../config";
import type { WebhookApp } from "../tiktok/signing";

export interface AppCredentials {
  readonly appKey: string;
  readonly appSecret: string;
  /** Seeds the first authorization's TOKEN item on first run only. */
  readonly initialTokens?: { accessToken: string; refreshToken: string };
  /**
   * Further apps whose webhooks are accepted besides this one (the secret's optional `webhook_apps`),
   * e.g. the previous secret while TikTok Partner Center rotates it.
   */
  readonly webhookApps?: readonly WebhookApp[];
}

/** Every app whose signature a webhook may carry: the app itself first, then `webhookApps`. */
export function webhookAppsOf(credentials: AppCredentials): WebhookApp[] {
  return [
    { appKey: credentials.appKey, appSecret: credentials.appSecret },
    ...(credentials.webhookApps ?? []),
  ];
}

/** The secret holds no credentials yet: nothing calls TikTok until the operator stores them. */
export interface CredentialsNotConfigured {
  readonly notConfigured: string;
}

export type CredentialsState = AppCredentials | CredentialsNotConfigured;

export function credentialsConfigured(state: CredentialsState): state is AppCredentials {
  return !("notConfigured" in state);
}

/** Work that needs TikTok was asked for while the credentials are not configured. */
export class CredentialsNotConfiguredError extends Error {
  constructor(readonly reason: string) {
    super(`the TikTok app credentials are not configured: ${reason}`);
    this.name = "CredentialsNotConfiguredError";
  }
}

/** A secret that is present but not the credentials document: the operator must fix it. */
export class SecretFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretFormatError";
  }
}

const secretSchema = z.object({
  app_key: z.string().min(1),
  app_secret: z.string().min(1),
  access_token: z.string().min(1).optional(),
  refresh_token: z.string().min(1).optional(),
  webhook_apps: z.array(z.object({ app_key: z.string().min(1), app_secret: z.string().min(1) })).optional(),
});

const EXPECTED = 'expected JSON {"app_key","app_secret","access_token"?,"refresh_token"?}';

/**
 * What the stack's placeholder looks like: one run of letters and digits (generated without
 * punctuation). No credentials document can look like that, so it is never mistaken for a broken one.
 */
const PLACEHOLDER = /^[A-Za-z0-9]+$/;

/** Reads the secret's text: credentials, not configured (empty or the placeholder), or SecretFormatError. */
export function parseCredentialsSecret(text: string | undefined, secretArn: string): CredentialsState {
  const value = text?.trim() ?? "";
  const whereToStore = `store ${EXPECTED} in the secret ${secretArn}`;
  if (value === "") return { notConfigured: `the secret is empty: ${whereToStore}` };
  if (PLACEHOLDER.test(value)) {
    return { notConfigured: `the secret still holds the placeholder the stack generated: ${whereToStore}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new SecretFormatError(`the TikTok secret ${secretArn} is not valid JSON (${EXPECTED})`);
  }
  const parsed = secretSchema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join(".") || "(root)"))];
    throw new SecretFormatError(
      `the TikTok secret ${secretArn} has missing or invalid field(s) ${fields.join(", ")} (${EXPECTED})`,
    );
  }
  const { app_key, app_secret, access_token, refresh_token, webhook_apps } = parsed.data;
  return {
    appKey: app_key,
    appSecret: app_secret,
    ...(access_token && refresh_token
      ? { initialTokens: { accessToken: access_token, refreshToken: refresh_token } }
      : {}),
    ...(webhook_apps && webhook_apps.length > 0
      ? { webhookApps: webhook_apps.map((app) => ({ appKey: app.app_key, appSecret: app.app_secret })) }
      : {}),
  };
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
