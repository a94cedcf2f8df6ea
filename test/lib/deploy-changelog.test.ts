import { describe, expect, it } from "vitest";
import { normaliseVersion, releaseNotesFromChangelog } from "../../.dagger/src/lib/deploy/changelog";

const keepAChangelog = `# Changelog
All notable changes to this project will be documented in this file.

## [Unreleased]
### Added
- Streaming export.

## [1.2.3] - 2024-05-01
### Fixed
- Cost aggregation rounded to cents.

\`\`\`sh
## not a heading inside a code block
\`\`\`

## [1.2.30] - 2024-06-01
### Added
- Something else.

## [1.2.2] - 2024-04-01
### Changed
- Faster percentiles.

[Unreleased]: https://github.com/acme/observatory/compare/v1.2.3...HEAD
[1.2.3]: https://github.com/acme/observatory/compare/v1.2.2...v1.2.3
[1.2.2]: https://github.com/acme/observatory/releases/tag/v1.2.2
`;

describe("releaseNotesFromChangelog", () => {
  it("returns the Keep a Changelog section of the tag, fences included", () => {
    expect(releaseNotesFromChangelog(keepAChangelog, "v1.2.3")).toBe(
      "### Fixed\n- Cost aggregation rounded to cents.\n\n```sh\n## not a heading inside a code block\n```",
    );
  });

  it("does not confuse 1.2.3 with 1.2.30, and drops the trailing link definitions", () => {
    expect(releaseNotesFromChangelog(keepAChangelog, "1.2.30")).toBe("### Added\n- Something else.");
    expect(releaseNotesFromChangelog(keepAChangelog, "refs/tags/v1.2.2")).toBe("### Changed\n- Faster percentiles.");
  });

  it("reads `## v1.2.3` and `## 1.2.3` headings and CRLF files", () => {
    const plain = "# History\r\n\r\n## v2.0.0\r\n\r\n- Breaking: new auth.\r\n\r\n## 1.9.0\r\n- Older.\r\n";
    expect(releaseNotesFromChangelog(plain, "v2.0.0")).toBe("- Breaking: new auth.");
    expect(releaseNotesFromChangelog(plain, "v1.9.0")).toBe("- Older.");
    expect(releaseNotesFromChangelog("## [v3.0.0-rc.1]\nPreview.\n", "v3.0.0-rc.1")).toBe("Preview.");
  });

  it("returns null when the version has no section, and an empty string for an empty one", () => {
    expect(releaseNotesFromChangelog(keepAChangelog, "v9.9.9")).toBeNull();
    expect(releaseNotesFromChangelog("", "v1.0.0")).toBeNull();
    expect(releaseNotesFromChangelog("## 1.0.0\n\n## 0.9.0\n- x\n", "1.0.0")).toBe("");
  });

  it("does not take a level-3 heading or a mention in the text for the section", () => {
    expect(releaseNotesFromChangelog("## 2.0.0\nUpgrade from 1.0.0 first.\n### 1.0.0\n", "1.0.0")).toBeNull();
  });

  it("normalises tags", () => {
    expect(normaliseVersion("v1.2.3")).toBe("1.2.3");
    expect(normaliseVersion("refs/tags/v1.2.3")).toBe("1.2.3");
    expect(normaliseVersion("version-1")).toBe("version-1");
    expect(() => releaseNotesFromChangelog("", "  ")).toThrow("invalid release tag");
  });
});
