/**
 * `npm start`: the whole product on a laptop in one command. What is configured is used, what is not is
 * emulated: DynamoDB Local (data kept in .local/), the fauxqs SQS emulator, and our TikTok Shop emulator
 * with a default dataset that keeps changing. The same cores the Lambdas run serve the HTTP API on PORT,
 * tick on a schedule and work the queue through a local poller. Ctrl-C stops everything.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

import { rmSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, parseConfig, type SyncConfig } from "../../shared/config";
import { parseLocalOptions } from "./local-config";
import { startLocalStack } from "./local-stack";
import { isPortInUse } from "./ports";

const USAGE = `Usage: npm start [-- --fresh]

  --fresh   wipe local data (DynamoDB Local's folder) and start over with a first full sync

Every variable of README "Configuration" applies; unset services are emulated.`;

/** The local app credentials the built-in TikTok emulator is started with. */
const LOCAL_APP = { appKey: "local-app-key", appSecret: "local-app-secret" } as const;

function fail(message: string): never {
  process.stderr.write(`\n✖ ${message}\n`);
  process.exit(1);
}

async function main() {
  let config: SyncConfig;
  let options: ReturnType<typeof parseLocalOptions>;
  const emulateTikTok = !process.env.TIKTOK_API_BASE_URL;
  try {
    options = parseLocalOptions(process.argv.slice(2), process.env);
    config = parseConfig({
      ...process.env,
      // The demo ticks every 30 s unless told otherwise (Lambda's schedule defaults to 5 minutes).
      SYNC_INTERVAL_SECONDS: process.env.SYNC_INTERVAL_SECONDS || "30",
      ...(emulateTikTok
        ? {
            TIKTOK_APP_KEY: process.env.TIKTOK_APP_KEY || LOCAL_APP.appKey,
            TIKTOK_APP_SECRET: process.env.TIKTOK_APP_SECRET || LOCAL_APP.appSecret,
          }
        : {}),
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!emulateTikTok && !config.TIKTOK_SHOP_ID) {
    fail("TIKTOK_SHOP_ID is required when TIKTOK_API_BASE_URL points at a real TikTok Shop API.");
  }
  if (await isPortInUse(config.PORT)) {
    fail(`Port ${config.PORT} is already in use: stop what runs there or start with PORT=<another port>.`);
  }
  if (options.fresh) rmSync(join(options.dataDir, "dynamodb"), { recursive: true, force: true });

  const stack = await startLocalStack({ config, options, emulateTikTok, out: process.stdout }).catch(
    (error: Error) => fail(error.message),
  );
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping…\n`);
    await stack.stop();
    process.stdout.write("stopped.\n");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

void main();
