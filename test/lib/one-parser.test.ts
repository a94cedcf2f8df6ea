/**
 * One parser per concept: release tags (lib/tags.ts), image repositories (lib/image-ref.ts), a Deployment's
 * image (lib/deploy/deployment-image.ts) and Markdown tables and their escaping (lib/markdown.ts). A second exported
 * reader of the same concept elsewhere fails here, and so does a hand-written Markdown table or cell escaper.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { computeImageTags, parseReleaseTag } from "../../.dagger/src/lib/tags";
import { expectedSigningRef } from "../../.dagger/src/lib/signing";
import { Environment } from "../../.dagger/src/lib/deploy/environment";

const SRC = fileURLToPath(new URL("../../.dagger/src/", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  );
}

/** Exported function declarations: `file: name`. A function's argument schema (`parse<Function>Args`) is not a concept's parser. */
const exported = sourceFiles(SRC).flatMap((file) =>
  [...readFileSync(file, "utf8").matchAll(/^export (?:async )?function (\w+)/gm)].map((m) => ({ file: relative(SRC, file), name: m[1]! })),
).filter((e) => !/^parse\w+Args$/.test(e.name));

const CONCEPTS: { concept: string; pattern: RegExp; owner: string; delegates?: Record<string, RegExp> }[] = [
  {
    concept: "release tag",
    pattern: /parse.*Tag|releaseVersion|ReleaseTag/,
    owner: "lib/tags.ts",
  },
  { concept: "image repository", pattern: /parse.*Repository|resolve.*Repository|^imageRepository$|defaultImageRepository/, owner: "lib/image-ref.ts" },
  { concept: "Deployment image", pattern: /containerImage|deploymentImage|ContainerImage/, owner: "lib/deploy/deployment-image.ts" },
  { concept: "Markdown table and escaping", pattern: /^markdown|^escape(Markdown|Cell|Pipe)|^(md)?[cC]ell$|^(render)?Table(Row)?$/, owner: "lib/markdown.ts" },
];

const MARKDOWN_OWNER = "lib/markdown.ts";
/** What a hand-written table or escaper looks like: its rule, its row joiner, a header row, a pipe or backtick escape. */
const HAND_WRITTEN_MARKDOWN: { what: string; pattern: RegExp }[] = [
  { what: "a table rule", pattern: /["'`|]-{3}:?["'`|]/ },
  { what: "a row joined with pipes", pattern: /join\(\s*["'`] \| ["'`]\s*\)/ },
  { what: "a header row", pattern: /["'`]\| [\w ]+ \| / },
  { what: "a pipe escaper", pattern: /replace\(\/\\\|\/g,\s*["'`]\\\\\|/ },
  { what: "a backtick escaper", pattern: /replace\(\/`\/g/ },
];

describe("one parser per concept", () => {
  for (const { concept, pattern, owner, delegates = {} } of CONCEPTS) {
    it(`${concept}: only ${owner} exports a reader`, () => {
      const others = exported.filter((e) => pattern.test(e.name) && e.file !== owner && !(e.file in delegates));
      expect(others.map((e) => `${e.file}: ${e.name}`)).toEqual([]);
      expect(exported.some((e) => e.file === owner && pattern.test(e.name)), `${owner} exports it`).toBe(true);
      for (const [file, body] of Object.entries(delegates)) expect(readFileSync(join(SRC, file), "utf8")).toMatch(body);
    });
  }

  it("Markdown: only lib/markdown.ts writes a table or escapes a cell", () => {
    const found = sourceFiles(SRC)
      .filter((file) => relative(SRC, file) !== MARKDOWN_OWNER)
      .flatMap((file) =>
        readFileSync(file, "utf8")
          .split("\n")
          .flatMap((line, i) =>
            HAND_WRITTEN_MARKDOWN.filter(({ pattern }) => pattern.test(line)).map(({ what }) => `${relative(SRC, file)}:${i + 1}: ${what}`),
          ),
      );
    expect(found).toEqual([]);
    const owner = readFileSync(join(SRC, MARKDOWN_OWNER), "utf8");
    for (const { what, pattern } of HAND_WRITTEN_MARKDOWN.filter((h) => !h.what.startsWith("a header"))) expect(owner, what).toMatch(pattern);
  });

  it("release tags: every reader agrees with the version publish pushes for refs/tags/<tag>", () => {
    for (const tag of ["v1.4.0", "v0.0.1", "v2.0.0-rc.1", "v10.20.30-alpha.beta.1"]) {
      const pushed = computeImageTags({ ref: `refs/tags/${tag}`, event: "push", sha: "0123456" }).version;
      expect(parseReleaseTag(tag).version, tag).toBe(pushed);
      expect(expectedSigningRef({ environment: Environment.Production, releaseTag: tag }).exact).toBe(`refs/tags/${tag}`);
    }
    // publish pushes no version for these, so no reader may accept them
    for (const tag of ["v01.2.3", "v1.02.3", "1.2.3", "v1.2", "v1.2.3+build.1", "V1.2.3", "v1.2.3-01"]) {
      expect(() => parseReleaseTag(tag), tag).toThrow(/is not vX\.Y\.Z/);
      expect(() => expectedSigningRef({ environment: Environment.Production, releaseTag: tag }), tag).toThrow();
    }
  });
});
