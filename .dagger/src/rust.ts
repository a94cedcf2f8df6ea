/**
 * The shared Rust base: one pinned toolchain image whose CARGO_HOME is one cache volume, pinned
 * tools built once in their own cached layers, then the source. Tool layers come before the source
 * in every chain, so a source change never rebuilds a tool.
 */
import { dag, CacheSharingMode, type Container, type File } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { outcomeUnlessCrashed, type ExecOutcome } from "./exec";
import { GateFailure, tail } from "./lib/errors";
import { crashReason, finishedExitCode } from "./lib/test-run";
import { cacheVolume } from "./cache";

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

/** A cargo-installed tool, built once per version in its own container; only the binary is copied. */
function cargoTool(p: Pipeline, crate: string, version: string, binary: string, features: string[] = []): File {
  const featureArgs = features.length ? ["--no-default-features", "--features", features.join(",")] : [];
  return rustToolchain(p)
    .withExec(["cargo", "install", "--locked", "--root", "/opt/tool", ...featureArgs, `${crate}@${version}`])
    .file(`/opt/tool/bin/${binary}`);
}

export function sqlxCli(p: Pipeline): File {
  return cargoTool(p, "sqlx-cli", p.config.tools.sqlxCli, "sqlx", ["rustls", "postgres"]);
}

export function cargoTarpaulin(p: Pipeline): File {
  return cargoTool(p, "cargo-tarpaulin", p.config.tools.cargoTarpaulin, "cargo-tarpaulin");
}

export function cargoAudit(p: Pipeline): File {
  return cargoTool(p, "cargo-audit", p.config.tools.cargoAudit, "cargo-audit");
}

export function cargoDeny(p: Pipeline): File {
  return cargoTool(p, "cargo-deny", p.config.tools.cargoDeny, "cargo-deny");
}

export interface WorkspaceOptions {
  /** Name of the target-dir cache volume; lanes that run at once get their own, so they never wait on cargo's lock. */
  targetLane?: string;
  /** Tool binaries to put on PATH, before the source. */
  tools?: Record<string, File>;
}

/** Toolchain + tools + target cache + the source, with the workspace as working directory. */
export function rustWorkspace(pipeline: Pipeline, options: WorkspaceOptions = {}): Container {
  let ctr = rustToolchain(pipeline);
  for (const [name, binary] of Object.entries(options.tools ?? {})) {
    ctr = ctr.withFile(`/usr/local/bin/${name}`, binary, { permissions: 0o755 });
  }
  if (options.targetLane) {
    ctr = ctr
      .withMountedCache(TARGET_DIR, cacheVolume(pipeline, `target-${options.targetLane}`), {
        // LOCKED, not SHARED: the gates' `touch` (lib/test-run.ts) runs before cargo takes its build lock on the
        // target dir, so two sessions building different revisions in one shared lane could each
        // find the other's fresh outputs newer than their own touched sources and reuse them.
        // One exec at a time per lane keeps touch + build atomic; parallel gates use other lanes.
        sharing: CacheSharingMode.Locked,
      })
      .withEnvVariable("CARGO_TARGET_DIR", TARGET_DIR);
  }
  const workdir = pipeline.config.paths.workspace === "." ? SOURCE_DIR : `${SOURCE_DIR}/${pipeline.config.paths.workspace}`;
  return ctr.withMountedDirectory(SOURCE_DIR, pipeline.source).withWorkdir(workdir);
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
