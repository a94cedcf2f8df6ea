/**
 * The shared Rust base: one pinned toolchain image whose CARGO_HOME is one cache volume, pinned
 * tools (official release binaries, verified; a cached source build only where no binary exists),
 * the dependency layer of the lane's flag set, then the source. Tools and dependencies come before
 * the source in every chain, so a source change rebuilds neither.
 */
import { dag, CacheSharingMode, type Container, type Directory, type File } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { outcomeUnlessCrashed, type ExecOutcome } from "./exec";
import { GateFailure, tail } from "./lib/errors";
import { crashReason, finishedExitCode } from "./lib/test-run";
import { cacheVolume } from "./cache";
import { laneScopes } from "./lib/scope";
import { pinnedRelease, releaseInstallScript, RELEASE_ASSETS, TOOL_BIN_DIR, type ReleasedTool } from "./lib/tool-release";
import {
  dependencyBuildCommand,
  SKELETON_EXCLUDE,
  SKELETON_INCLUDE,
  SKELETON_SCRIPT,
  type DependencyFlagSet,
} from "./lib/dependency-layer";

/**
 * CARGO_HOME, one SHARED cache volume as a whole. Cargo serialises concurrent processes with lock
 * files at the root of CARGO_HOME, not inside registry/ or git/ (`.package-cache` and
 * `.package-cache-mutate`, rust-lang/cargo 0.96.0 = Rust 1.95, src/cargo/util/cache_lock.rs, opened
 * with `gctx.home()`; the `.global-cache` database likewise, src/cargo/core/global_cache_tracker.rs).
 * With only registry/ and git/ mounted, every container had its own lock over the same shared
 * registry, and parallel `cargo install`, clippy and doc could corrupt it (rust-lang/cargo#11376).
 *
 * The official image's CARGO_HOME (/usr/local/cargo) also holds the rustup proxies in its bin/
 * (rust-lang/docker-rust stable/bookworm/Dockerfile: `CARGO_HOME=/usr/local/cargo`,
 * `PATH=/usr/local/cargo/bin:$PATH`), which a cache volume would hide; so CARGO_HOME moves to its own
 * path and PATH keeps the image's /usr/local/cargo/bin. The proxies find the toolchain through RUSTUP_HOME
 * (unchanged, /usr/local/rustup) and hand the CARGO_HOME of their environment to cargo
 * (rust-lang/rustup 1.29.0, src/toolchain.rs `set_env`).
 */
export const CARGO_HOME = "/cargo-home";
export const SOURCE_DIR = "/src";
export const TARGET_DIR = "/cargo-target";

export function rustToolchain(p: Pipeline): Container {
  const { config } = p;
  let base = dag
    .container()
    .from(config.images.rust)
    // The image installs the minimal rustup profile: fmt and clippy are separate components.
    .withExec(["rustup", "component", "add", "rustfmt", "clippy"])
    .withMountedCache(CARGO_HOME, cacheVolume(p, "cargo-home"), {
      sharing: CacheSharingMode.Shared, // cargo's own lock files, inside the volume, serialise writers
    })
    .withEnvVariable("CARGO_HOME", CARGO_HOME)
    .withEnvVariable("CARGO_TERM_COLOR", "never")
    .withEnvVariable("CARGO_INCREMENTAL", "0");
  if (config.cargo.buildJobs) base = base.withEnvVariable("CARGO_BUILD_JOBS", String(config.cargo.buildJobs));
  return base;
}

/**
 * A tool with no official release binary (see versions.ts TOOLS), built from source once per version
 * in its own container; only the binary is copied, so the build is off the path of every gate that
 * does not put this tool on PATH.
 */
function cargoTool(p: Pipeline, crate: string, version: string, binary: string, features: string[] = []): File {
  const featureArgs = features.length ? ["--no-default-features", "--features", features.join(",")] : [];
  return rustToolchain(p)
    .withExec(["cargo", "install", "--locked", "--root", "/opt/tool", ...featureArgs, `${crate}@${version}`])
    .file(`/opt/tool/bin/${binary}`);
}

/**
 * A tool's official release binary: the archive pinned in versions.ts, downloaded for the engine's
 * architecture and checked against its SHA-256 inside the exec, which fails on a mismatch naming both
 * digests (lib/tool-release.ts). The exec's inputs are the URL and digest, so the engine caches it
 * until the pin moves. The Rust image brings curl, sha256sum and tar (rust-lang/docker-rust
 * stable/bookworm/Dockerfile builds FROM buildpack-deps:bookworm, whose curl layer installs curl and
 * ca-certificates: docker-library/buildpack-deps debian/bookworm/curl/Dockerfile).
 */
function releaseTool(p: Pipeline, tool: ReleasedTool): File {
  const release = pinnedRelease(tool, p.config.tools[tool]);
  return dag
    .container()
    .from(p.config.images.rust)
    .withExec(["sh", "-euc", releaseInstallScript(tool, release)])
    .file(`${TOOL_BIN_DIR}/${RELEASE_ASSETS[tool].binary}`);
}

export function sqlxCli(p: Pipeline): File {
  return cargoTool(p, "sqlx-cli", p.config.tools.sqlxCli, "sqlx", ["rustls", "postgres"]);
}

export function cargoTarpaulin(p: Pipeline): File {
  return releaseTool(p, "cargoTarpaulin");
}

export function cargoAudit(p: Pipeline): File {
  return releaseTool(p, "cargoAudit");
}

export function cargoDeny(p: Pipeline): File {
  return releaseTool(p, "cargoDeny");
}

/** The workspace's manifests and lockfile with empty targets (lib/dependency-layer.ts), at the source's layout. */
export function dependencySkeleton(p: Pipeline): Directory {
  return dag
    .container()
    .from(p.config.images.rust)
    .withDirectory("/skeleton", p.source.filter({ include: SKELETON_INCLUDE, exclude: SKELETON_EXCLUDE }))
    .withWorkdir("/skeleton")
    .withExec(["sh", "-euc", SKELETON_SCRIPT])
    .directory("/skeleton");
}

function workspaceDir(p: Pipeline): string {
  return p.config.paths.workspace === "." ? SOURCE_DIR : `${SOURCE_DIR}/${p.config.paths.workspace}`;
}

/**
 * The toolchain with every dependency of one flag set compiled into TARGET_DIR, a directory of the
 * container (not a cache volume): the layer is content-addressed by the skeleton, the toolchain and the
 * command, so every lane of the flag set, every run and every engine sharing the cache reuses it until
 * a manifest or the lockfile changes. The coverage set is built by tarpaulin itself, with its flags.
 */
export function dependencyLayer(p: Pipeline, flagSet: DependencyFlagSet): Container {
  let ctr = rustToolchain(p);
  if (flagSet === "coverage") ctr = ctr.withFile("/usr/local/bin/cargo-tarpaulin", cargoTarpaulin(p), { permissions: 0o755 });
  return ctr
    .withEnvVariable("CARGO_TARGET_DIR", TARGET_DIR)
    .withMountedDirectory(SOURCE_DIR, dependencySkeleton(p))
    .withWorkdir(workspaceDir(p))
    .withExec(dependencyBuildCommand(flagSet, laneScopes(p.config)));
}

export interface WorkspaceOptions {
  /**
   * The compiled dependencies to start from (see dependencyLayer). Lanes of one flag set share them;
   * the lane compiles the workspace's crates only, after touching the sources so that none is taken
   * for the skeleton's stub of the same path built earlier (lib/test-run.ts).
   */
  dependencies?: DependencyFlagSet;
  /** Tool binaries to put on PATH, before the source. */
  tools?: Record<string, File>;
}

/** Toolchain (or a dependency layer) + tools + the source, with the workspace as working directory. */
export function rustWorkspace(pipeline: Pipeline, options: WorkspaceOptions = {}): Container {
  let ctr = options.dependencies ? dependencyLayer(pipeline, options.dependencies) : rustToolchain(pipeline);
  for (const [name, binary] of Object.entries(options.tools ?? {})) {
    ctr = ctr.withFile(`/usr/local/bin/${name}`, binary, { permissions: 0o755 });
  }
  return ctr.withMountedDirectory(SOURCE_DIR, pipeline.source).withWorkdir(workspaceDir(pipeline));
}

/**
 * A Rust gate's run (lib/test-run.ts): the script exits 0 only for a verdict, announcing cargo's
 * exit code, and fails the exec for a crash, which the engine then does not cache. Workspace files
 * are touched first where cargo builds into a cached target dir: cargo decides that a workspace
 * crate is fresh by comparing source mtimes with its build outputs, and sources older than a
 * cached output from another revision would be taken as built (dependencies stay cached).
 * Returns the outcome of a verdict; a crash becomes the gate's failure, saying nothing was cached.
 */
export async function cargoGateOutcome(gate: string, ran: Container, what: string): Promise<ExecOutcome> {
  const outcome = await outcomeUnlessCrashed(ran, (e) => {
    const reason = crashReason(e.stderr) ?? `the ${what} run failed (exit ${e.exitCode})`;
    return new GateFailure(
      gate,
      `${reason}: not a ${what} verdict, nothing was cached, calling again re-runs it\n${tail(e.stdout + "\n" + e.stderr, 40)}`,
      /timed out/.test(reason) ? "timed out" : "crashed",
    );
  });
  const code = finishedExitCode(outcome.stderr);
  if (code === undefined) {
    throw new GateFailure(gate, `the ${what} run announced no outcome (exit ${outcome.exitCode}):\n${tail(outcome.stderr)}`, "crashed");
  }
  return { ...outcome, exitCode: code };
}
