/**
 * Configuration of `npm start`: the product's own variables (shared/config.ts) plus what the laptop twin
 * decides for itself — which services to emulate (whatever is unset) and where local data lives.
 */
import { z } from "zod";
import { ConfigError } from "../../shared/config";

const flagSchema = z.object({ fresh: z.boolean(), help: z.boolean() });

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
}

const localEnvSchema = z.object({
  LOCAL_DATA_DIR: z.string().min(1).default(".local"),
  EMULATOR_ORDERS: z
    .string()
    .regex(/^\d+$/, "EMULATOR_ORDERS must be a whole number")
    .transform(Number)
    .refine((value) => value >= 1 && value <= 1_000_000, "EMULATOR_ORDERS must be between 1 and 1000000")
    .default(10_000),
  EMULATOR_SHOPS: z
    .string()
    .regex(/^\d+$/, "EMULATOR_SHOPS must be a whole number")
    .transform(Number)
    .refine((value) => value >= 1 && value <= 20, "EMULATOR_SHOPS must be between 1 and 20")
    .default(2),
  EMULATOR_UPDATES_PER_SECOND: z
    .string()
    .regex(/^\d+(\.\d+)?$/, "EMULATOR_UPDATES_PER_SECOND must be a number")
    .transform(Number)
    .default(0.5),
  EMULATOR_CREATES_PER_SECOND: z
    .string()
    .regex(/^\d+(\.\d+)?$/, "EMULATOR_CREATES_PER_SECOND must be a number")
    .transform(Number)
    .default(0.2),
});

export function parseLocalOptions(argv: readonly string[], env: NodeJS.ProcessEnv): LocalOptions {
  const unknown = argv.filter((arg) => !["--fresh", "--help", "-h"].includes(arg));
  if (unknown.length > 0) {
    throw new ConfigError(`Unknown option(s): ${unknown.join(" ")} (known: --fresh, --help)`, [
      `unknown option(s): ${unknown.join(" ")}`,
    ]);
  }
  const flags = flagSchema.parse({
    fresh: argv.includes("--fresh"),
    help: argv.includes("--help") || argv.includes("-h"),
  });
  const blanksRemoved = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const parsed = localEnvSchema.safeParse(blanksRemoved);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => issue.message);
    throw new ConfigError(`Invalid configuration:\n  - ${problems.join("\n  - ")}`, problems);
  }
  return {
    ...flags,
    dataDir: parsed.data.LOCAL_DATA_DIR,
    emulatorOrders: parsed.data.EMULATOR_ORDERS,
    emulatorShops: parsed.data.EMULATOR_SHOPS,
    emulatorUpdatesPerSecond: parsed.data.EMULATOR_UPDATES_PER_SECOND,
    emulatorCreatesPerSecond: parsed.data.EMULATOR_CREATES_PER_SECOND,
  };
}
