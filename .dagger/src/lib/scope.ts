/**
 * Which packages each Rust gate covers. The plan runs `cargo fmt --all` and tarpaulin `--workspace` over
 * the whole workspace, and clippy, doc and the integration tests for the service's package; each gate's
 * scope is configurable (`scope.<gate>`: "workspace", "package" for paths.package, or a list of packages).
 */
import type { PipelineConfig } from "./pipeline-config";
import type { LaneScopes } from "./dependency-layer";

export const SCOPED_GATES = ["fmt", "clippy", "doc", "unitTest", "integrationTest"] as const;
export type ScopedGate = (typeof SCOPED_GATES)[number];

export type ResolvedScope = { workspace: true } | { workspace: false; packages: string[] };

export function resolveScope(config: PipelineConfig, gate: ScopedGate): ResolvedScope {
  const scope = config.scope[gate];
  if (scope === "workspace") return { workspace: true };
  return { workspace: false, packages: scope === "package" ? [config.paths.package] : [...scope] };
}

/**
 * The package-selection flags of each tool: cargo's `--workspace` / `--package <spec>` (rust-lang/cargo 0.96.0
 * src/cargo/util/command_prelude.rs `arg_package_spec`), cargo fmt's `--all` / `--package` (rust-lang/rustfmt
 * src/cargo-fmt/main.rs `Opts`), tarpaulin's `--workspace` / `--packages` (xd009642/tarpaulin 0.31.2 src/args.rs,
 * `num_args = 0..`, so one flag per package keeps the next flag out of its values).
 */
export function scopeArgs(scope: ResolvedScope, tool: "cargo" | "fmt" | "tarpaulin"): string[] {
  if (scope.workspace) return [tool === "fmt" ? "--all" : "--workspace"];
  return scope.packages.flatMap((name) => [tool === "tarpaulin" ? "--packages" : "--package", name]);
}

export function describeScope(scope: ResolvedScope): string {
  return scope.workspace ? "workspace" : `${scope.packages.length === 1 ? "package" : "packages"} ${scope.packages.join(", ")}`;
}

/**
 * cargo deny's graph roots. cargo-deny 0.18.9 src/cargo-deny/main.rs `GraphContext`: with `--manifest-path` at a
 * workspace member, "that crate will be the sole root of the crate graph"; `--workspace` makes every member a root
 * (assumed for a virtual manifest). Both are options of `cargo deny` itself, before the `check` subcommand.
 */
export function denyScopeArgs(config: Pick<PipelineConfig, "scope" | "paths">, sourceDir: string): string[] {
  return config.scope.deny === "package" ? ["--manifest-path", `${sourceDir}/${config.paths.service}/Cargo.toml`] : ["--workspace"];
}

/**
 * What Trivy fs reads for scope.trivyFs "service": the service's directory, plus the workspace's Cargo.lock, which a
 * workspace member does not have in its own directory (Trivy's Rust analyzer reads Cargo.lock files), so the
 * service's dependencies stay scanned. Kept at their repository paths, so findings point at the right files.
 */
export function trivyFsIncludes(config: Pick<PipelineConfig, "scope" | "paths">): string[] | undefined {
  if (config.scope.trivyFs === "workspace") return undefined;
  const lockfile = config.paths.workspace === "." ? "Cargo.lock" : `${config.paths.workspace}/Cargo.lock`;
  return [`${config.paths.service}/**`, lockfile];
}

/** `fmt: workspace; clippy: package analytics-api; ...`: each gate's scope in one line. */
export function scopeSummary(config: PipelineConfig): string {
  const deny = config.scope.deny === "package" ? `package ${config.paths.package} (${config.paths.service}/Cargo.toml)` : "workspace";
  const trivy = config.scope.trivyFs === "service" ? `${config.paths.service} and Cargo.lock` : "workspace";
  return [...SCOPED_GATES.map((gate) => `${gate}: ${describeScope(resolveScope(config, gate))}`), `deny: ${deny}`, `trivyFs: ${trivy}`].join("; ");
}

/** The package selection of every lane that starts from a dependency layer (lib/dependency-layer.ts). */
export function laneScopes(config: PipelineConfig): LaneScopes {
  const cargo = (gate: ScopedGate) => scopeArgs(resolveScope(config, gate), "cargo");
  return {
    clippy: cargo("clippy"),
    doc: cargo("doc"),
    integrationTest: cargo("integrationTest"),
    unitTest: scopeArgs(resolveScope(config, "unitTest"), "tarpaulin"),
    bench: benchScope(config),
  };
}

/** `cargo bench`'s selection: benchmarks.package, else the workspace. */
export function benchScope(config: Pick<PipelineConfig, "benchmarks">): string[] {
  return config.benchmarks.package ? ["-p", config.benchmarks.package] : ["--workspace"];
}
