/**
 * Configuration of `npm start`: the product's own variables (shared/config.ts) plus what the laptop twin
 * decides for itself — which services to emulate (whatever is unset) and where local data lives. Every
 * problem is collected and reported at once, before anything starts.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { ConfigError, parseConfig, type SyncConfig } from "../../shared/config";

export interface LocalOptions {
  readonly fresh: boolean;
  readonly help: boolean;
  readonly dataDir: string;
  /** Orders per emulated shop and shops in the built-in dataset. */
  readonly emulatorOrders: number;
  readonly emulatorShops: number;
  /** Orders changed per second by the emulator's mutation feed (status steps and new orders). */
  readonly emulatorUpdatesPerSecond: number;
  readonly emulatorCreatesPerSecond: number;
  /** The built-in emulator sends signed webhooks for its changes to the local API. */
  readonly emulatorWebhooks: boolean;
  /** The local orders table gets its DynamoDB stream (off by default: see provision.ts). */
  readonly ordersStream: boolean;
}

/** The local app credentials the built-in TikTok emulator is started with. */
export const LOCAL_APP = { appKey: "local-app-key", appSecret: "local-app-secret" } as const;

/** The demo ticks every 30 s unless told otherwise (Lambda's schedule defaults to 5 minutes). */
export const LOCAL_SYNC_INTERVAL_SECONDS = "30";

export interface StartFlags {
  readonly fresh: boolean;
  readonly help: boolean;
  /** Arguments that are none of the flags, as given. */
  readonly unknown: readonly string[];
}

/** `npm start`'s flags: --fresh and --help/-h, nothing else (no values, no positionals). */
export function parseStartFlags(argv: readonly string[]): StartFlags {
  // Not strict: whatever is not a flag comes back as a token, to be listed in the error as typed.
  const { tokens } = parseArgs({
    args: [...argv],
    options: { fresh: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const flag = (name: string) => (token: (typeof tokens)[number]) =>
    token.kind === "option" && token.name === name && token.value === undefined;
  // A grouped short option ("-hx") is one argument with several tokens: unknown if any of them is.
  const unknownAt = new Set(
    tokens.filter((token) => !flag("fresh")(token) && !flag("help")(token)).map((token) => token.index),
  );
  const given = (name: string) => tokens.some((token) => flag(name)(token) && !unknownAt.has(token.index));
  return {
    fresh: given("fresh"),
    help: given("help"),
    unknown: [...unknownAt].map((index) => argv[index] as string),
  };
}

const rate = (name: string) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, `${name} must be a number ≥ 0`)
    .transform(Number)
    .refine((value) => value <= 1_000, `${name} must be at most 1000`);

const count = (name: string, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((value) => value >= 1 && value <= max, `${name} must be between 1 and ${max}`);

/** The variables only `npm start` reads (exported so tests can cover each one). */
export const localEnvSchema = z.object({
  LOCAL_DATA_DIR: z.string().trim().min(1, "LOCAL_DATA_DIR must not be empty").default(".local"),
  EMULATOR_ORDERS: count("EMULATOR_ORDERS", 1_000_000).default(10_000),
  EMULATOR_SHOPS: count("EMULATOR_SHOPS", 20).default(2),
  EMULATOR_UPDATES_PER_SECOND: rate("EMULATOR_UPDATES_PER_SECOND").default(0.5),
  EMULATOR_CREATES_PER_SECOND: rate("EMULATOR_CREATES_PER_SECOND").default(0.2),
  EMULATOR_WEBHOOKS: z
    .enum(["true", "false", "1", "0"], { message: "EMULATOR_WEBHOOKS must be true or false" })
    .transform((value) => value === "true" || value === "1")
    .default(true),
  LOCAL_ORDERS_STREAM: z
    .enum(["true", "false", "1", "0"], { message: "LOCAL_ORDERS_STREAM must be true or false" })
    .transform((value) => value === "true" || value === "1")
    .default(false),
});

function withoutBlanks(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== "",
    ),
  );
}

/** Flags and the variables only `npm start` reads; throws ConfigError naming every problem. */
export function parseLocalOptions(argv: readonly string[], env: NodeJS.ProcessEnv): LocalOptions {
  const problems: string[] = [];
  const flags = parseStartFlags(argv);
  if (flags.unknown.length > 0) {
    problems.push(`unknown option(s): ${flags.unknown.join(" ")} (known: --fresh, --help)`);
  }
  const parsed = localEnvSchema.safeParse(withoutBlanks(env));
  if (!parsed.success) problems.push(...parsed.error.issues.map((issue) => issue.message));
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigError(`Invalid configuration:\n  - ${problems.join("\n  - ")}`, problems);
  }
  return {
    fresh: flags.fresh,
    help: flags.help,
    dataDir: parsed.data.LOCAL_DATA_DIR,
    emulatorOrders: parsed.data.EMULATOR_ORDERS,
    emulatorShops: parsed.data.EMULATOR_SHOPS,
    emulatorUpdatesPerSecond: parsed.data.EMULATOR_UPDATES_PER_SECOND,
    emulatorCreatesPerSecond: parsed.data.EMULATOR_CREATES_PER_SECOND,
    emulatorWebhooks: parsed.data.EMULATOR_WEBHOOKS,
    ordersStream: parsed.data.LOCAL_ORDERS_STREAM,
  };
}

export interface StartConfig {
  readonly options: LocalOptions;
  readonly config: SyncConfig;
  /** TIKTOK_API_BASE_URL unset: the built-in emulator is started and used. */
  readonly emulateTikTok: boolean;
}

/**
 * Everything `npm start` is told, validated together: the product's variables (with the local defaults:
 * 30 s ticks, and the emulator's app credentials when TikTok is emulated) and the local ones. Throws one
 * ConfigError listing every problem.
 */
export function parseStartConfig(argv: readonly string[], env: NodeJS.ProcessEnv): StartConfig {
  const problems: string[] = [];
  const emulateTikTok = !env.TIKTOK_API_BASE_URL?.trim();
  let options: LocalOptions | undefined;
  let config: SyncConfig | undefined;
  try {
    options = parseLocalOptions(argv, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  try {
    config = parseConfig({
      ...env,
      SYNC_INTERVAL_SECONDS: env.SYNC_INTERVAL_SECONDS || LOCAL_SYNC_INTERVAL_SECONDS,
      ...(emulateTikTok
        ? {
            TIKTOK_APP_KEY: env.TIKTOK_APP_KEY || LOCAL_APP.appKey,
            TIKTOK_APP_SECRET: env.TIKTOK_APP_SECRET || LOCAL_APP.appSecret,
          }
        : {}),
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (problems.length > 0 || !options || !config) {
    throw new ConfigError(`Invalid configuration:\n  - ${problems.join("\n  - ")}`, problems);
  }
  return { options, config, emulateTikTok };
}
