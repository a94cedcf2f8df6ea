/**
 * Every container image and tool version the pipeline uses, pinned to an exact release.
 * Nothing else in the module names an image: each stage takes its image from the validated
 * config, whose defaults are these values (see lib/pipeline-config.ts), so `ci/pipeline.json` can
 * move one pin without touching code. Bumps are made by hand here; test/tool-flags.test.ts then
 * lists the tool flags whose source must be re-read at the new version.
 */
export const IMAGES = {
  /** Official Rust image: CARGO_HOME=/usr/local/cargo, RUSTUP_HOME=/usr/local/rustup. */
  rust: "rust:1.95.0-bookworm",
  /** The plan's database: TimescaleDB on PostgreSQL 15. */
  timescaledb: "timescale/timescaledb:2.17.2-pg15",
  redis: "redis:7.4.1-alpine",
  /** Codecov CLI runs from PyPI in a pinned Python image. */
  python: "python:3.12.7-slim-bookworm",
  trivy: "aquasec/trivy:0.57.1",
  semgrep: "semgrep/semgrep:1.95.0",
  gitleaks: "zricethezav/gitleaks:v8.21.2",
  syft: "anchore/syft:v1.16.0",
  cosign: "gcr.io/projectsigstore/cosign:v2.4.1",
  /** The debug variant (busybox shell at /busybox/sh, crane at /ko-app/crane): versioned as crane/debug:<tag>, not crane:debug-<tag>. */
  crane: "gcr.io/go-containerregistry/crane/debug:v0.20.2",
  /** kubectl 1.31 with sh, curl and jq (alpine/k8s bundles them). */
  kubectl: "alpine/k8s:1.31.2",
  k6: "grafana/k6:0.54.0",
  curl: "curlimages/curl:8.11.0",
  /** Small shell image for git and other utilities. */
  alpine: "alpine:3.20.3",
} as const;

/**
 * Tools with an official prebuilt release: the project's own release archives, pinned by version, each
 * archive verified against its SHA-256 below before it is unpacked (lib/tool-release.ts; a mismatch fails
 * naming both digests). Where the archive lives and which file in it is the binary: lib/tool-release.ts.
 *
 * The digests are those taiki-e/install-action records for the same release assets (tag v2.86.5, commit
 * ba47c86ac325773530516bb756137ac718732518, manifests/<tool>.json `hash`: the SHA-256 of the downloaded
 * archive, computed by tools/codegen/src/main.rs and checked there against GitHub's own asset digest where
 * the release has one). One pin per line; a version bump needs the new digests from the same source.
 */
export const TOOL_RELEASES = {
  /** EmbarkStudios/cargo-deny release assets cargo-deny-<v>-<arch>-unknown-linux-musl.tar.gz (manifests/cargo-deny.json). */
  cargoDeny: {
    version: "0.18.9",
    x86_64: { sha256: "491d04e4c05d7c92582e3d40ec94126c52472a546326a6d29473a5a4e73babd2" },
    aarch64: { sha256: "8bc65cc9f5573e1538f914a227e87f70586a50922b73d0def28ffd6f74514a53" },
  },
  /** xd009642/tarpaulin release assets cargo-tarpaulin-<arch>-unknown-linux-musl.tar.gz (manifests/cargo-tarpaulin.json). */
  cargoTarpaulin: {
    version: "0.31.2",
    x86_64: { sha256: "47781f68fd98db830983a59020bbbaf0841322b362c8d7a7634b7d88128a22ba" },
    aarch64: { sha256: "a6df38b6ce3cec14c1a19ecbc2e080895ffc11289e31031ee8d6bdbafe2885e9" },
  },
  /**
   * rustsec/rustsec release assets cargo-audit-<target>-v<v>.tgz (manifests/cargo-audit.json): x86_64 is the
   * static musl build, aarch64 a glibc (aarch64-unknown-linux-gnu) build, which the bookworm image provides.
   */
  cargoAudit: {
    version: "0.22.0",
    x86_64: { sha256: "0ea7a15f67d5007af5bd18f89be38a90ebd004f149dc36ebfab0aedba24cbb4f" },
    aarch64: { sha256: "64ddb7e99b171a881ea2c9f4ec5efa7b988f9131949d957bcd18d17a981b5302" },
  },
} as const;

/**
 * Tool versions (the config's `tools` defaults). Those in TOOL_RELEASES come from their pin there; the
 * others are installed with `cargo install --locked <name>@<version>` or pip, each in its own cached layer.
 */
export const TOOLS = {
  /**
   * No official binary: launchbadge/sqlx v0.8.2 publishes none (its .github/workflows at the tag are
   * examples.yml, sqlx-cli.yml and sqlx.yml, none of which uploads a release asset), so sqlx-cli stays a
   * cached `cargo install`, needed only by the two test gates and built beside their dependency layers.
   */
  sqlxCli: "0.8.2",
  cargoTarpaulin: TOOL_RELEASES.cargoTarpaulin.version,
  /**
   * cargo-audit and cargo-deny must read CVSS 4.0 vectors: the RustSec database has carried them
   * since late 2025, and older releases (cargo-audit < 0.22, cargo-deny < 0.18.6) fail to load the
   * database at all ("unsupported CVSS version: 4.0"), so the gates could never pass.
   */
  cargoAudit: TOOL_RELEASES.cargoAudit.version,
  cargoDeny: TOOL_RELEASES.cargoDeny.version,
  /**
   * Installed with pip in IMAGES.python (3.12, no compiler) from wheels only. 9.1.1 could not install
   * there: its setup.py builds C extensions (`ext_modules`) and its only Linux wheel was cp311 x86_64
   * (.github/workflows/build_for_pypi.yml at v9.1.1: Python 3.11, `--plat-name=manylinux2014_x86_64`).
   * 11.2.4 is pure Python (codecov/codecov-cli v11.2.4 codecov-cli/pyproject.toml: setuptools, no
   * extension; codecov-cli/setup.py is a bare `setup()`; .github/workflows/build.yml builds it with
   * `uv build`, release-codecov-cli.yml publishes that py3-none-any wheel), and it is the newest release
   * whose one compiled dependency, test-results-parser==0.5.4, has wheels for CPython 3.12 on Linux
   * x86_64 and aarch64 (codecov/test-results-parser v0.5.4 .github/workflows/publish.yml: maturin,
   * `--interpreter '3.8 3.9 3.10 3.11 3.12'`, manylinux targets x86_64 and aarch64). 11.2.5+ pin
   * test-results-parser 0.6.x, whose release files could not be checked here. The other compiled
   * dependencies publish cp312 manylinux wheels for both architectures too: ijson 3.x (cibuildwheel on
   * ubuntu-24.04 and ubuntu-24.04-arm, ICRAR/ijson v3.5.1 .github/workflows/deploy-to-pypi.yml) and
   * PyYAML 6.0.3 (yaml/pyyaml 6.0.3 .github/workflows/ci.yaml, manylinux2014 x86_64/aarch64 cp312).
   */
  codecovCli: "11.2.4",
  /** GitHub CLI, installed from its release package in the alpine image. */
  gh: "2.62.0",
} as const;

/** The Dagger CLI/engine version, equal to dagger.json's engineVersion and the workflows' `version:`. */
export const DAGGER_VERSION = "0.21.9";
