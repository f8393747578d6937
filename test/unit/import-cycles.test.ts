/**
 * No import cycles among our own TypeScript files (issue 19). A cycle means neither module can be read,
 * tested or moved without the other, and with CommonJS one of them sees the other half-initialised.
 * Type-only imports count too: a type cycle couples the modules just the same.
 */
import { resolve } from "node:path";
import {
  buildImportGraph,
  describeCycle,
  findCycles,
  type ImportGraph,
  importSpecifiers,
  resolveRelative,
  sourceFiles,
} from "../support/import-graph";

const ROOT = resolve(__dirname, "../..");
const SCANNED = ["shared", "functions", "infra", "bench", "test"];

function graphOf(edges: Record<string, string[]>): ImportGraph {
  return new Map(Object.entries(edges));
}

describe("the cycle finder", () => {
  it("finds nothing in an acyclic graph, diamonds included", () => {
    expect(findCycles(graphOf({ a: ["b", "c"], b: ["d"], c: ["d"], d: [] }))).toEqual([]);
  });

  it("names a two-module cycle, starting from its smallest path", () => {
    const cycles = findCycles(graphOf({ "z.ts": ["a.ts"], "a.ts": ["z.ts"], "m.ts": ["a.ts"] }));
    expect(cycles.map(describeCycle)).toEqual(["a.ts → z.ts → a.ts"]);
  });

  it("names a module that imports itself", () => {
    expect(findCycles(graphOf({ a: ["a"] })).map(describeCycle)).toEqual(["a → a"]);
  });

  it("reports every import that lies on a cycle, in separate and in tangled components", () => {
    const cycles = findCycles(
      graphOf({
        // a → b → c → a and b → a: two cycles sharing a → b
        a: ["b"],
        b: ["c", "a"],
        c: ["a"],
        // a separate, longer one
        p: ["q"],
        q: ["r"],
        r: ["p"],
      }),
    );
    expect(cycles.map(describeCycle)).toEqual(["a → b → a", "a → b → c → a", "p → q → r → p"]);
  });
});

describe("reading imports", () => {
  it("counts type-only imports, re-exports and side-effect imports; not comments, strings or import()", () => {
    const text = [
      'import { a } from "./a";',
      'import type { B } from "./b";',
      'import { type C, c } from "./c";',
      'export { d } from "./d";',
      'export * from "./e";',
      'export type { F } from "./f";',
      'import "./g";',
      'import h = require("./h");',
      '// import { x } from "./commented";',
      "const text = 'import { y } from \"./in-a-string\"';",
      'const lazy = () => import("./dynamic");',
      'import { readFileSync } from "node:fs";',
    ].join("\n");
    expect(importSpecifiers("sample.ts", text)).toEqual([
      "./a",
      "./b",
      "./c",
      "./d",
      "./e",
      "./f",
      "./g",
      "./h",
      "node:fs",
    ]);
  });

  it("resolves relative specifiers to .ts files or index.ts, and leaves packages out", () => {
    const from = resolve(ROOT, "test/unit/import-cycles.test.ts");
    expect(resolveRelative(from, "../support/import-graph")).toBe(
      resolve(ROOT, "test/support/import-graph.ts"),
    );
    expect(resolveRelative(from, "../../infra/local/tiktok-emulator")).toBe(
      resolve(ROOT, "infra/local/tiktok-emulator/index.ts"),
    );
    expect(resolveRelative(from, "typescript")).toBeUndefined();
    expect(resolveRelative(from, "node:path")).toBeUndefined();
  });
});

describe("the repository", () => {
  const files = sourceFiles(ROOT, SCANNED);
  const graph = buildImportGraph(ROOT, files);
  const found = findCycles(graph).map(describeCycle);

  it("scans our own files (not node_modules or cdk.out), with their imports", () => {
    expect(files.length).toBeGreaterThan(150);
    expect([...graph.keys()].some((file) => /node_modules|cdk\.out/.test(file))).toBe(false);
    // A type-only import is an edge: admin.ts imports only types from control.ts.
    expect(graph.get("infra/local/tiktok-emulator/admin.ts")).toContain(
      "infra/local/tiktok-emulator/control.ts",
    );
  });

  it("has no import cycle", () => {
    expect(found).toEqual([]);
  });
});
