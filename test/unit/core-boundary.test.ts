/**
 * The sync core stands behind ports (issue 19): its files import no AWS SDK and none of the adapters
 * (DynamoDB in shared/store, SQS in shared/queues) nor the assembly (shared/app). Adapters depend on the
 * core, never the other way round.
 */
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { importSpecifiers, sourceFiles } from "../support/import-graph";

const ROOT = resolve(__dirname, "../..");
const CORE_DIRS = ["shared/sync", "shared/webhooks", "shared/orders", "shared/tiktok", "shared/http"];
const FORBIDDEN_PACKAGES = [/^@aws-sdk\//, /^aws-cdk-lib/, /^@aws-lambda-powertools\//];
const FORBIDDEN_DIRS = ["shared/store", "shared/queues", "shared/app", "infra", "functions"];

/** Why an import breaks the boundary, or undefined when it does not. */
function violation(file: string, specifier: string): string | undefined {
  if (FORBIDDEN_PACKAGES.some((pattern) => pattern.test(specifier))) return `imports ${specifier}`;
  if (!specifier.startsWith(".")) return undefined;
  const target = relative(ROOT, resolve(ROOT, dirname(file), specifier));
  const dir = FORBIDDEN_DIRS.find((forbidden) => target === forbidden || target.startsWith(`${forbidden}/`));
  return dir ? `imports ${target} (${dir} is outside the core)` : undefined;
}

describe("the core's boundary", () => {
  it("tells which imports cross the boundary", () => {
    expect(violation("shared/sync/x.ts", "@aws-sdk/client-sqs")).toMatch(/@aws-sdk/);
    expect(violation("shared/sync/full-resync/x.ts", "../../store/job-store")).toMatch(/shared\/store/);
    expect(violation("shared/sync/full-resync/x.ts", "../ports")).toBeUndefined();
  });

  it("no core file imports the AWS SDK, an adapter or the assembly", () => {
    const files = sourceFiles(ROOT, CORE_DIRS).map((file) => relative(ROOT, file));
    expect(files.length).toBeGreaterThan(30);
    const found = files.flatMap((file) =>
      importSpecifiers(file, readFileSync(join(ROOT, file), "utf8")).flatMap((specifier) => {
        const why = violation(file, specifier);
        return why ? [`${file} ${why}`] : [];
      }),
    );
    expect(found).toEqual([]);
  });
});
