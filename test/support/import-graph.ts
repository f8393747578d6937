/**
 * The import graph of the repository's own TypeScript files, and the cycles in it
 * (test/unit/import-cycles.test.ts). Imports are read with the TypeScript parser, so specifiers in
 * comments or strings do not count, and `import type` counts like any import: a type-only cycle still
 * means neither module can be understood, moved or split without the other.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

/** Module → the modules it imports, both as paths relative to the root with `/` separators. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

const SKIPPED_DIRS = new Set(["node_modules", "cdk.out"]);

/** Every `.ts` file under `dirs` (relative to `root`), skipping node_modules, cdk.out and dot-directories. */
export function sourceFiles(root: string, dirs: readonly string[]): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir)
      .sort()
      .flatMap((name) => {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) {
          return SKIPPED_DIRS.has(name) || name.startsWith(".") ? [] : walk(path);
        }
        return name.endsWith(".ts") ? [path] : [];
      });
  return dirs.flatMap((dir) => (existsSync(join(root, dir)) ? walk(join(root, dir)) : []));
}

/**
 * The module specifiers of a file's static imports: `import ... from`, `import type`, side-effect
 * `import "x"`, `export ... from` and `import x = require("x")`. Dynamic `import()` is left out: it
 * runs after both modules have loaded, and the repository uses it only to pick optional dependencies.
 */
export function importSpecifiers(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const specifiers: string[] = [];
  for (const statement of source.statements) {
    if (
      (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
      statement.moduleSpecifier &&
      ts.isStringLiteral(statement.moduleSpecifier)
    ) {
      specifiers.push(statement.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(statement) &&
      ts.isExternalModuleReference(statement.moduleReference) &&
      ts.isStringLiteral(statement.moduleReference.expression)
    ) {
      specifiers.push(statement.moduleReference.expression.text);
    }
  }
  return specifiers;
}

/** The `.ts` file a relative specifier names (`x.ts`, then `x/index.ts`); undefined for packages. */
export function resolveRelative(fromFile: string, specifier: string): string | undefined {
  if (
    !specifier.startsWith("./") &&
    !specifier.startsWith("../") &&
    specifier !== "." &&
    specifier !== ".."
  ) {
    return undefined;
  }
  const base = resolve(dirname(fromFile), specifier);
  const candidates = [base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts")];
  return candidates.find((path) => path.endsWith(".ts") && existsSync(path) && statSync(path).isFile());
}

/** The graph of `files` (absolute paths), keyed by paths relative to `root`. */
export function buildImportGraph(root: string, files: readonly string[]): ImportGraph {
  const key = (path: string) => relative(root, path).split("\\").join("/");
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = importSpecifiers(file, readFileSync(file, "utf8"))
      .map((specifier) => resolveRelative(file, specifier))
      .filter((target): target is string => target !== undefined)
      .map(key);
    graph.set(key(file), [...new Set(targets)]);
  }
  return graph;
}

/** Strongly connected components (Tarjan, iterative so deep chains cannot overflow the stack). */
export function stronglyConnectedComponents(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const frames: { node: string; edge: number }[] = [{ node: start, edge: 0 }];
    index.set(start, next);
    low.set(start, next);
    next += 1;
    stack.push(start);
    onStack.add(start);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1] as { node: string; edge: number };
      const edges = graph.get(frame.node) ?? [];
      if (frame.edge < edges.length) {
        const target = edges[frame.edge] as string;
        frame.edge += 1;
        if (!index.has(target)) {
          index.set(target, next);
          low.set(target, next);
          next += 1;
          stack.push(target);
          onStack.add(target);
          frames.push({ node: target, edge: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.node, Math.min(low.get(frame.node) as number, index.get(target) as number));
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent)
        low.set(parent.node, Math.min(low.get(parent.node) as number, low.get(frame.node) as number));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string | undefined;
        do {
          member = stack.pop() as string;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        components.push(component);
      }
    }
  }
  return components;
}

/** The shortest path from `from` to `to` using only `allowed` nodes (BFS), or undefined. */
function shortestPath(graph: ImportGraph, from: string, to: string, allowed: ReadonlySet<string>) {
  const previous = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  for (let head = 0; head < queue.length; head += 1) {
    const node = queue[head] as string;
    if (node === to) {
      const path: string[] = [];
      for (let at: string | null = to; at !== null; at = previous.get(at) ?? null) path.unshift(at);
      return path;
    }
    for (const target of graph.get(node) ?? []) {
      if (allowed.has(target) && !previous.has(target)) {
        previous.set(target, node);
        queue.push(target);
      }
    }
  }
  return undefined;
}

/**
 * The cycles to report, each as its files in import order with the first repeated at the end
 * (`a.ts → b.ts → a.ts`), rotated to start at its smallest path so the result is stable.
 *
 * Listing every elementary cycle can grow exponentially with a tangled component, so this lists, for
 * each import that lies on some cycle, the shortest cycle through it (deduplicated). Every import that
 * has to go for the graph to be acyclic shows up in at least one reported cycle.
 */
export function findCycles(graph: ImportGraph): string[][] {
  const cycles = new Map<string, string[]>();
  for (const component of stronglyConnectedComponents(graph)) {
    const members = new Set(component);
    for (const from of component) {
      for (const to of graph.get(from) ?? []) {
        if (!members.has(to)) continue;
        const back = from === to ? [to] : shortestPath(graph, to, from, members);
        if (!back) continue;
        const ring = from === to ? [from] : back; // to → … → from, closed by the edge from → to
        const start = ring.indexOf([...ring].sort()[0] as string);
        const rotated = [...ring.slice(start), ...ring.slice(0, start)];
        const cycle = [...rotated, rotated[0] as string];
        cycles.set(cycle.join(" → "), cycle);
      }
    }
  }
  return [...cycles.values()].sort((a, b) => a.join(" → ").localeCompare(b.join(" → ")));
}

/** `a.ts → b.ts → a.ts` */
export function describeCycle(cycle: readonly string[]): string {
  return cycle.join(" → ");
}
