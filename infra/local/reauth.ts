/**
 * `npm run reauth`: installs a new TikTok token pair for an authorization after the seller authorized the
 * app again, and clears its `needs_reauth` flag; its shops resume on their next tick.
 *
 *   npm run reauth -- --auth <authorization> --auth-code <code>         exchange a code (/api/v2/token/get)
 *   npm run reauth -- --shop <shop id> --auth-code <code>               the authorization covering that shop
 *   npm run reauth -- --auth <id> --access-token <t> --refresh-token <t> [--expires-at <unix s>]
 *
 * Where: DYNAMODB_ENDPOINT / STATE_TABLE_NAME (AWS: the stack's StateTableName output, with the usual AWS
 * credentials), else the stack `npm start` runs (found through `${LOCAL_DATA_DIR:-.local}/stack.json`).
 * An auth code needs TIKTOK_APP_KEY + TIKTOK_APP_SECRET (or TIKTOK_SECRET_ARN) and TIKTOK_AUTH_BASE_URL.
 * Tokens are never printed. Exit codes: 0 installed, 1 refused (TikTok, DynamoDB), 2 bad usage.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { getSecret } from "@aws-lambda-powertools/parameters/secrets";
import { installAuthorization, type ReauthSource } from "../../shared/app/reauth";
import { createDocumentClient, createDynamoDbClient } from "../../shared/aws-clients";
import { systemClock } from "../../shared/clock";
import { DEFAULT_AUTH_ID, parseShopList } from "../../shared/config";
import { ShopDirectory } from "../../shared/store/shop-directory";
import { DynamoTokenRepository } from "../../shared/store/token-repository";
import { HttpTikTokAuthClient } from "../../shared/tiktok/auth-client";
import { LOCAL_APP } from "./local-config";

export const REAUTH_USAGE = `Usage: npm run reauth -- (--auth <authorization> | --shop <shop id>)
         (--auth-code <code> | --access-token <token> --refresh-token <token> [--expires-at <unix seconds>])

Installs a new token pair in the state table (DYNAMODB_ENDPOINT / STATE_TABLE_NAME, else the running
npm start) and clears needs_reauth. An auth code needs TIKTOK_APP_KEY/TIKTOK_APP_SECRET (or
TIKTOK_SECRET_ARN) and TIKTOK_AUTH_BASE_URL.`;

const ID = /^[A-Za-z0-9_-]{1,64}$/;

export class ReauthUsageError extends Error {}

export interface ReauthArgs {
  readonly authId?: string;
  readonly shopId?: string;
  readonly source: ReauthSource;
}

const VALUE_OPTIONS = ["auth", "shop", "auth-code", "access-token", "refresh-token", "expires-at"] as const;
type ValueOption = (typeof VALUE_OPTIONS)[number];
const isValueOption = (name: string): name is ValueOption =>
  (VALUE_OPTIONS as readonly string[]).includes(name);

/** The command line, or `"help"` when --help/-h is given (whatever else is). */
export function parseReauthArgs(argv: readonly string[]): ReauthArgs | "help" {
  // Not strict: every token is checked below, in order, so the first mistake is named in our words.
  const { tokens } = parseArgs({
    args: [...argv],
    options: {
      ...Object.fromEntries(VALUE_OPTIONS.map((name) => [name, { type: "string" as const }])),
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  if (tokens.some((token) => token.kind === "option" && token.name === "help")) return "help";
  const values = new Map<string, string>();
  for (const token of tokens) {
    if (token.kind !== "option" || !isValueOption(token.name)) {
      throw new ReauthUsageError(`unknown option: ${argv[token.index]}`);
    }
    const flag = `--${token.name}`;
    // A following flag is not a value (parseArgs would take it as one).
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith("--"))) {
      throw new ReauthUsageError(`${flag} needs a value`);
    }
    if (values.has(flag)) throw new ReauthUsageError(`${flag} is given twice`);
    values.set(flag, token.value);
  }
  const authId = values.get("--auth");
  const shopId = values.get("--shop");
  if ((authId === undefined) === (shopId === undefined)) {
    throw new ReauthUsageError("name exactly one of --auth <authorization> or --shop <shop id>");
  }
  for (const [flag, value] of [
    ["--auth", authId],
    ["--shop", shopId],
  ] as const) {
    if (value !== undefined && !ID.test(value))
      throw new ReauthUsageError(`${flag} must be 1-64 letters, digits, '_' or '-'`);
  }
  const authCode = values.get("--auth-code");
  const accessToken = values.get("--access-token");
  const refreshToken = values.get("--refresh-token");
  const expiresAt = values.get("--expires-at");
  let source: ReauthSource;
  if (authCode !== undefined) {
    if (accessToken || refreshToken || expiresAt) {
      throw new ReauthUsageError(
        "--auth-code cannot be combined with --access-token/--refresh-token/--expires-at",
      );
    }
    source = { kind: "auth-code", authCode };
  } else {
    if (!accessToken || !refreshToken) {
      throw new ReauthUsageError("give --auth-code <code>, or both --access-token and --refresh-token");
    }
    if (expiresAt !== undefined && !/^\d{9,11}$/.test(expiresAt)) {
      throw new ReauthUsageError("--expires-at must be unix seconds");
    }
    source = {
      kind: "pair",
      accessToken,
      refreshToken,
      ...(expiresAt ? { accessTokenExpiresAt: Number(expiresAt) } : {}),
    };
  }
  return { ...(authId ? { authId } : {}), ...(shopId ? { shopId } : {}), source };
}

interface Target {
  readonly dynamodbEndpoint?: string;
  readonly region?: string;
  readonly stateTable: string;
  readonly authBaseUrl: string;
  readonly credentials?: { appKey: string; appSecret: string };
  readonly where: string;
}

async function resolveTarget(env: NodeJS.ProcessEnv, needsCredentials: boolean): Promise<Target> {
  const value = (name: string) => env[name]?.trim() || undefined;
  let dynamodbEndpoint = value("DYNAMODB_ENDPOINT");
  let stateTable = value("STATE_TABLE_NAME");
  let authBaseUrl = value("TIKTOK_AUTH_BASE_URL");
  let appKey = value("TIKTOK_APP_KEY");
  let appSecret = value("TIKTOK_APP_SECRET");
  let where = dynamodbEndpoint ? `DynamoDB at ${dynamodbEndpoint}` : "DynamoDB (AWS)";
  if (!dynamodbEndpoint && !stateTable) {
    const file = join(value("LOCAL_DATA_DIR") ?? ".local", "stack.json");
    let local: {
      dynamodbEndpoint: string;
      stateTable: string;
      authBaseUrl: string;
      emulatorAdminUrl?: string;
    };
    try {
      local = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      throw new ReauthUsageError(
        `STATE_TABLE_NAME is not set (on AWS: the stack's StateTableName output) and no local stack was found (${file}: start one with npm start)`,
      );
    }
    dynamodbEndpoint = local.dynamodbEndpoint;
    stateTable = local.stateTable;
    authBaseUrl ??= local.authBaseUrl;
    if (local.emulatorAdminUrl && !appKey) {
      appKey = LOCAL_APP.appKey;
      appSecret = LOCAL_APP.appSecret;
    }
    where = `the local stack (${file}: DynamoDB at ${dynamodbEndpoint})`;
  }
  let credentials: { appKey: string; appSecret: string } | undefined;
  if (needsCredentials) {
    const secretArn = value("TIKTOK_SECRET_ARN");
    if (!appKey && secretArn) {
      const secret = (await getSecret(secretArn, { transform: "json" })) as
        | Record<string, unknown>
        | undefined;
      if (typeof secret?.app_key === "string" && typeof secret.app_secret === "string") {
        appKey = secret.app_key;
        appSecret = secret.app_secret;
      }
    }
    if (!appKey || !appSecret) {
      throw new ReauthUsageError(
        "an auth code needs TIKTOK_APP_KEY and TIKTOK_APP_SECRET (or TIKTOK_SECRET_ARN)",
      );
    }
    credentials = { appKey, appSecret };
  }
  return {
    ...(dynamodbEndpoint ? { dynamodbEndpoint } : {}),
    ...(value("AWS_REGION") ? { region: value("AWS_REGION") as string } : {}),
    stateTable: stateTable ?? "tss-state",
    authBaseUrl: authBaseUrl ?? "https://auth.tiktok-shops.com",
    ...(credentials ? { credentials } : {}),
    where,
  };
}

/** The authorization covering `shopId`: the configured list, else the shops discovered per authorization. */
async function authorizationOfShop(env: NodeJS.ProcessEnv, directory: ShopDirectory, shopId: string) {
  const authorizations = (env.TIKTOK_AUTHORIZATIONS?.trim() || DEFAULT_AUTH_ID)
    .split(",")
    .map((id) => id.trim())
    .filter((id) => id !== "");
  const defaultAuthId = authorizations[0] ?? DEFAULT_AUTH_ID;
  if (env.TIKTOK_SHOPS?.trim()) {
    const configured = parseShopList(env.TIKTOK_SHOPS, defaultAuthId).shops?.find(
      (shop) => shop.shopId === shopId,
    );
    if (configured) return configured.authId;
  } else if (env.TIKTOK_SHOP_ID?.trim() === shopId) {
    return defaultAuthId;
  }
  for (const authId of authorizations) {
    const entry = await directory.get(authId);
    if (entry?.shops.some((shop) => shop.shopId === shopId)) return authId;
  }
  throw new ReauthUsageError(
    `shop ${shopId} is neither configured (TIKTOK_SHOPS) nor among the shops discovered for ${authorizations.join(", ")}: name the authorization with --auth`,
  );
}

export async function runReauthCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: { out: (line: string) => void; err: (line: string) => void; fetch?: typeof fetch },
): Promise<number> {
  let args: ReauthArgs;
  let target: Target;
  try {
    const parsed = parseReauthArgs(argv);
    if (parsed === "help") {
      io.out(REAUTH_USAGE);
      return 0;
    }
    args = parsed;
    target = await resolveTarget(env, args.source.kind === "auth-code");
  } catch (error) {
    if (!(error instanceof ReauthUsageError)) throw error;
    io.err(`✖ ${error.message}\n\n${REAUTH_USAGE}`);
    return 2;
  }
  const dynamodb = createDynamoDbClient({ dynamodbEndpoint: target.dynamodbEndpoint, region: target.region });
  try {
    const documents = createDocumentClient(dynamodb);
    const directory = new ShopDirectory({ documents, tableName: target.stateTable });
    const authId = args.authId ?? (await authorizationOfShop(env, directory, args.shopId as string));
    const result = await installAuthorization(
      {
        repository: new DynamoTokenRepository({ documents, tableName: target.stateTable }),
        directory,
        clock: systemClock,
        ...(target.credentials
          ? {
              authClient: new HttpTikTokAuthClient({
                authBaseUrl: target.authBaseUrl,
                ...target.credentials,
                clock: systemClock,
                ...(io.fetch ? { fetch: io.fetch } : {}),
              }),
            }
          : {}),
      },
      authId,
      args.source,
    );
    io.out(
      `authorization ${result.authId}${result.sellerName ? ` (${result.sellerName})` : ""}: new token pair installed in ${target.stateTable} on ${target.where} — version ${result.version}, access token valid until ${result.accessTokenExpiresAt}; needs_reauth cleared, its shops resume on their next tick`,
    );
    return 0;
  } catch (error) {
    if (error instanceof ReauthUsageError) {
      io.err(`✖ ${error.message}`);
      return 2;
    }
    io.err(`✖ could not install the token pair: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    dynamodb.destroy();
  }
}

if (require.main === module) {
  runReauthCli(process.argv.slice(2), process.env, {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`✖ ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
