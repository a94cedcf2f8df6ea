/**
 * The shared Rust base: one pinned toolchain image with cache volumes at the image's real
 * CARGO_HOME, pinned tools built once in their own cached layers, then the source. Tool layers
 * come before the source in every chain, so a source change never rebuilds a tool.
 */
import { dag, CacheSharingMode, type Container, type File } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import type { PipelineConfig } from "./lib/pipeline-config";

/**
 * The official rust image sets CARGO_HOME=/usr/local/cargo; a cache mounted anywhere else is
 * silently never used.
 */
export const CARGO_HOME = "/usr/local/cargo";
export const SOURCE_DIR = "/src";
export const TARGET_DIR = "/cargo-target";

export function rustToolchain(config: PipelineConfig): Container {
  let base = dag
    .container()
    .from(config.images.rust)
    // The image installs the minimal rustup profile: fmt and clippy are separate components.
    .withExec(["rustup", "component", "add", "rustfmt", "clippy"])
    .withMountedCache(`${CARGO_HOME}/registry`, dag.cacheVolume("observatory-ci-cargo-registry"), {
      sharing: CacheSharingMode.Shared, // cargo's own file lock serialises writers
    })
    .withMountedCache(`${CARGO_HOME}/git`, dag.cacheVolume("observatory-ci-cargo-git"), {
      sharing: CacheSharingMode.Shared,
    })
    .withEnvVariable("CARGO_TERM_COLOR", "never")
    .withEnvVariable("CARGO_INCREMENTAL", "0");
  if (config.cargo.buildJobs) base = base.withEnvVariable("CARGO_BUILD_JOBS", String(config.cargo.buildJobs));
  return base;
}

/** A cargo-installed tool, built once per version in its own container; only the binary is copied. */
function cargoTool(config: PipelineConfig, crate: string, version: string, binary: string, features: string[] = []): File {
  const featureArgs = features.length ? ["--no-default-features", "--features", features.join(",")] : [];
  return rustToolchain(config)
    .withExec(["cargo", "install", "--locked", "--root", "/opt/tool", ...featureArgs, `${crate}@${version}`])
    .file(`/opt/tool/bin/${binary}`);
}

export function sqlxCli(config: PipelineConfig): File {
  return cargoTool(config, "sqlx-cli", config.tools.sqlxCli, "sqlx", ["rustls", "postgres"]);
}

export function cargoTarpaulin(config: PipelineConfig): File {
  return cargoTool(config, "cargo-tarpaulin", config.tools.cargoTarpaulin, "cargo-tarpaulin");
}

export function cargoAudit(config: PipelineConfig): File {
  return cargoTool(config, "cargo-audit", config.tools.cargoAudit, "cargo-audit");
}

export function cargoDeny(config: PipelineConfig): File {
  return cargoTool(config, "cargo-deny", config.tools.cargoDeny, "cargo-deny");
}

export interface WorkspaceOptions {
  /** Name of the target-dir cache volume; lanes that run at once get their own, so they never wait on cargo's lock. */
  targetLane?: string;
  /** Tool binaries to put on PATH, before the source. */
  tools?: Record<string, File>;
}

/** Toolchain + tools + target cache + the source, with the workspace as working directory. */
export function rustWorkspace(pipeline: Pipeline, options: WorkspaceOptions = {}): Container {
  let ctr = rustToolchain(pipeline.config);
  for (const [name, binary] of Object.entries(options.tools ?? {})) {
    ctr = ctr.withFile(`/usr/local/bin/${name}`, binary, { permissions: 0o755 });
  }
  if (options.targetLane) {
    ctr = ctr
      .withMountedCache(TARGET_DIR, dag.cacheVolume(`observatory-ci-target-${options.targetLane}`), {
        sharing: CacheSharingMode.Shared,
      })
      .withEnvVariable("CARGO_TARGET_DIR", TARGET_DIR);
  }
  const workdir = pipeline.config.paths.workspace === "." ? SOURCE_DIR : `${SOURCE_DIR}/${pipeline.config.paths.workspace}`;
  return ctr.withMountedDirectory(SOURCE_DIR, pipeline.source).withWorkdir(workdir);
}

/**
 * `cargo <args>` after touching the workspace's files. The target dir is a cache volume shared
 * across runs, and cargo decides that a workspace crate is fresh by comparing source mtimes with
 * its build outputs: sources older than a cached output from another revision would be taken as
 * built. Touching first makes cargo rebuild the workspace crates (never the cached dependencies).
 */
export function cargoCommand(args: string[]): string[] {
  return ["sh", "-euc", 'find . -type f -exec touch -c {} +\nexec cargo "$@"', "cargo", ...args];
}
