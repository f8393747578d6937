/**
 * A small terminal client of the local API started by `npm start` (http://127.0.0.1:${PORT:-3000}):
 *
 *   npm run sync                 incremental sync of every shop now   (POST /api/sync/orders)
 *   npm run sync -- --full       full resync of every shop            (POST /api/sync/orders/full)
 *   npm run status               a table of GET /api/sync/status      (--json for the raw document)
 *   npm run reconcile            reconciliation of every shop now     (POST /api/sync/reconcile)
 *
 * `--shop <id>` narrows any of them to one shop. Exit codes: 0 done, 1 the API refused or is not running,
 * 2 bad usage.
 */
import { parseArgs } from "node:util";

import { routeNamed, type SyncApiRoute } from "../../shared/http/routes";

const USAGE = `Usage: npm run sync [-- --full] [-- --shop <id>]
       npm run status [-- --json] [-- --shop <id>]
       npm run reconcile [-- --shop <id>]

Talks to the API that \`npm start\` serves on http://127.0.0.1:\${PORT:-3000}.`;

class UsageError extends Error {}

class ApiUnreachable extends Error {}

interface Args {
  readonly command: Command;
  readonly full: boolean;
  readonly json: boolean;
  readonly shop: string | undefined;
}

const COMMANDS = ["sync", "status", "reconcile"] as const;
type Command = (typeof COMMANDS)[number];
const isCommand = (value: string | undefined): value is Command =>
  (COMMANDS as readonly (string | undefined)[]).includes(value);

/** Which options each command takes; the others are refused for it. */
const COMMAND_OPTIONS: Readonly<Record<Command, readonly string[]>> = {
  sync: ["full", "shop"],
  status: ["json", "shop"],
  reconcile: ["shop"],
};

const OPTIONS = {
  full: { type: "boolean" },
  json: { type: "boolean" },
  shop: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The command line, or `"help"` when --help/-h is given (whatever else is). */
export function parseCommandLine(argv: readonly string[]): Args | "help" {
  // Not strict: unknown or misplaced options come back as tokens and are refused below in our words.
  const { values, tokens } = parseArgs({
    args: [...argv],
    options: OPTIONS,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  if (values.help === true) return "help";
  const command = argv[0];
  if (!isCommand(command)) throw new UsageError(`unknown command: ${command ?? "(none)"}`);
  // tokens[0] is the command itself.
  for (const token of tokens.slice(1)) {
    const accepted =
      token.kind === "option" &&
      COMMAND_OPTIONS[command].includes(token.name) &&
      // --shop needs a non-empty value; the flags take none.
      (token.name === "shop" ? Boolean(token.value) : token.value === undefined);
    if (!accepted) throw new UsageError(`unknown option for ${command}: ${argv[token.index]}`);
  }
  return {
    command,
    full: values.full === true,
    json: values.json === true,
    shop: typeof values.shop === "string" ? values.shop : undefined,
  };
}

export function apiBaseUrl(env: NodeJS.ProcessEnv): string {
  const raw = env.PORT?.trim() || "3000";
  const port = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(port >= 1 && port <= 65_535)) throw new UsageError(`PORT must be a whole number between 1 and 65535`);
  return `http://127.0.0.1:${port}`;
}

interface ApiAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** Calls a route of the API's table, for one shop or (no `shopId`) as the route decides. */
async function call(baseUrl: string, route: SyncApiRoute, shopId?: string): Promise<ApiAnswer> {
  const query = shopId === undefined ? "" : `?shop_id=${encodeURIComponent(shopId)}`;
  let response: Response;
  try {
    response = await fetch(`${baseUrl}${route.path}${query}`, {
      method: route.method,
      signal: AbortSignal.timeout(60_000),
    });
  } catch (error) {
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (error as Error).name;
    throw new ApiUnreachable(
      `The local API is not running at ${baseUrl} (${code}). Start it with \`npm start\` in another terminal, or set PORT to the port it listens on.`,
    );
  }
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { error: { code: "not_json", message: text.slice(0, 200) } };
  }
  return { status: response.status, body };
}

function errorText(answer: ApiAnswer): string {
  const error = answer.body.error as { code?: string; message?: string } | undefined;
  return `HTTP ${answer.status} ${error?.code ?? ""}: ${error?.message ?? JSON.stringify(answer.body)}`;
}

type Status = { shops: Record<string, unknown>[] };

async function getStatus(baseUrl: string, shop: string | undefined): Promise<Status> {
  const answer = await call(baseUrl, routeNamed("status"), shop);
  if (answer.status !== 200) throw new Error(errorText(answer));
  return answer.body as unknown as Status;
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;

async function sync(baseUrl: string, args: Args, print: (line: string) => void): Promise<boolean> {
  const shops = args.shop
    ? [args.shop]
    : (await getStatus(baseUrl, undefined)).shops.map((shop) => String(shop.shop_id));
  let ok = true;
  for (const shopId of shops) {
    const answer = await call(baseUrl, routeNamed(args.full ? "fullResync" : "syncOrders"), shopId);
    const body = answer.body as Record<string, unknown> & {
      last_run?: Record<string, number>;
      error?: { job_id?: string };
    };
    const prefix = `shop ${shopId}  `;
    if (answer.status === 409 && args.full) {
      print(`${prefix}a full resync is already running (job ${body.error?.job_id ?? "?"}): npm run status`);
    } else if (answer.status !== 202) {
      print(`${prefix}✖ ${errorText(answer)}`);
      ok = false;
    } else if (body.sync_type === "full") {
      const why = args.full ? "" : "first sync: ";
      print(`${prefix}${why}full resync ${String(body.job_id)} started; follow it with npm run status`);
    } else if (body.status === "completed" && body.last_run) {
      const run = body.last_run;
      const changed = (run.inserted ?? 0) + (run.updated ?? 0);
      print(
        `${prefix}incremental sync done: ${changed} changed (${run.inserted ?? 0} new, ${run.updated ?? 0} updated, ${run.unchanged ?? 0} unchanged) · ${plural(run.api_calls ?? 0, "api call")} · ${run.duration_ms ?? 0} ms`,
      );
    } else if (body.status === "already_running") {
      print(
        `${prefix}a sync of this shop is running right now (the scheduler's tick); try again in a moment`,
      );
    } else {
      print(
        `${prefix}incremental sync ${String(body.status)}: it continues from its checkpoint on the next tick`,
      );
    }
  }
  return ok;
}

interface ReconcileRange {
  readonly from: string;
  readonly to: string;
  readonly missing: number;
}

/** One shop's reconciliation answer (POST /api/sync/reconcile) as a line. */
export function reconcileLine(shopId: string, answer: ApiAnswer): string {
  const prefix = `shop ${shopId}  `;
  if (answer.status !== 202) return `${prefix}✖ ${errorText(answer)}`;
  const body = answer.body as Record<string, unknown> & {
    healing?: { job_id: string; ranges: ReconcileRange[] } | null;
    pending_ranges?: ReconcileRange[];
  };
  const status = String(body.status);
  if (status === "skipped") {
    const job = typeof body.running_job_id === "string" ? ` (job ${body.running_job_id})` : "";
    return `${prefix}reconciliation skipped: ${String(body.reason ?? "?")}${job}`;
  }
  if (status === "not_reached") return `${prefix}not reached in this request: run it again`;
  const figures = `${plural(Number(body.ranges_checked ?? 0), "range")} checked, ${Number(body.ranges_mismatched ?? 0)} differ · ${Number(body.orders_missing ?? 0)} missing, ${Number(body.extra_orders ?? 0)} stored but unknown to TikTok (kept)`;
  const spans = (ranges: readonly ReconcileRange[]) =>
    ranges.map((range) => `${range.from.slice(0, 10)}…${range.to.slice(0, 10)}`).join(", ");
  const parts = [`${prefix}reconciliation ${status}: ${figures}`];
  if (body.healing) {
    parts.push(
      `healing job ${body.healing.job_id} re-reads ${spans(body.healing.ranges)}; follow it with npm run status`,
    );
  }
  if (body.pending_ranges && body.pending_ranges.length > 0) {
    parts.push(`healing of ${spans(body.pending_ranges)} starts on the next run`);
  }
  if (Number(body.persisting_drift ?? 0) > 0) {
    parts.push(`⚠ drift persists after healing in ${String(body.persisting_drift)} range(s)`);
  }
  if (status === "partial") parts.push("the next run continues the comparison where this one stopped");
  return parts.join(" · ");
}

async function reconcile(baseUrl: string, args: Args, print: (line: string) => void): Promise<boolean> {
  const shops = args.shop
    ? [args.shop]
    : (await getStatus(baseUrl, undefined)).shops.map((shop) => String(shop.shop_id));
  let ok = true;
  for (const shopId of shops) {
    const answer = await call(baseUrl, routeNamed("reconcile"), shopId);
    if (answer.status !== 202) ok = false;
    print(reconcileLine(shopId, answer));
  }
  return ok;
}

function ago(iso: unknown, now: number): string {
  if (typeof iso !== "string") return "never";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return `${duration(seconds)} ago`;
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
  if (seconds < 86_400)
    return `${Math.floor(seconds / 3600)}h${String(Math.floor(seconds / 60) % 60).padStart(2, "0")}m`;
  return `${Math.floor(seconds / 86_400)}d`;
}

function jobCell(job: Record<string, unknown> | null, now: number): string {
  if (!job) return "none";
  const orders = Number(job.orders ?? 0);
  const expected = Number(job.expected_orders ?? 0);
  const windows = job.windows as { total: number; done: number; failed: number } | undefined;
  const status = String(job.status);
  if (status === "RUNNING") {
    const percent = expected > 0 ? Math.floor((100 * orders) / expected) : 0;
    const eta =
      typeof job.eta === "string"
        ? duration(Math.max(0, Math.round((Date.parse(job.eta) - now) / 1000)))
        : "…";
    return `RUNNING ${percent}% · ${orders}/${expected} orders · windows ${windows?.done ?? 0}/${windows?.total ?? 0} · ${Math.round(Number(job.rate))}/s · ETA ${eta}`;
  }
  const took =
    typeof job.finished === "string" && typeof job.started === "string"
      ? ` in ${duration(Math.round((Date.parse(job.finished) - Date.parse(job.started)) / 1000))}`
      : "";
  const failed = windows?.failed ? ` · ${windows.failed} windows failed` : "";
  return `${status} ${orders} orders${took} · ${job.api_calls} calls${failed}${job.reason ? ` (${job.reason})` : ""}`;
}

function tokenCell(token: Record<string, unknown> | null, now: number): string {
  if (!token) return "none";
  if (token.needs_reauth) return `RE-AUTH NEEDED (${String(token.authorization ?? "?")})`;
  if (typeof token.expires_at !== "string") return "ok";
  const left = Math.round((Date.parse(token.expires_at) - now) / 1000);
  return left > 0 ? `ok, ${duration(left)} left` : "expired (refreshes on use)";
}

/** The status document as a table a person reads at a glance. */
export function statusTable(status: Status, now = Date.now()): string {
  const header = ["SHOP", "LAST SYNC", "TYPE", "LAG", "RECORDS", "LAST RUN", "FULL RESYNC", "DLQ", "TOKEN"];
  const rows = status.shops.map((shop) => {
    const run = shop.last_run as Record<string, number> | null;
    const lastRun = run
      ? `${(run.inserted ?? 0) + (run.updated ?? 0)} changed · ${plural(run.api_calls ?? 0, "call")} · ${run.duration_ms ?? 0} ms`
      : "—";
    return [
      String(shop.shop_id),
      ago(shop.last_sync_time, now),
      String(shop.sync_type ?? "—"),
      shop.lag_seconds === null || shop.lag_seconds === undefined ? "—" : `${shop.lag_seconds}s`,
      String(shop.records_synced ?? 0),
      lastRun,
      jobCell(shop.job as Record<string, unknown> | null, now),
      String(shop.dlq_depth ?? "—"),
      tokenCell(shop.token as Record<string, unknown> | null, now),
    ];
  });
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const format = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  const lines = [format(header), ...rows.map(format)];
  const reauth = new Set(
    status.shops
      .map((shop) => shop.token as Record<string, unknown> | null)
      .filter((token) => token?.needs_reauth && typeof token.authorization === "string")
      .map((token) => String(token?.authorization)),
  );
  for (const authId of reauth) {
    lines.push(
      `✖ authorization ${authId} needs re-authorizing (its shops make no TikTok calls): npm run reauth -- --auth ${authId} --auth-code <code>`,
    );
  }
  const quarantined = status.shops.filter((shop) => Number(shop.quarantined_orders ?? 0) > 0);
  for (const shop of quarantined) {
    lines.push(
      `⚠ shop ${String(shop.shop_id)}: ${String(shop.quarantined_orders)} orders quarantined (failed validation)`,
    );
  }
  for (const shop of status.shops) {
    const reconciliation = shop.reconciliation as
      | { persisting_drift?: unknown[]; heal_failed?: { job_id: string; status: string } | null }
      | null
      | undefined;
    const persisting = reconciliation?.persisting_drift?.length ?? 0;
    const failed = reconciliation?.heal_failed;
    if (persisting === 0 && !failed) continue;
    const what = [
      ...(persisting > 0 ? [`${plural(persisting, "range")} missing orders again after healing`] : []),
      ...(failed ? [`healing job ${failed.job_id} ${failed.status}`] : []),
    ];
    lines.push(
      `⚠ shop ${String(shop.shop_id)}: reconciliation drift persists (${what.join(", ")}): npm run status -- --json --shop ${String(shop.shop_id)}`,
    );
  }
  if (status.shops.length === 0) lines.push("(no shops configured)");
  return lines.join("\n");
}

export async function runCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<number> {
  try {
    const args = parseCommandLine(argv);
    if (args === "help") {
      print(USAGE);
      return 0;
    }
    const baseUrl = apiBaseUrl(env);
    if (args.command === "sync") return (await sync(baseUrl, args, print)) ? 0 : 1;
    if (args.command === "reconcile") return (await reconcile(baseUrl, args, print)) ? 0 : 1;
    const status = await getStatus(baseUrl, args.shop);
    print(args.json ? JSON.stringify(status, null, 2) : statusTable(status));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`✖ ${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`✖ ${(error as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
