/**
 * Environment configuration, validated with zod once at cold start (DESIGN "Configuration").
 * Every bad value is reported by name; nothing starts on a bad configuration.
 */
import { z } from "zod";

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

const url = (name: string) =>
  z
    .string()
    .trim()
    .refine((value) => /^https?:\/\/[^\s]+$/.test(value), `${name} must be an http(s) URL`)
    .transform((value) => value.replace(/\/+$/, ""));

const integer = (name: string, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((value) => value >= min && value <= max, `${name} must be between ${min} and ${max}`);

const positiveNumber = (name: string, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, `${name} must be a positive number`)
    .transform(Number)
    .refine((value) => value > 0 && value <= max, `${name} must be greater than 0 and at most ${max}`);

const nonEmpty = (name: string) => z.string().trim().min(1, `${name} must not be empty`);

const boolean = (name: string) =>
  z
    .enum(["true", "false", "1", "0"], { message: `${name} must be true or false` })
    .transform((value) => value === "true" || value === "1");

const CREDENTIALS_REQUIRED =
  "TIKTOK_APP_KEY and TIKTOK_APP_SECRET are required (or TIKTOK_SECRET_ARN on AWS)";

/** Variables shared by every entry point (Lambda, local stack, CLI). */
export const syncEnvSchema = z
  .object({
    TIKTOK_API_BASE_URL: url("TIKTOK_API_BASE_URL").default("https://open-api.tiktokglobalshop.com"),
    TIKTOK_AUTH_BASE_URL: url("TIKTOK_AUTH_BASE_URL").default("https://auth.tiktok-shops.com"),
    /** On AWS the app key/secret come from Secrets Manager (TIKTOK_SECRET_ARN) instead. */
    TIKTOK_APP_KEY: nonEmpty("TIKTOK_APP_KEY").optional(),
    TIKTOK_APP_SECRET: nonEmpty("TIKTOK_APP_SECRET").optional(),
    TIKTOK_SECRET_ARN: nonEmpty("TIKTOK_SECRET_ARN").optional(),
    /** Seeds the TOKEN item on first run only; the rotating pair then lives in the state table. */
    TIKTOK_ACCESS_TOKEN: nonEmpty("TIKTOK_ACCESS_TOKEN").optional(),
    TIKTOK_REFRESH_TOKEN: nonEmpty("TIKTOK_REFRESH_TOKEN").optional(),
    TIKTOK_SHOP_ID: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, "TIKTOK_SHOP_ID must be 1-64 letters, digits, '_' or '-'")
      .optional(),
    TIKTOK_SHOP_CIPHER: nonEmpty("TIKTOK_SHOP_CIPHER").optional(),
    TIKTOK_MAX_RPS: positiveNumber("TIKTOK_MAX_RPS", 1000).default(5),
    DYNAMODB_ENDPOINT: url("DYNAMODB_ENDPOINT").optional(),
    SQS_ENDPOINT: url("SQS_ENDPOINT").optional(),
    AWS_REGION: nonEmpty("AWS_REGION").optional(),
    ORDERS_TABLE_NAME: nonEmpty("ORDERS_TABLE_NAME").default("tss-orders"),
    STATE_TABLE_NAME: nonEmpty("STATE_TABLE_NAME").default("tss-state"),
    WORK_QUEUE_URL: nonEmpty("WORK_QUEUE_URL").optional(),
    DEAD_LETTER_QUEUE_URL: nonEmpty("DEAD_LETTER_QUEUE_URL").optional(),
    PORT: integer("PORT", 1, 65_535).default(3000),
    SYNC_INTERVAL_SECONDS: integer("SYNC_INTERVAL_SECONDS", 5, 86_400).default(300),
    SYNC_OVERLAP_SECONDS: integer("SYNC_OVERLAP_SECONDS", 0, 86_400).default(300),
    SYNC_SETTLE_SECONDS: integer("SYNC_SETTLE_SECONDS", 0, 3_600).default(30),
    /** Upper bound on clock skew between us and TikTok that the overlap must also cover. */
    SYNC_MAX_CLOCK_SKEW_SECONDS: integer("SYNC_MAX_CLOCK_SKEW_SECONDS", 0, 3_600).default(30),
    /** Parallel full-resync workers; each gets TIKTOK_MAX_RPS / WORKER_CONCURRENCY. */
    WORKER_CONCURRENCY: integer("WORKER_CONCURRENCY", 1, 1_000).default(4),
    /** Seconds an incremental run's lock lease lasts; longer than the function timeout. */
    SYNC_LOCK_LEASE_SECONDS: integer("SYNC_LOCK_LEASE_SECONDS", 10, 3_600).default(120),
    /** Orders at most one query may page through (TikTok is reported to stop near 5,000). */
    TIKTOK_RESULT_CAP: integer("TIKTOK_RESULT_CAP", 100, 1_000_000).default(5_000),
    STORE_RECIPIENT_DATA: boolean("STORE_RECIPIENT_DATA").default(true),
  })
  .superRefine((env, context) => {
    // Rule 3: the overlap must cover the settle delay plus clock skew, or late updates slip through.
    // zod runs this even when a field failed (then it holds the raw string): compare valid numbers only.
    const parts = [env.SYNC_OVERLAP_SECONDS, env.SYNC_SETTLE_SECONDS, env.SYNC_MAX_CLOCK_SKEW_SECONDS];
    const comparable = parts.every((value) => typeof value === "number" && Number.isFinite(value));
    if (comparable && env.SYNC_OVERLAP_SECONDS <= env.SYNC_SETTLE_SECONDS + env.SYNC_MAX_CLOCK_SKEW_SECONDS) {
      context.addIssue({
        code: "custom",
        path: ["SYNC_OVERLAP_SECONDS"],
        message: `SYNC_OVERLAP_SECONDS (${env.SYNC_OVERLAP_SECONDS}) must exceed SYNC_SETTLE_SECONDS (${env.SYNC_SETTLE_SECONDS}) + SYNC_MAX_CLOCK_SKEW_SECONDS (${env.SYNC_MAX_CLOCK_SKEW_SECONDS})`,
      });
    }
    if (!env.TIKTOK_SECRET_ARN && (!env.TIKTOK_APP_KEY || !env.TIKTOK_APP_SECRET)) {
      context.addIssue({
        code: "custom",
        path: ["TIKTOK_APP_KEY"],
        message: CREDENTIALS_REQUIRED,
      });
    }
  });

export type SyncConfig = z.output<typeof syncEnvSchema>;

/** Parses the environment; throws ConfigError naming each bad variable (never echoing secrets). */
export function parseConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined>): SyncConfig {
  const blanksRemoved = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const result = syncEnvSchema.safeParse(blanksRemoved);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join(".");
    return issue.message.startsWith(name) ? issue.message : `${name}: ${issue.message}`;
  });
  // A credential that is set but invalid is reported by name; "are required" would only blur that.
  const badCredential = problems.some(
    (problem) =>
      problem !== CREDENTIALS_REQUIRED &&
      /^(TIKTOK_APP_KEY|TIKTOK_APP_SECRET|TIKTOK_SECRET_ARN) /.test(problem),
  );
  return failConfig(
    badCredential ? problems.filter((problem) => problem !== CREDENTIALS_REQUIRED) : problems,
  );
}

function failConfig(problems: string[]): never {
  throw new ConfigError(`Invalid configuration:\n  - ${problems.join("\n  - ")}`, problems);
}
