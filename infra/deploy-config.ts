/**
 * Every stack setting in one typed, validated place: `deploy.config.json` at the repository root,
 * committed with the code. Parsed with zod: each bad value is reported by setting name (and the value
 * it got), unknown settings are refused, absent ones take the defaults below (today's deployment).
 *
 * `-c key=value` overrides of these settings are refused at synth, with a message pointing at the
 * file. CDK does not remember `-c` flags, so a later `cdk deploy` without the same flags would
 * silently deploy other settings (drop the alarm e-mail, change the shop list or the schedule).
 * Persisting `-c` values instead would make `cdk synth` rewrite a source file as a side effect; a
 * refusal keeps "what is deployed = what is committed" with no hidden state.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { z } from "zod";
import { ConfigError } from "../shared/config";
import { functionEnvironment, type TikTokShopSyncStackProps } from "./stack";

export const DEPLOY_CONFIG_FILE = "deploy.config.json";
export const DEFAULT_DEPLOY_CONFIG_PATH = path.resolve(__dirname, "..", DEPLOY_CONFIG_FILE);

export class DeployConfigError extends Error {
  constructor(
    message: string,
    readonly problems: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DeployConfigError";
  }
}

const LOG_RETENTION_DAYS = Object.values(RetentionDays).filter(
  (value): value is RetentionDays => typeof value === "number",
);

const wholeNumber = (min: number, max: number) =>
  z
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
const text = () => z.string({ error: "must be a string" }).trim().min(1, "must not be empty");
const flag = () => z.boolean({ error: "must be true or false (a JSON boolean)" });
const httpUrl = () =>
  z
    .string({ error: "must be a string" })
    .regex(/^https?:\/\/[^\s]+$/, "must be an http(s) URL")
    .transform((value) => value.replace(/\/+$/, ""));

export const deploySettingsSchema = z.strictObject({
  /** CloudFormation stack name; also the prefix of alarm and dashboard names. */
  stackName: z
    .string({ error: "must be a string" })
    .regex(
      /^[A-Za-z][A-Za-z0-9-]{0,127}$/,
      "must start with a letter and hold only letters, digits and '-' (at most 128)",
    )
    .default("TikTokShopSync"),
  /** Minutes between scheduled ticks. */
  scheduleMinutes: wholeNumber(1, 1440).default(5),
  /** Hours between scheduled reconciliations (issue 18); 0: no schedule, on demand only. */
  reconcileIntervalHours: wholeNumber(0, 720).default(24),
  /** E-mail subscribed to the alarm topic (AWS sends a confirmation mail first). */
  alarmEmail: z.email("must be an e-mail address").optional(),
  /** TIKTOK_SHOP_ID: one shop; also the dimension the alarms watch. */
  shopId: text().optional(),
  /** TIKTOK_SHOP_CIPHER of that shop. */
  shopCipher: text().optional(),
  /** TIKTOK_SHOPS: `id[:cipher][@authorization],…` or a JSON array; neither this nor shopId: discover. */
  shops: text().optional(),
  /** TIKTOK_AUTHORIZATIONS: comma list of authorization ids (runtime default "default"). */
  authorizations: text().optional(),
  /** SHOP_CONCURRENCY: shops a tick syncs at once (runtime default 4). */
  shopConcurrency: wholeNumber(1, 100).optional(),
  /** ORDER_RETENTION_DAYS: stored orders expire this many days after create_time (none by default). */
  orderRetentionDays: wholeNumber(1, 36_500).optional(),
  /** STORE_RECIPIENT_DATA: false strips recipient personal data (runtime default true). */
  storeRecipientData: flag().optional(),
  /** Use an existing secret (complete ARN) instead of creating a placeholder one. */
  tiktokSecretArn: z
    .string({ error: "must be a string" })
    .regex(
      /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
      "must be a complete Secrets Manager secret ARN (ending in the 6-character suffix AWS adds)",
    )
    .optional(),
  tiktokApiBaseUrl: httpUrl().default("https://open-api.tiktokglobalshop.com"),
  tiktokAuthBaseUrl: httpUrl().default("https://auth.tiktok-shops.com"),
  /** TIKTOK_MAX_RPS: the shop's TikTok request budget, shared by all functions. */
  maxRps: z
    .number({ error: "must be a number" })
    .positive("must be greater than 0")
    .max(1000, "must be at most 1000")
    .default(5),
  /** Worker concurrency: the event source's MaximumConcurrency (SQS allows no less than 2). */
  workerConcurrency: wholeNumber(2, 1000).default(4),
  /** SQS messages per worker invocation (more than 10 would need a batching window). */
  workerBatchSize: wholeNumber(1, 10).default(1),
  /** SYNC_OVERLAP_SECONDS: must exceed settleSeconds + the allowed clock skew (30 s). */
  overlapSeconds: wholeNumber(0, 86_400).default(300),
  /** SYNC_SETTLE_SECONDS: orders updated this recently are left for the next tick. */
  settleSeconds: wholeNumber(0, 3_600).default(30),
  logLevel: z
    .enum(["DEBUG", "INFO", "WARN", "ERROR"], { error: "must be DEBUG, INFO, WARN or ERROR" })
    .default("INFO"),
  /** Retention of every function's log group and the API access logs (a CloudWatch Logs value). */
  logRetentionDays: z
    .number({ error: "must be a number" })
    .refine((value) => (LOG_RETENTION_DAYS as number[]).includes(value), {
      message: `must be one of CloudWatch Logs' retention values: ${LOG_RETENTION_DAYS.join(", ")} (9999 = never expire)`,
    })
    .default(RetentionDays.ONE_MONTH),
  /** Default throttling of the HTTP API stage. */
  apiThrottle: z
    .strictObject({
      rateLimit: z.number({ error: "must be a number" }).positive("must be greater than 0"),
      burstLimit: wholeNumber(0, 5000),
    })
    .default({ rateLimit: 10, burstLimit: 20 }),
  /** Throttling of the webhook route alone (the one route without IAM: TikTok's pushes, or a prober). */
  webhookThrottle: z
    .strictObject({
      rateLimit: z.number({ error: "must be a number" }).positive("must be greater than 0"),
      burstLimit: wholeNumber(0, 5000),
    })
    .default({ rateLimit: 50, burstLimit: 100 }),
  /** DETAILED_METRICS: also publish OrdersUnchanged and RunDurationMs (each a billed custom metric). */
  detailedMetrics: flag().default(false),
});

export type DeploySettings = z.output<typeof deploySettingsSchema>;
export type DeploySettingsInput = z.input<typeof deploySettingsSchema>;
export type DeploySettingName = keyof DeploySettings;

export const DEPLOY_SETTING_NAMES = Object.keys(deploySettingsSchema.shape) as DeploySettingName[];

/** The function setting (shared/config.ts) each deploy setting becomes, to name runtime problems. */
const SETTING_OF_VARIABLE: Readonly<Record<string, DeploySettingName>> = {
  TIKTOK_API_BASE_URL: "tiktokApiBaseUrl",
  TIKTOK_AUTH_BASE_URL: "tiktokAuthBaseUrl",
  TIKTOK_MAX_RPS: "maxRps",
  WORKER_CONCURRENCY: "workerConcurrency",
  SYNC_INTERVAL_SECONDS: "scheduleMinutes",
  SYNC_OVERLAP_SECONDS: "overlapSeconds",
  SYNC_SETTLE_SECONDS: "settleSeconds",
  TIKTOK_SHOP_ID: "shopId",
  TIKTOK_SHOP_CIPHER: "shopCipher",
  TIKTOK_SHOPS: "shops",
  TIKTOK_AUTHORIZATIONS: "authorizations",
  SHOP_CONCURRENCY: "shopConcurrency",
  ORDER_RETENTION_DAYS: "orderRetentionDays",
  STORE_RECIPIENT_DATA: "storeRecipientData",
};

/** The stack's properties for these settings (without entries or description). */
export function toStackProps(settings: DeploySettings): TikTokShopSyncStackProps {
  return {
    scheduleMinutes: settings.scheduleMinutes,
    reconcileIntervalHours: settings.reconcileIntervalHours,
    alarmEmail: settings.alarmEmail,
    shopId: settings.shopId,
    shopCipher: settings.shopCipher,
    shops: settings.shops,
    authorizations: settings.authorizations,
    shopConcurrency: settings.shopConcurrency,
    orderRetentionDays: settings.orderRetentionDays,
    storeRecipientData: settings.storeRecipientData,
    tiktokSecretArn: settings.tiktokSecretArn,
    tiktokApiBaseUrl: settings.tiktokApiBaseUrl,
    tiktokAuthBaseUrl: settings.tiktokAuthBaseUrl,
    maxRps: settings.maxRps,
    workerConcurrency: settings.workerConcurrency,
    workerBatchSize: settings.workerBatchSize,
    overlapSeconds: settings.overlapSeconds,
    settleSeconds: settings.settleSeconds,
    logLevel: settings.logLevel,
    logRetention: settings.logRetentionDays as RetentionDays,
    apiThrottle: settings.apiThrottle,
    webhookThrottle: settings.webhookThrottle,
    detailedMetrics: settings.detailedMetrics,
  };
}

function valueAt(raw: unknown, keys: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of keys) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describe(value: unknown): string {
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

function fail(source: string, problems: string[], cause?: unknown): never {
  throw new DeployConfigError(
    `${source} is invalid:\n  - ${problems.join("\n  - ")}`,
    problems,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Validates raw settings (the parsed JSON of the file): types and ranges here, then the runtime's own
 * schema over the environment the functions will get, each problem named by its setting.
 */
export function parseDeploySettings(raw: unknown, source = DEPLOY_CONFIG_FILE): DeploySettings {
  const result = deploySettingsSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.flatMap((issue) => {
      if (issue.code === "unrecognized_keys") {
        const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
        return issue.keys.map(
          (key) =>
            `${where}unknown setting "${key}" (known: ${issue.path.length > 0 ? "see docs/deploy.md" : DEPLOY_SETTING_NAMES.join(", ")})`,
        );
      }
      if (issue.path.length === 0) return [`must be a JSON object of settings (${issue.message})`];
      const value = valueAt(raw, issue.path);
      return [`${issue.path.join(".")}: ${issue.message} (got ${describe(value)})`];
    });
    fail(source, problems, result.error);
  }
  try {
    functionEnvironment(toStackProps(result.data));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const problems = error.problems.map((problem) => {
      const variable = /^[A-Z_]+/.exec(problem)?.[0] ?? "";
      const setting = SETTING_OF_VARIABLE[variable];
      return setting ? `${setting}: ${problem}` : problem;
    });
    fail(source, problems, error);
  }
  return result.data;
}

/** Reads and validates the settings file; a missing file or bad JSON is named with its path. */
export function loadDeploySettings(file = DEFAULT_DEPLOY_CONFIG_PATH): DeploySettings {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new DeployConfigError(
      `${file} could not be read: every stack setting lives there (an empty object {} deploys the defaults)`,
      [],
      { cause: error },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new DeployConfigError(
      `${file} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
      [],
      { cause: error },
    );
  }
  return parseDeploySettings(raw, path.basename(file));
}

/**
 * Refuses context values (`-c key=value`, or keys in cdk.json's context) that name a stack setting:
 * they are not remembered between deploys, so the file is the only place for them.
 */
export function rejectContextOverrides(contextKeys: readonly string[]): void {
  const settings = new Set<string>(DEPLOY_SETTING_NAMES);
  const overrides = contextKeys.filter((key) => settings.has(key.split(".")[0] ?? key));
  if (overrides.length === 0) return;
  const problems = overrides.map(
    (key) =>
      `context "${key}" (-c ${key}=… or cdk.json) is not read: set "${key.split(".")[0]}" in ${DEPLOY_CONFIG_FILE} and commit it`,
  );
  throw new DeployConfigError(
    `Stack settings are not taken from CDK context: a later deploy without the same -c flag would silently change the deployment. Every setting lives in ${DEPLOY_CONFIG_FILE}:\n  - ${problems.join("\n  - ")}`,
    problems,
  );
}
