/**
 * Every command-line flag the module sends, per tool, with the tool's pinned version and the source
 * file (at that version's tag) that defines the flags. The test records the plans of the gates, the
 * Codecov upload, signing and the registry check, extracts the flags actually sent, and fails on a
 * flag the table does not list: a new flag, or a version bump (the version column must follow
 * versions.ts), names the rows to re-check against the tool's source.
 */
import { describe, expect, it } from "vitest";
import { dag } from "@dagger.io/dagger";
import { IMAGES, TOOLS } from "../.dagger/src/versions";
import { startPerTest } from "./support/module";
import { recordedFlags, type RecordedFlag } from "./support/recorded-flags";

interface FlagRow {
  tool: string;
  version: string;
  flags: string[];
  source: string;
}

const RUST = IMAGES.rust.split(":")[1]!.split("-")[0]!; // 1.95.0, whose cargo is 0.96.0
const tag = (image: string) => image.slice(image.lastIndexOf(":") + 1);

const TOOL_FLAGS: FlagRow[] = [
  { tool: "cargo clippy", version: RUST, flags: ["--locked", "--workspace", "--all-targets", "--all-features"], source: "rust-lang/cargo 0.96.0 src/cargo/util/command_prelude.rs (cargo-clippy forwards them to `cargo check`)" },
  { tool: "cargo clippy --", version: RUST, flags: ["-D"], source: "rustc lint levels (`-D warnings`), rust-lang/rust 1.95.0 compiler/rustc_session/src/config.rs" },
  { tool: "cargo doc", version: RUST, flags: ["--locked", "--workspace", "--no-deps", "--all-features"], source: "rust-lang/cargo 0.96.0 src/bin/cargo/commands/doc.rs, src/cargo/util/command_prelude.rs" },
  { tool: "cargo fmt", version: RUST, flags: ["--all"], source: "rust-lang/rustfmt (toolchain 1.95.0) src/cargo-fmt/main.rs" },
  { tool: "cargo fmt --", version: RUST, flags: ["--check"], source: "rust-lang/rustfmt (toolchain 1.95.0) src/bin/main.rs" },
  { tool: "cargo install", version: RUST, flags: ["--locked", "--root", "--no-default-features", "--features"], source: "rust-lang/cargo 0.96.0 src/bin/cargo/commands/install.rs" },
  { tool: "cargo test", version: RUST, flags: ["--locked", "--workspace", "--all-features", "--test"], source: "rust-lang/cargo 0.96.0 src/bin/cargo/commands/test.rs, src/cargo/util/command_prelude.rs" },
  { tool: "cargo test --", version: RUST, flags: ["--test-threads"], source: "rust-lang/rust 1.95.0 library/test/src/cli.rs" },
  { tool: "cargo tarpaulin", version: TOOLS.cargoTarpaulin, flags: ["--engine", "--workspace", "--all-features", "--locked", "--lib", "--bins", "--skip-clean", "--out", "--output-dir", "--exclude-files"], source: "xd009642/tarpaulin 0.31.2 src/args.rs" },
  { tool: "cargo audit", version: TOOLS.cargoAudit, flags: ["--db", "--file", "--json", "--no-fetch", "--ignore"], source: "rustsec/rustsec cargo-audit/v0.22.0 cargo-audit/src/commands/audit.rs" },
  { tool: "cargo deny", version: TOOLS.cargoDeny, flags: ["--color", "--format", "--locked", "--config", "--all-features", "--workspace"], source: "EmbarkStudios/cargo-deny 0.18.9 src/cargo-deny/main.rs, src/cargo-deny/check.rs" },
  { tool: "sqlx", version: TOOLS.sqlxCli, flags: ["--source"], source: "launchbadge/sqlx v0.8.2 sqlx-cli/src/opt.rs" },
  { tool: "trivy", version: tag(IMAGES.trivy), flags: ["--cache-dir", "--exit-code", "--format", "--input", "--output", "--scanners", "--severity", "--skip-dirs", "--timeout", "--db-repository", "--java-db-repository", "--ignorefile"], source: "aquasecurity/trivy v0.57.1 pkg/flag/{global,scan,report,db,image}_flags.go" },
  { tool: "semgrep", version: tag(IMAGES.semgrep), flags: ["--config", "--error", "--json-output", "--metrics", "--sarif-output"], source: "semgrep/semgrep 1.95.0 src/osemgrep/cli_scan/Scan_CLI.ml (tag not in the local mirror: re-check on a bump)" },
  { tool: "gitleaks", version: tag(IMAGES.gitleaks), flags: ["--exit-code", "--no-banner", "--redact", "--report-format", "--report-path", "--config"], source: "gitleaks/gitleaks v8.21.2 cmd/root.go" },
  { tool: "syft", version: tag(IMAGES.syft), flags: ["--output", "--source-name", "--platform"], source: "anchore/syft v1.16.0 cmd/syft/internal/options/{output,catalog}.go" },
  { tool: "cosign", version: tag(IMAGES.cosign), flags: ["--yes", "--type", "--predicate", "--key"], source: "sigstore/cosign v2.4.1 cmd/cosign/cli/options/{sign,attest,predicate}.go" },
  { tool: "codecovcli", version: TOOLS.codecovCli, flags: ["--verbose", "--fail-on-error", "--disable-search", "--git-service", "--slug", "--commit-sha", "--file", "--network-root-folder", "--branch", "--pr", "--flag"], source: "codecov/codecov-cli v11.2.4 codecov-cli/codecov_cli/{main.py,commands/upload.py,helpers/options.py}" },
  { tool: "pip", version: tag(IMAGES.python), flags: ["--no-input", "--only-binary"], source: "pypa/pip (bundled with the python image) src/pip/_internal/cli/cmdoptions.py" },
  { tool: "timeout", version: "coreutils 9.1 (Debian bookworm)", flags: ["--kill-after"], source: "coreutils 9.1 src/timeout.c" },
  { tool: "sh", version: "dash 0.5.12 / busybox", flags: ["-euc"], source: "POSIX sh: -e, -u, -c" },
  { tool: "find", version: "findutils 4.9 (bookworm)", flags: ["-type", "-exec"], source: "POSIX find" },
  { tool: "touch", version: "coreutils 9.1", flags: ["-c"], source: "POSIX touch" },
  { tool: "grep", version: "grep 3.8 (bookworm)", flags: ["-q", "-F", "-e"], source: "POSIX grep" },
  { tool: "mktemp", version: "coreutils 9.1", flags: ["-d"], source: "coreutils 9.1 src/mktemp.c" },
  { tool: "test", version: "POSIX", flags: ["-s", "-n", "-eq", "-ne"], source: "POSIX test" },
  { tool: "tar", version: tag(IMAGES.alpine), flags: ["-xf", "-tvf"], source: "busybox tar (alpine 3.20)" },
  { tool: "mkdir", version: "POSIX", flags: ["-p"], source: "POSIX mkdir" },
  { tool: "tr", version: "POSIX", flags: ["-d"], source: "POSIX tr" },
  { tool: "git", version: tag(IMAGES.gitleaks), flags: ["--global", "--add"], source: "git-config(1): `git config --global --add`" },
];

function missingFromTable(found: RecordedFlag[]): string[] {
  return found
    .filter(({ tool, flag }) => !TOOL_FLAGS.some((row) => row.tool === tool && row.flags.includes(flag)))
    .map(({ tool, flag }) => `${tool} ${flag}`);
}

const start = startPerTest();

describe("tool flags", () => {
  it("every flag sent by the gates, the Codecov upload, signing and the registry check is in the table", async () => {
    const { session, call } = await start();
    await call((ci) => ci.ci());
    await call((ci) => ci.uploadCoverage(dag.setSecret("codecov", "x"), "a".repeat(40), "acme/obs", "main", "7"));
    await call((ci) => ci.sign(`ghcr.io/acme/obs/analytics-api@sha256:${"d".repeat(64)}`, "octocat", dag.setSecret("ghcr", "x"), dag.setSecret("oidc", "x")));
    await call((ci) => ci.imageExists("ghcr.io/acme/obs/analytics-api:1.2.3", "octocat", dag.setSecret("ghcr", "x"))).catch(() => undefined);
    const found = recordedFlags(session.execs);
    // the extraction sees the main tools at all (a broken extractor must not pass vacuously)
    for (const tool of ["cargo tarpaulin", "cargo test", "trivy", "semgrep", "gitleaks", "syft", "cosign", "codecovcli", "timeout"]) {
      expect(found.some((f) => f.tool === tool), tool).toBe(true);
    }
    expect(missingFromTable(found)).toEqual([]);
  });

  it("names a flag the table lacks", () => {
    expect(missingFromTable([{ tool: "trivy", flag: "--ignore-unfixed" }])).toEqual(["trivy --ignore-unfixed"]);
  });

  it("each row names its version as pinned and a source file", () => {
    for (const row of TOOL_FLAGS) {
      expect(row.version, row.tool).not.toBe("");
      expect(row.source, row.tool).toMatch(/\S/);
    }
    expect(TOOL_FLAGS.find((r) => r.tool === "codecovcli")!.source).toContain(`v${TOOLS.codecovCli}`);
    expect(TOOL_FLAGS.find((r) => r.tool === "cargo tarpaulin")!.source).toContain(TOOLS.cargoTarpaulin);
    expect(TOOL_FLAGS.find((r) => r.tool === "gitleaks")!.source).toContain(tag(IMAGES.gitleaks));
    expect(TOOL_FLAGS.find((r) => r.tool === "syft")!.source).toContain(tag(IMAGES.syft));
    expect(TOOL_FLAGS.find((r) => r.tool === "cosign")!.source).toContain(tag(IMAGES.cosign));
    expect(TOOL_FLAGS.find((r) => r.tool === "trivy")!.source).toContain(`v${tag(IMAGES.trivy)}`);
    expect(TOOL_FLAGS.find((r) => r.tool === "cargo audit")!.source).toContain(`v${TOOLS.cargoAudit}`);
    expect(TOOL_FLAGS.find((r) => r.tool === "cargo deny")!.source).toContain(TOOLS.cargoDeny);
    expect(TOOL_FLAGS.find((r) => r.tool === "sqlx")!.source).toContain(`v${TOOLS.sqlxCli}`);
  });
});
