/**
 * Every relative link in README.md and docs/ points at a file of the repository: the README sends a
 * newcomer to docs/, and a moved or renamed page must not leave a dead link behind.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(__dirname, "../..");

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith(".md") ? [path] : [];
  });
}

const pages = [join(ROOT, "README.md"), ...markdownFiles(join(ROOT, "docs"))];

/** The relative targets of a page's markdown links (`](target)`), anchors dropped. */
function relativeLinks(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1] ?? "")
    .filter((target) => !/^(https?:|mailto:|#)/.test(target))
    .map((target) => target.split("#")[0] ?? "");
}

it("finds the README and the docs pages, with links to check", () => {
  expect(pages.length).toBeGreaterThan(5);
  expect(relativeLinks(readFileSync(pages[0] as string, "utf8")).length).toBeGreaterThan(5);
});

it.each(pages.map((page) => [relative(ROOT, page)]))("%s: every relative link resolves", (page) => {
  const path = join(ROOT, page);
  const dead = relativeLinks(readFileSync(path, "utf8")).filter(
    (target) => !existsSync(resolve(dirname(path), target)),
  );
  expect(dead).toEqual([]);
});

it("keeps the README short: what it is, the two commands, what you see, links (≤ 200 lines)", () => {
  const lines = readFileSync(join(ROOT, "README.md"), "utf8").split("\n").length;
  expect(lines).toBeLessThanOrEqual(200);
});
