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

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** One configured shop: its id, optionally its cipher, and the authorization (token pair) that covers it. */
export interface ShopConfig {
  readonly shopId: string;
  readonly shopCipher?: string;
  readonly authId: string;
}

/** The authorization a single-shop or unlabelled configuration uses. */
export const DEFAULT_AUTH_ID = "default";

const authorizations = z
  .string()
  .trim()
  .transform((value, context) => {
    const ids = value
      .split(",")
      .map((id) => id.trim())
      .filter((id) => id !== "");
    const bad = ids.filter((id) => !ID_PATTERN.test(id));
    if (ids.length === 0 || bad.length > 0) {
      context.addIssue({
        code: "custom",
        message: `TIKTOK_AUTHORIZATIONS must be a comma list of ids of 1-64 letters, digits, '_' or '-'${bad.length ? ` (bad: ${bad.join(", ")})` : ""}`,
      });
      return z.NEVER;
    }
    if (new Set(ids).size !== ids.length) {
      context.addIssue({ code: "custom", message: "TIKTOK_AUTHORIZATIONS names an authorization twice" });
      return z.NEVER;
    }
    return ids;
  });

/**
 * `TIKTOK_SHOPS`: either a comma list of `shopId[:cipher][@authId]` or a JSON array of
 * `{"shop_id", "cipher"?, "auth"?}`. Each problem names the entry.
 */
export function parseShopList(
  raw: string,
  defaultAuthId: string,
): { shops?: ShopConfig[]; problems: string[] } {
  const problems: string[] = [];
  const shops: ShopConfig[] = [];
  const add = (position: number, shopId: unknown, cipher: unknown, authId: unknown) => {
    const where = `TIKTOK_SHOPS entry ${position + 1}`;
    if (typeof shopId !== "string" || !ID_PATTERN.test(shopId)) {
      problems.push(
        `${where}: shop id must be 1-64 letters, digits, '_' or '-' (got ${JSON.stringify(shopId)})`,
      );
      return;
    }
    if (
      cipher !== undefined &&
      (typeof cipher !== "string" || cipher.trim() === "" || /[\s,]/.test(cipher))
    ) {
      problems.push(`${where} (${shopId}): cipher must be a non-empty string without spaces or commas`);
      return;
    }
    if (authId !== undefined && (typeof authId !== "string" || !ID_PATTERN.test(authId))) {
      problems.push(`${where} (${shopId}): authorization must be 1-64 letters, digits, '_' or '-'`);
      return;
    }
    if (shops.some((shop) => shop.shopId === shopId)) {
      problems.push(`${where}: shop ${shopId} is listed twice`);
      return;
    }
    shops.push({
      shopId,
      ...(typeof cipher === "string" ? { shopCipher: cipher.trim() } : {}),
      authId: typeof authId === "string" ? authId : defaultAuthId,
    });
  };
  const text = raw.trim();
  if (text.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return {
        problems: ["TIKTOK_SHOPS is not valid JSON (expected an array of {shop_id, cipher?, auth?})"],
      };
    }
    if (!Array.isArray(parsed)) return { problems: ["TIKTOK_SHOPS must be a JSON array"] };
    parsed.forEach((entry, position) => {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        problems.push(`TIKTOK_SHOPS entry ${position + 1}: must be an object {shop_id, cipher?, auth?}`);
        return;
      }
      const record = entry as Record<string, unknown>;
      const unknown = Object.keys(record).filter((key) => !["shop_id", "cipher", "auth"].includes(key));
      if (unknown.length > 0) {
        problems.push(`TIKTOK_SHOPS entry ${position + 1}: unknown field(s) ${unknown.join(", ")}`);
        return;
      }
      add(position, record.shop_id, record.cipher, record.auth);
    });
  } else {
    const entries = text.split(",").map((entry) => entry.trim());
    entries.forEach((entry, position) => {
      const match = /^([^:@\s]*)(?::([^@\s]*))?(?:@(\S*))?$/.exec(entry);
      if (!match) {
        problems.push(
          `TIKTOK_SHOPS entry ${position + 1}: expected shopId[:cipher][@authorization], got "${entry}"`,
        );
        return;
      }
      add(position, match[1], match[2], match[3]);
    });
  }
  if (shops.length === 0 && problems.length === 0) problems.push("TIKTOK_SHOPS lists no shop");
  return problems.length > 0 ? { problems } : { shops, problems };
}
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
    /**
     * Shops to sync, overriding discovery: `id[:cipher][@auth],…` or JSON `[{shop_id, cipher?, auth?}]`.
     * Without it (and without TIKTOK_SHOP_ID) every shop each authorization's token covers is discovered.
     */
    TIKTOK_SHOPS: z.string().trim().min(1, "TIKTOK_SHOPS must not be empty").optional(),
    /** Authorizations (token pairs, one per seller grant); the first is seeded by TIKTOK_ACCESS/REFRESH_TOKEN. */
    TIKTOK_AUTHORIZATIONS: authorizations.default([DEFAULT_AUTH_ID]),
    /** Shops a tick syncs at once; each shop is isolated from the others' failures and slowness. */
    SHOP_CONCURRENCY: integer("SHOP_CONCURRENCY", 1, 100).default(4),
    /** How long discovered shop lists are reused before asking TikTok again. */
    SHOP_DISCOVERY_TTL_SECONDS: integer("SHOP_DISCOVERY_TTL_SECONDS", 0, 86_400).default(900),
    /** Optional retention: stored orders expire (DynamoDB TTL `expiresAt`) this many days after create_time. */
    ORDER_RETENTION_DAYS: integer("ORDER_RETENTION_DAYS", 1, 36_500).optional(),
    TIKTOK_MAX_RPS: positiveNumber("TIKTOK_MAX_RPS", 1000).default(5),
    DYNAMODB_ENDPOINT: url("DYNAMODB_ENDPOINT").optional(),
    SQS_ENDPOINT: url("SQS_ENDPOINT").optional(),
    AWS_REGION: nonEmpty("AWS_REGION").optional(),
    ORDERS_TABLE_NAME: nonEmpty("ORDERS_TABLE_NAME").default("tss-orders"),
    STATE_TABLE_NAME: nonEmpty("STATE_TABLE_NAME").default("tss-state"),
    WORK_QUEUE_URL: nonEmpty("WORK_QUEUE_URL").optional(),
    DEAD_LETTER_QUEUE_URL: nonEmpty("DEAD_LETTER_QUEUE_URL").optional(),
    /** Verified TikTok webhooks: the receiver sends to it, the consumer hands events back to it. */
    WEBHOOK_QUEUE_URL: nonEmpty("WEBHOOK_QUEUE_URL").optional(),
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
    /**
     * total_count probes a full resync's planner may spend sizing windows up front (0: none — one window
     * over the range, sized by its own first page; an empty range then takes a worker's page, not a probe).
     */
    FULL_RESYNC_PLANNER_PROBES: integer("FULL_RESYNC_PLANNER_PROBES", 0, 10_000).default(0),
    STORE_RECIPIENT_DATA: boolean("STORE_RECIPIENT_DATA").default(true),
    /**
     * Also publish OrdersUnchanged and RunDurationMs to CloudWatch (as totals). Off by default for
     * cost: they stay in the run's log line and in status (shared/observability/metric-names.ts).
     */
    DETAILED_METRICS: boolean("DETAILED_METRICS").default(false),
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
    if (env.TIKTOK_SHOPS !== undefined) {
      if (env.TIKTOK_SHOP_ID !== undefined) {
        context.addIssue({
          code: "custom",
          path: ["TIKTOK_SHOP_ID"],
          message: "TIKTOK_SHOP_ID and TIKTOK_SHOPS are both set: list every shop in TIKTOK_SHOPS only",
        });
      }
      const parsed = parseShopList(env.TIKTOK_SHOPS, env.TIKTOK_AUTHORIZATIONS[0] ?? DEFAULT_AUTH_ID);
      for (const problem of parsed.problems)
        context.addIssue({ code: "custom", path: ["TIKTOK_SHOPS"], message: problem });
      for (const shop of parsed.shops ?? []) {
        if (!env.TIKTOK_AUTHORIZATIONS.includes(shop.authId)) {
          context.addIssue({
            code: "custom",
            path: ["TIKTOK_SHOPS"],
            message: `TIKTOK_SHOPS: shop ${shop.shopId} names authorization "${shop.authId}", which TIKTOK_AUTHORIZATIONS (${env.TIKTOK_AUTHORIZATIONS.join(", ")}) does not list`,
          });
        }
      }
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

/**
 * The configured shops (TIKTOK_SHOPS, or TIKTOK_SHOP_ID + TIKTOK_SHOP_CIPHER under the first
 * authorization), or undefined: discover every shop of every authorization.
 */
export function configuredShops(config: SyncConfig): ShopConfig[] | undefined {
  const defaultAuthId = config.TIKTOK_AUTHORIZATIONS[0] ?? DEFAULT_AUTH_ID;
  if (config.TIKTOK_SHOPS !== undefined) return parseShopList(config.TIKTOK_SHOPS, defaultAuthId).shops;
  if (config.TIKTOK_SHOP_ID === undefined) return undefined;
  return [
    {
      shopId: config.TIKTOK_SHOP_ID,
      ...(config.TIKTOK_SHOP_CIPHER ? { shopCipher: config.TIKTOK_SHOP_CIPHER } : {}),
      authId: defaultAuthId,
    },
  ];
}

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
