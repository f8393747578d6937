/** What the bench tools share on the command line: parsing options and printing lines. */
import { mkdirSync, writeFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";

/** A line on stdout (the tools' progress and results). */
export const say = (line = ""): void => {
  process.stdout.write(`${line}\n`);
};

/** A wrong command line: the message and the usage on stderr, exit 2 (a typo is not a crash). */
export function usageError(message: string, usage: string): never {
  process.stderr.write(`✖ ${message}\n\n${usage}\n`);
  process.exit(2);
}

/**
 * node:util's parseArgs, except that what it refuses (an unknown option, a missing value, a stray
 * positional) ends the tool through usageError with node's own message instead of a stack trace.
 */
export function parseCli<T extends ParseArgsConfig>(
  config: T,
  usage: string,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    // Its refusals carry ERR_PARSE_ARGS_* codes; anything else is a bug in the config: let it throw.
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_")) {
      usageError((error as Error).message, usage);
    }
    throw error;
  }
}

/**
 * A results page under docs/: a title, the line saying which command wrote it and under what load (the
 * page is never edited by hand), and the printed result lines as they appeared.
 */
export function writeResultsPage(
  docFile: string,
  title: string,
  writtenBy: string,
  resultLines: readonly string[],
): void {
  mkdirSync(resolve(docFile, ".."), { recursive: true });
  writeFileSync(
    docFile,
    [
      `# ${title}`,
      "",
      `${writtenBy} Do not edit by hand: run the tool again.`,
      "",
      "```text",
      ...resultLines,
      "```",
      "",
    ].join("\n"),
  );
  say(`Report: ${relative(process.cwd(), docFile)}`);
}
