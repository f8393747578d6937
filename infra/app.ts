/**
 * The CDK app: one TikTokShopSyncStack, configured from context (`cdk.json` or `-c key=value`), checked
 * by cdk-nag's AwsSolutions pack for the whole app. Runs offline: no lookups, no account or region.
 *
 *   npx cdk synth -c scheduleMinutes=10 -c alarmEmail=ops@example.com -c shopId=7495...
 *   npx cdk synth -c shops=7495…:ROW_…,7496…@agency-b -c authorizations=default,agency-b -c orderRetentionDays=730
 */
import { App, type AppProps, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { type FunctionName, TikTokShopSyncStack, type TikTokShopSyncStackProps } from "./stack";

/** Context keys the app reads; anything else in context is CDK's own. */
export const CONTEXT_KEYS = [
  "stackName",
  "scheduleMinutes",
  "alarmEmail",
  "shopId",
  "shopCipher",
  "shops",
  "authorizations",
  "shopConcurrency",
  "orderRetentionDays",
  "storeRecipientData",
  "tiktokSecretArn",
  "tiktokApiBaseUrl",
  "tiktokAuthBaseUrl",
  "maxRps",
  "workerConcurrency",
  "workerBatchSize",
  "logLevel",
] as const;

export interface CreateAppOptions {
  readonly context?: AppProps["context"];
  /** Entry file overrides (tests point these at a fixture). */
  readonly entries?: Partial<Record<FunctionName, string>>;
  /** Cloud assembly directory. @default the CLI's, or a fresh temporary directory */
  readonly outdir?: string;
}

export function createApp(options: CreateAppOptions = {}): { app: App; stack: TikTokShopSyncStack } {
  const app = new App({ context: options.context, outdir: options.outdir });
  const text = (key: (typeof CONTEXT_KEYS)[number]): string | undefined => {
    const value: unknown = app.node.tryGetContext(key);
    return value === undefined || value === null || value === "" ? undefined : String(value);
  };
  const number = (key: (typeof CONTEXT_KEYS)[number]): number | undefined => {
    const value = text(key);
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw new Error(`context ${key} must be a number (got "${value}")`);
    return parsed;
  };
  const logLevel = text("logLevel");
  if (logLevel !== undefined && !["DEBUG", "INFO", "WARN", "ERROR"].includes(logLevel)) {
    throw new Error(`context logLevel must be DEBUG, INFO, WARN or ERROR (got "${logLevel}")`);
  }

  const props: TikTokShopSyncStackProps = {
    description: "TikTok Shop order sync: scheduled incremental sync, full resync fan-out, status API",
    scheduleMinutes: number("scheduleMinutes"),
    alarmEmail: text("alarmEmail"),
    shopId: text("shopId"),
    shopCipher: text("shopCipher"),
    shops: text("shops"),
    authorizations: text("authorizations"),
    shopConcurrency: number("shopConcurrency"),
    orderRetentionDays: number("orderRetentionDays"),
    storeRecipientData: (() => {
      const value = text("storeRecipientData");
      if (value === undefined) return undefined;
      if (value !== "true" && value !== "false") {
        throw new Error(`context storeRecipientData must be true or false (got "${value}")`);
      }
      return value === "true";
    })(),
    tiktokSecretArn: text("tiktokSecretArn"),
    tiktokApiBaseUrl: text("tiktokApiBaseUrl"),
    tiktokAuthBaseUrl: text("tiktokAuthBaseUrl"),
    maxRps: number("maxRps"),
    workerConcurrency: number("workerConcurrency"),
    workerBatchSize: number("workerBatchSize"),
    logLevel: logLevel as TikTokShopSyncStackProps["logLevel"],
    entries: options.entries,
  };
  const stack = new TikTokShopSyncStack(app, text("stackName") ?? "TikTokShopSync", props);

  // cdk-nag 3 is a policy-validation plugin (it replaced the v2 Aspect): it runs over the whole app at
  // synth and fails it on any unacknowledged finding. Acknowledgements live in nag-suppressions.ts.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

// The CDK CLI sets CDK_OUTDIR, so the App synthesises itself when this process exits.
if (require.main === module) createApp();
