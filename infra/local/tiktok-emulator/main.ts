/**
 * CLI: `npx tsx infra/local/tiktok-emulator/main.ts [--port 0] [--orders 1000] [--shops 1] [--qps 0] ...`
 * Flags win over TIKTOK_EMULATOR_* variables, which win over the product's own TIKTOK_* variables (so a
 * local .env configures both sides alike). Prints one JSON line `{"ready":true,...}` on stdout, then
 * serves until SIGINT/SIGTERM.
 */
import { parseArgs } from "node:util";
import { EmulatorConfigError } from "./api-refusals";
import type { PageTokenMode, TikTokEmulatorOptions } from "./config";
import { defaultShopId } from "./config";
import { startTikTokEmulator } from "./emulator";

const FLAGS = {
  port: { env: "TIKTOK_EMULATOR_PORT" },
  host: { env: "TIKTOK_EMULATOR_HOST" },
  orders: { env: "TIKTOK_EMULATOR_ORDERS" },
  shops: { env: "TIKTOK_EMULATOR_SHOPS" },
  qps: { env: "TIKTOK_EMULATOR_QPS" },
  latency: { env: "TIKTOK_EMULATOR_LATENCY_MS" },
  seed: { env: "TIKTOK_EMULATOR_SEED" },
  "token-mode": { env: "TIKTOK_EMULATOR_TOKEN_MODE" },
  "result-cap": { env: "TIKTOK_EMULATOR_RESULT_CAP" },
  "history-days": { env: "TIKTOK_EMULATOR_HISTORY_DAYS" },
  "updates-per-second": { env: "TIKTOK_EMULATOR_UPDATES_PER_SECOND" },
  "creates-per-second": { env: "TIKTOK_EMULATOR_CREATES_PER_SECOND" },
  "app-key": { env: "TIKTOK_EMULATOR_APP_KEY", fallback: "TIKTOK_APP_KEY" },
  "app-secret": { env: "TIKTOK_EMULATOR_APP_SECRET", fallback: "TIKTOK_APP_SECRET" },
  "shop-id": { env: "TIKTOK_EMULATOR_SHOP_ID", fallback: "TIKTOK_SHOP_ID" },
  "shop-cipher": { env: "TIKTOK_EMULATOR_SHOP_CIPHER", fallback: "TIKTOK_SHOP_CIPHER" },
  "access-token": { env: "TIKTOK_EMULATOR_ACCESS_TOKEN", fallback: "TIKTOK_ACCESS_TOKEN" },
  "refresh-token": { env: "TIKTOK_EMULATOR_REFRESH_TOKEN", fallback: "TIKTOK_REFRESH_TOKEN" },
} as const;
type FlagName = keyof typeof FLAGS;

function readSettings(argv: readonly string[], env: NodeJS.ProcessEnv): Partial<Record<FlagName, string>> {
  const { values } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(Object.keys(FLAGS).map((name) => [name, { type: "string" as const }])),
    strict: true,
  });
  const settings: Partial<Record<FlagName, string>> = {};
  for (const [name, source] of Object.entries(FLAGS) as [FlagName, { env: string; fallback?: string }][]) {
    const value =
      (values[name] as string | undefined) ??
      env[source.env] ??
      (source.fallback === undefined ? undefined : env[source.fallback]);
    if (value !== undefined && value !== "") settings[name] = value;
  }
  return settings;
}

function numberSetting(settings: Partial<Record<FlagName, string>>, name: FlagName): number | undefined {
  const raw = settings[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new EmulatorConfigError(
      `--${name} (${FLAGS[name].env}) must be a non-negative number, got "${raw}"`,
    );
  }
  return value;
}

export function optionsFromSettings(settings: Partial<Record<FlagName, string>>): TikTokEmulatorOptions {
  const shopCount = numberSetting(settings, "shops") ?? 1;
  const orders = numberSetting(settings, "orders") ?? 1000;
  if (!Number.isInteger(shopCount) || shopCount < 1) throw new EmulatorConfigError("--shops must be >= 1");
  const tokenMode = settings["token-mode"];
  if (tokenMode !== undefined && tokenMode !== "keyset" && tokenMode !== "offset") {
    throw new EmulatorConfigError(`--token-mode must be keyset or offset, got "${tokenMode}"`);
  }
  const shops = Array.from({ length: shopCount }, (_, position) => ({
    id: position === 0 ? (settings["shop-id"] ?? defaultShopId(0)) : defaultShopId(position),
    ...(position === 0 && settings["shop-cipher"] ? { cipher: settings["shop-cipher"] } : {}),
    orders,
  }));
  const updatesPerSecond = numberSetting(settings, "updates-per-second") ?? 0;
  const createsPerSecond = numberSetting(settings, "creates-per-second") ?? 0;
  const accessToken = settings["access-token"];
  const refreshToken = settings["refresh-token"];
  const options: TikTokEmulatorOptions = {
    port: numberSetting(settings, "port") ?? 0,
    shops,
    continuousMutation:
      updatesPerSecond > 0 || createsPerSecond > 0
        ? { updatesPerSecond, createsPerSecond, timebase: "real" }
        : null,
    ...(settings.host ? { host: settings.host } : {}),
    ...(settings["app-key"] ? { appKey: settings["app-key"] } : {}),
    ...(settings["app-secret"] ? { appSecret: settings["app-secret"] } : {}),
    ...(tokenMode ? { tokenMode: tokenMode as PageTokenMode } : {}),
    ...(accessToken
      ? { presetTokens: [{ accessToken, ...(refreshToken === undefined ? {} : { refreshToken }) }] }
      : {}),
  };
  const extras: Record<string, number | undefined> = {
    qps: numberSetting(settings, "qps"),
    latencyMs: numberSetting(settings, "latency"),
    seed: numberSetting(settings, "seed"),
    resultCap: numberSetting(settings, "result-cap"),
    historyDays: numberSetting(settings, "history-days"),
  };
  for (const [key, value] of Object.entries(extras)) {
    if (value !== undefined) (options as Record<string, unknown>)[key] = value;
  }
  return options;
}

async function main(): Promise<void> {
  const settings = readSettings(process.argv.slice(2), process.env);
  const options = optionsFromSettings(settings);
  const emulator = await startTikTokEmulator(options);
  const preset = options.presetTokens?.[0];
  const tokens = preset
    ? { accessToken: preset.accessToken, refreshToken: preset.refreshToken ?? null }
    : (() => {
        const issued = emulator.issueTokens();
        return {
          accessToken: issued.access_token,
          refreshToken: issued.refresh_token,
          accessTokenExpiresAt: issued.access_token_expire_in,
          refreshTokenExpiresAt: issued.refresh_token_expire_in,
        };
      })();
  process.stdout.write(
    `${JSON.stringify({
      ready: true,
      baseUrl: emulator.baseUrl,
      authBaseUrl: emulator.authBaseUrl,
      adminBaseUrl: emulator.adminBaseUrl,
      appKey: emulator.appKey,
      appSecret: emulator.appSecret,
      shops: emulator.shops().map((shop) => ({ ...shop, orders: emulator.orderCount(shop.id) })),
      ...tokens,
    })}\n`,
  );
  let stopping = false;
  const shutDown = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stderr.write(`[tiktok-emulator] ${signal}: stopping\n`);
    emulator.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", shutDown);
  process.on("SIGTERM", shutDown);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`[tiktok-emulator] ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof EmulatorConfigError ? 2 : 1);
  });
}
