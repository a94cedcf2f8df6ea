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
 * cargo-tarpaulin's build arguments, shared by the coverage lane and its dependency layer so both
 * compile with the same flags; `--skip-clean` keeps tarpaulin from wiping the layer's target dir.
 */
export const TARPAULIN_BUILD_ARGS = [
  "tarpaulin",
  "--engine", "llvm", // the default ptrace engine needs privileges an unprivileged container lacks
  "--workspace",
  "--all-features",
  "--locked",
  "--lib",
  "--bins",
  "--skip-clean",
];

/**
 * The cargo runs of each flag set's layer, one exec. `dev` covers what its three lanes compile:
 * dependencies checked (rmeta) with dev-dependency features unified (clippy --all-targets) and without
 * them (rustdoc: a dependency of a doc unit is `Check { test: false }`, rust-lang/cargo 0.96.0
 * src/cargo/core/compiler/unit_dependencies.rs `check_or_build_mode`), then built for the tests.
 * RUSTDOCFLAGS does not enter a dependency's fingerprint (src/cargo/core/compiler/fingerprint/mod.rs
 * uses rustdocflags for doc units only), so the doc lane reuses the checked dependencies.
 * `coverage`: tarpaulin builds the tests without running them (`--no-run`, 0.31.2 src/lib.rs
 * `launch_tarpaulin` then skips the runs and `report_tracemap` the report).
 */
export const DEPENDENCY_BUILDS: Record<DependencyFlagSet, string[][]> = {
  dev: [
    ["cargo", "check", "--locked", "--workspace", "--all-features", "--all-targets"],
    ["cargo", "check", "--locked", "--workspace", "--all-features", "--lib", "--bins"],
    ["cargo", "test", "--locked", "--workspace", "--all-features", "--no-run"],
  ],
  coverage: [["cargo", ...TARPAULIN_BUILD_ARGS, "--no-run"]],
  // the bench profile (optimised, cargo's `[profile.bench]`) is a flag set of its own, used by `benchmark` only
  bench: [["cargo", "bench", "--locked", "--workspace", "--benches", "--no-run"]],
};

/** The layer's one exec: its cargo runs in order, the first failure failing it (and so every lane on it). */
export function dependencyBuildCommand(flagSet: DependencyFlagSet): string[] {
  return ["sh", "-euc", DEPENDENCY_BUILDS[flagSet].map((run) => run.join(" ")).join("\n")];
}
