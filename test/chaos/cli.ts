/**
 * `npm run chaos -- [--seeds N] [--seed S] [--first S] [--orders N] [--fault-rate R] [--verbose]
 * [--log-grep RE]`: seeded chaos runs (test/chaos/scenario.ts) against a DynamoDB Local started here (or
 * DYNAMODB_ENDPOINT). One line per seed with the faults injected, the differences of any failed seed, a
 * summary; exit code 1 when any seed failed, 2 on bad arguments.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

import { parseArgs } from "node:util";
import { startDynamoDbLocal } from "../../infra/local/emulators";
import { type ChaosResult, describePlan, runChaos } from "./scenario";

interface CliOptions {
  readonly seeds: number[];
  readonly orders: number;
  readonly faultRate: number;
  readonly verbose: boolean;
  /** Prints each seed's product log lines matching this (to investigate a seed). */
  readonly logGrep: RegExp | undefined;
}

const USAGE = `Usage: npm run chaos -- [--seeds N] [--seed S] [--first S] [--orders N] [--fault-rate R] [--verbose] [--log-grep RE]

  --seeds N        run N seeds, --first, --first+1, … (default 5)
  --first S        first seed of --seeds (default 1)
  --seed S         run only seed S (repeatable)
  --orders N       orders per seed (default 1500)
  --fault-rate R   share of TikTok calls failing while chaos is on (default 0.1)
  --verbose        print each seed's plan and events as they happen
  --log-grep RE    print each seed's product log lines matching the regular expression RE (the first
                   200, cut at 400 characters), e.g. --seed 7 --log-grep "restarting window|result cap"`;

class UsageError extends Error {}

/** Options that take a value; the rest are --verbose and --help/-h. */
const VALUE_OPTIONS = ["seeds", "first", "seed", "orders", "fault-rate", "log-grep"] as const;

/** The command line; throws UsageError (with an empty message for --help/-h) at the first mistake. */
export function parseChaosArgs(argv: readonly string[]): CliOptions {
  // Not strict: each token is checked below, in order, so the first mistake is named in our words.
  const { tokens } = parseArgs({
    args: [...argv],
    options: {
      ...Object.fromEntries(VALUE_OPTIONS.map((name) => [name, { type: "string" as const }])),
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  let count = 5;
  let first = 1;
  const explicit: number[] = [];
  let orders = 1500;
  let faultRate = 0.1;
  let verbose = false;
  let logGrep: RegExp | undefined;
  const integer = (name: string, value: string | undefined, min: number, max: number) => {
    if (value === undefined || !/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new UsageError(`${name} needs a whole number between ${min} and ${max}, got "${value ?? ""}"`);
    }
    return Number(value);
  };
  for (const token of tokens) {
    if (token.kind !== "option") throw new UsageError(`unknown argument "${argv[token.index]}"`);
    const { value } = token;
    const flag = `--${token.name}`;
    switch (token.name) {
      case "seeds":
        count = integer(flag, value, 1, 10_000);
        break;
      case "first":
        first = integer(flag, value, 0, 2 ** 31);
        break;
      case "seed":
        explicit.push(integer(flag, value, 0, 2 ** 31));
        break;
      case "orders":
        orders = integer(flag, value, 100, 100_000);
        break;
      case "fault-rate": {
        const rate = Number(value);
        if (value === undefined || !Number.isFinite(rate) || rate < 0 || rate > 0.5) {
          throw new UsageError(`--fault-rate needs a number between 0 and 0.5, got "${value ?? ""}"`);
        }
        faultRate = rate;
        break;
      }
      case "log-grep":
        if (!value) throw new UsageError("--log-grep needs a regular expression");
        try {
          logGrep = new RegExp(value);
        } catch (error) {
          throw new UsageError(`--log-grep needs a regular expression: ${(error as Error).message}`);
        }
        break;
      // A flag given a value (--verbose=yes) is no flag: unknown, like any other argument.
      case "verbose":
        if (value !== undefined) throw new UsageError(`unknown argument "${argv[token.index]}"`);
        verbose = true;
        break;
      case "help":
        if (value !== undefined) throw new UsageError(`unknown argument "${argv[token.index]}"`);
        throw new UsageError("");
      default:
        throw new UsageError(`unknown argument "${argv[token.index]}"`);
    }
  }
  const seeds = explicit.length > 0 ? explicit : Array.from({ length: count }, (_, index) => first + index);
  return { seeds, orders, faultRate, verbose, logGrep };
}

function summarize(result: ChaosResult): string {
  const injected = Object.entries(result.injected)
    .filter(([, value]) => value > 0)
    .map(([name, value]) => `${name}=${value}`)
    .join(" ");
  const verdict = result.ok ? "✔ pass" : "✖ FAIL";
  return `${verdict} seed ${result.seed}: ${result.stored} orders equal to the truth in ${(result.durationMs / 1000).toFixed(1)} s · injected ${injected}`;
}

async function main(argv: readonly string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseChaosArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message ? `✖ ${error.message}\n\n` : ""}${USAGE}\n`);
    return error.message ? 2 : 0;
  }
  const configured = process.env.DYNAMODB_ENDPOINT;
  const dynamodb = configured ? undefined : await startDynamoDbLocal();
  const endpoint = configured ?? (dynamodb?.endpoint as string);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const started = Date.now();
  const results: ChaosResult[] = [];
  try {
    out(`chaos: ${options.seeds.length} seed(s) × ${options.orders} orders · DynamoDB ${endpoint}`);
    for (const seed of options.seeds) {
      try {
        const result = await runChaos({
          seed,
          orders: options.orders,
          dynamodbEndpoint: endpoint,
          faultRate: options.faultRate,
          deadlineMs: 600_000,
          ...(options.verbose ? { print: out } : {}),
        });
        results.push(result);
        if (!options.verbose) out(describePlan(result.plan));
        out(summarize(result));
        for (const problem of result.problems) out(`    ✖ ${problem}`);
        if (options.logGrep) {
          const pattern = options.logGrep;
          const matching = result.logText.split("\n").filter((line) => pattern.test(line));
          out(`  ${matching.length} log line(s) matching ${pattern}:`);
          for (const line of matching.slice(0, 200)) out(`    ${line.slice(0, 400)}`);
        }
      } catch (error) {
        out(`✖ FAIL seed ${seed}: ${(error as Error).message}`);
        results.push({ seed, ok: false } as ChaosResult);
      }
    }
  } finally {
    await dynamodb?.stop();
  }
  const failed = results.filter((result) => !result.ok).map((result) => result.seed);
  out(
    `chaos: ${results.length - failed.length}/${results.length} seeds passed in ${((Date.now() - started) / 1000).toFixed(0)} s${
      failed.length > 0 ? ` · failed seeds: ${failed.join(", ")} (rerun one with --seed S --verbose)` : ""
    }`,
  );
  return failed.length > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(
        `✖ chaos: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
