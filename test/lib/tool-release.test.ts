import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TOOL_RELEASES, TOOLS } from "../../.dagger/src/versions";
import { pinnedRelease, RELEASE_ASSETS, releaseInstallScript, type PinnedRelease, type ReleasedTool } from "../../.dagger/src/lib/tool-release";

const tools = Object.keys(TOOL_RELEASES) as ReleasedTool[];
const hostArch = execFileSync("uname", ["-m"]).toString().trim() === "aarch64" ? "aarch64" : "x86_64";
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A release archive laid out like the project's (the binary at RELEASE_ASSETS' member path), served from a file:// URL. */
function fakeRelease(tool: ReleasedTool, version: string): { dir: string; release: PinnedRelease; binary: string } {
  const dir = mkdtempSync(join(tmpdir(), "tool-release-"));
  dirs.push(dir);
  const member = RELEASE_ASSETS[tool].member(version, hostArch);
  const tree = join(dir, "tree");
  mkdirSync(join(tree, dirname(member)), { recursive: true });
  const binary = `#!/bin/sh\necho ${tool} ${version}\n`;
  writeFileSync(join(tree, member), binary);
  execFileSync("tar", ["-czf", join(dir, "archive.tar.gz"), "-C", tree, member]);
  const sha = createHash("sha256").update(readFileSync(join(dir, "archive.tar.gz"))).digest("hex");
  const url = `file://${join(dir, "archive.tar.gz")}`;
  return { dir, binary, release: { version, sha256: { x86_64: sha, aarch64: sha }, url: { x86_64: url, aarch64: url } } };
}

describe("official release binaries pinned in versions.ts", () => {
  it("every released tool pins a version with a SHA-256 per architecture, and TOOLS takes its version from that pin", () => {
    for (const tool of tools) {
      const pin = TOOL_RELEASES[tool];
      expect(pin.version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(pin.x86_64.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(pin.aarch64.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(pin.x86_64.sha256).not.toBe(pin.aarch64.sha256);
      expect(TOOLS[tool]).toBe(pin.version);
    }
  });

  it("keeps one pin per line, `version:` before its `sha256:` lines, so a version bump and its digests are edited together", () => {
    const text = readFileSync(new URL("../../.dagger/src/versions.ts", import.meta.url), "utf8");
    for (const tool of tools) {
      const pin = TOOL_RELEASES[tool];
      const block = new RegExp(`  ${tool}: \\{\\n    version: "${pin.version}",\\n    x86_64: \\{ sha256: "${pin.x86_64.sha256}" \\},\\n    aarch64: \\{ sha256: "${pin.aarch64.sha256}" \\},\\n  \\}`);
      expect(text).toMatch(block);
    }
  });

  it("names the projects' own release assets for the pinned version", () => {
    expect(RELEASE_ASSETS.cargoDeny.url("0.18.9", "x86_64")).toBe(
      "https://github.com/EmbarkStudios/cargo-deny/releases/download/0.18.9/cargo-deny-0.18.9-x86_64-unknown-linux-musl.tar.gz",
    );
    expect(RELEASE_ASSETS.cargoTarpaulin.url("0.31.2", "aarch64")).toBe(
      "https://github.com/xd009642/tarpaulin/releases/download/0.31.2/cargo-tarpaulin-aarch64-unknown-linux-musl.tar.gz",
    );
    expect(RELEASE_ASSETS.cargoAudit.url("0.22.0", "aarch64")).toBe(
      "https://github.com/rustsec/rustsec/releases/download/cargo-audit/v0.22.0/cargo-audit-aarch64-unknown-linux-gnu-v0.22.0.tgz",
    );
  });

  it("refuses a configured version without a recorded digest, naming the field, the value and the pin", () => {
    expect(() => pinnedRelease("cargoDeny", "0.19.0")).toThrow(
      "tools.cargoDeny: version 0.19.0 has no SHA-256 in the module's versions.ts (TOOL_RELEASES.cargoDeny pins 0.18.9)",
    );
    expect(pinnedRelease("cargoAudit", TOOL_RELEASES.cargoAudit.version).sha256.x86_64).toBe(TOOL_RELEASES.cargoAudit.x86_64.sha256);
  });
});

describe("releaseInstallScript (run with sh over file:// archives)", () => {
  it.each(tools)("%s: a matching archive leaves the executable binary in the bin dir", (tool) => {
    const { dir, release, binary } = fakeRelease(tool, TOOL_RELEASES[tool].version);
    const bin = join(dir, "bin");
    const run = spawnSync("sh", ["-euc", releaseInstallScript(tool, release, bin)], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const installed = join(bin, RELEASE_ASSETS[tool].binary);
    expect(readFileSync(installed, "utf8")).toBe(binary);
    expect(execFileSync(installed).toString()).toBe(`${tool} ${release.version}\n`);
  });

  it("a digest mismatch fails before unpacking, naming the tool, the URL and both digests", () => {
    const { dir, release } = fakeRelease("cargoDeny", "0.18.9");
    const actual = release.sha256[hostArch];
    const pinned = "0".repeat(64);
    const bin = join(dir, "bin");
    const run = spawnSync("sh", ["-euc", releaseInstallScript("cargoDeny", { ...release, sha256: { x86_64: pinned, aarch64: pinned } }, bin)], { encoding: "utf8" });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`cargo-deny 0.18.9: SHA-256 mismatch for ${release.url![hostArch]}: expected ${pinned} (versions.ts), got ${actual}\n`);
    expect(spawnSync("ls", [bin]).status).not.toBe(0);
  });

  it("a download that fails (404, no network) fails the script", () => {
    const { dir, release } = fakeRelease("cargoAudit", "0.22.0");
    const missing = `file://${join(dir, "missing.tgz")}`;
    const run = spawnSync("sh", ["-euc", releaseInstallScript("cargoAudit", { ...release, url: { x86_64: missing, aarch64: missing } }, join(dir, "bin"))], { encoding: "utf8" });
    expect(run.status).not.toBe(0);
  });

  it("the pipeline's script carries the pinned URL and digest of each architecture", () => {
    const script = releaseInstallScript("cargoTarpaulin", pinnedRelease("cargoTarpaulin", "0.31.2"));
    expect(script).toContain(`url='${RELEASE_ASSETS.cargoTarpaulin.url("0.31.2", "x86_64")}'\n    want='${TOOL_RELEASES.cargoTarpaulin.x86_64.sha256}'`);
    expect(script).toContain(`url='${RELEASE_ASSETS.cargoTarpaulin.url("0.31.2", "aarch64")}'\n    want='${TOOL_RELEASES.cargoTarpaulin.aarch64.sha256}'`);
    expect(script).toContain("install -m 0755 \"$work/$member\" /opt/tool/bin/cargo-tarpaulin");
  });
});
