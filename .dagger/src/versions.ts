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

/** Tools installed with `cargo install --locked <name>@<version>` or pip, each in its own cached layer. */
export const TOOLS = {
  sqlxCli: "0.8.2",
  cargoTarpaulin: "0.31.2",
  /**
   * cargo-audit and cargo-deny must read CVSS 4.0 vectors: the RustSec database has carried them
   * since late 2025, and older releases (cargo-audit < 0.22, cargo-deny < 0.18.6) fail to load the
   * database at all ("unsupported CVSS version: 4.0"), so the gates could never pass.
   */
  cargoAudit: "0.22.0",
  cargoDeny: "0.18.9",
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
