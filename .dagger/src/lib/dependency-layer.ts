/**
 * The dependency layer (the approach of cargo-chef): a skeleton of the workspace made from its
 * manifests and lockfile only, with empty targets, on which every dependency is compiled once per
 * compiler-flag set. The skeleton's content depends on nothing but those files, so the layer built on
 * it is reused by any engine cache until a manifest or the lockfile changes; lanes start from it and
 * compile only the workspace's own crates.
 */

/**
 * What decides the compiled dependency graph: manifests, lockfile, cargo configuration (rustflags,
 * source replacement) and the toolchain file. Nothing else of the source reaches the layer.
 */
export const SKELETON_INCLUDE = [
  "**/Cargo.toml",
  "**/Cargo.lock",
  "**/.cargo/config.toml",
  "**/.cargo/config",
  "**/rust-toolchain",
  "**/rust-toolchain.toml",
];
export const SKELETON_EXCLUDE = ["**/target/**"];

/**
 * `sh -euc` script run at the skeleton's root: every package gets an empty `src/lib.rs` (its normal
 * and dev dependencies are then compiled for it, whatever its real targets are), a `build.rs` when it
 * has build dependencies (cargo compiles those only for a package with a build script), and a stub at
 * every `path = "*.rs"` its manifest names, so explicit targets resolve. Stubs are empty or a bare
 * `fn main`, valid as a library, a binary or a test, with dead code allowed.
 */
export const SKELETON_SCRIPT = [
  "find . -name Cargo.toml -not -path '*/target/*' | while read -r manifest; do",
  '  dir="$(dirname "$manifest")"',
  "  grep -q '^\\[package\\]' \"$manifest\" || continue",
  '  mkdir -p "$dir/src"',
  '  : > "$dir/src/lib.rs"',
  "  if grep -q '^\\[build-dependencies\\]' \"$manifest\" && ! grep -q '^build[[:space:]]*=' \"$manifest\"; then",
  "    printf 'fn main() {}\\n' > \"$dir/build.rs\"",
  "  fi",
  "  sed -n 's/^[[:space:]]*\\(path\\|build\\)[[:space:]]*=[[:space:]]*\"\\([^\"]*\\.rs\\)\".*/\\2/p' \"$manifest\" | while read -r target; do",
  '    mkdir -p "$dir/$(dirname "$target")"',
  "    printf '#![allow(dead_code)]\\nfn main() {}\\n' > \"$dir/$target\"",
  "  done",
  "done",
].join("\n");

/**
 * A distinct compiler-flag set, hence a distinct set of compiled dependencies. `dev`: the plain dev
 * profile, shared by clippy, rustdoc and the integration tests. `coverage`: tarpaulin's instrumented
 * build (it adds `-Cinstrument-coverage`, `--cfg=tarpaulin` and debuginfo flags to RUSTFLAGS,
 * xd009642/tarpaulin 0.31.2 src/cargo.rs `rust_flags`), which shares nothing with the others.
 */
export type DependencyFlagSet = "dev" | "coverage" | "bench";

/**
 * The package selection of each lane built over a layer (lib/scope.ts `scopeArgs`): a layer compiles
 * the dependencies of exactly the packages its lanes select, because cargo unifies dependency features
 * over the selected packages (resolver 2) and a different selection would compile some of them again.
 */
export interface LaneScopes {
  clippy: string[];
  doc: string[];
  integrationTest: string[];
  /** tarpaulin's own flags (`--workspace` / `--packages`). */
  unitTest: string[];
  bench: string[];
}

export const WORKSPACE_SCOPES: LaneScopes = {
  clippy: ["--workspace"],
  doc: ["--workspace"],
  integrationTest: ["--workspace"],
  unitTest: ["--workspace"],
  bench: ["--workspace"],
};

/**
 * cargo-tarpaulin's build arguments, shared by the coverage lane and its dependency layer so both
 * compile with the same flags; `--skip-clean` keeps tarpaulin from wiping the layer's target dir.
 */
export function tarpaulinBuildArgs(scope: string[]): string[] {
  return [
    "tarpaulin",
    "--engine", "llvm", // the default ptrace engine needs privileges an unprivileged container lacks
    ...scope,
    "--all-features",
    "--locked",
    "--lib",
    "--bins",
    "--skip-clean",
  ];
}

/**
 * The cargo runs of each flag set's layer, one exec. `dev` covers what its three lanes compile:
 * dependencies checked (rmeta) with dev-dependency features unified (clippy --all-targets) and without
 * them (rustdoc: a dependency of a doc unit is `Check { test: false }`, rust-lang/cargo 0.96.0
 * src/cargo/core/compiler/unit_dependencies.rs `check_or_build_mode`), then built for the tests.
 * RUSTDOCFLAGS does not enter a dependency's fingerprint (src/cargo/core/compiler/fingerprint/mod.rs
 * uses rustdocflags for doc units only), so the doc lane reuses the checked dependencies.
 * `coverage`: tarpaulin builds the tests without running them (`--no-run`, 0.31.2 src/lib.rs
 * `launch_tarpaulin` then skips the runs and `report_tracemap` the report).
 * `bench`: the bench profile (optimised, cargo's `[profile.bench]`), used by `benchmark` only.
 */
export function dependencyBuilds(flagSet: DependencyFlagSet, scopes: LaneScopes = WORKSPACE_SCOPES): string[][] {
  switch (flagSet) {
    case "dev":
      return [
        ["cargo", "check", "--locked", ...scopes.clippy, "--all-features", "--all-targets"],
        ["cargo", "check", "--locked", ...scopes.doc, "--all-features", "--lib", "--bins"],
        ["cargo", "test", "--locked", ...scopes.integrationTest, "--all-features", "--no-run"],
      ];
    case "coverage":
      return [["cargo", ...tarpaulinBuildArgs(scopes.unitTest), "--no-run"]];
    case "bench":
      return [["cargo", "bench", "--locked", ...scopes.bench, "--benches", "--no-run"]];
  }
}

/** `sh -c`'s $0 in a layer's exec: names the exec in logs and plans (`dependency-layer <flag set>`). */
export const DEPENDENCY_LAYER_EXEC = "dependency-layer";

/**
 * The layer's one exec: its cargo runs in order, the first failure failing it (and so every lane on
 * it); `$0 $1` name it (`dependency-layer dev`).
 */
export function dependencyBuildCommand(flagSet: DependencyFlagSet, scopes: LaneScopes = WORKSPACE_SCOPES): string[] {
  return ["sh", "-euc", dependencyBuilds(flagSet, scopes).map((run) => run.join(" ")).join("\n"), DEPENDENCY_LAYER_EXEC, flagSet];
}

