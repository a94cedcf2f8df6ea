/**
 * Reads a recorded plan the way a cold engine would run it: which execs build a tool from source
 * (`cargo install`), and which execs compile the workspace's dependencies, grouped by the compiler-flag
 * set that decides whether two builds can share their output. Used by the cold-plan tests and printed
 * by `npm run plan`.
 */
import { DEPENDENCY_LAYER_EXEC, type DependencyFlagSet } from "../../.dagger/src/lib/dependency-layer";
import type { ExecView } from "./recording-session";

/** An exec that compiles a crate from source: `cargo install ...`. */
export function isCargoInstall(e: ExecView): boolean {
  return e.args[0] === "cargo" && e.args[1] === "install";
}

/** The crate a `cargo install` exec builds (its `name@version` argument). */
export function installedCrate(e: ExecView): string {
  return e.args.find((a) => /^[\w-]+@\d/.test(a)) ?? e.args.join(" ");
}

const COMPILING = new Set(["build", "check", "test", "clippy", "doc", "tarpaulin"]);

/** The cargo subcommand an exec runs: direct (`cargo <sub>`) or through the gates' `sh -euc <script> cargo <sub>`. */
function cargoSubcommand(e: ExecView): string | undefined {
  if (e.args[0] === "cargo") return e.args[1];
  if (e.args[0] === "sh" && e.args[3] === "cargo") return e.args[4];
  return undefined;
}

function layerFlagSet(args: unknown): DependencyFlagSet | undefined {
  // a layer's exec is `sh -euc <script> dependency-layer <flag set>` (lib/dependency-layer.ts dependencyBuildCommand)
  return Array.isArray(args) && args[0] === "sh" && args[3] === DEPENDENCY_LAYER_EXEC ? (args[4] as DependencyFlagSet) : undefined;
}

export interface DependencyBuild {
  /** RUSTFLAGS and profile, as cargo fingerprints them: tarpaulin adds its own instrumentation flags. */
  flagSet: string;
  /** The exec: a dependency layer, or a lane that compiles its dependencies itself. */
  what: string;
}

/**
 * Every exec that compiles the dependency tree on a cold engine: each dependency layer, plus every
 * compiling lane whose chain does not start from a layer (it builds its dependencies on its own).
 */
export function dependencyBuilds(execs: ExecView[]): DependencyBuild[] {
  const builds: DependencyBuild[] = [];
  for (const e of execs) {
    const layer = layerFlagSet(e.args);
    const sub = cargoSubcommand(e);
    if (!layer && (!sub || !COMPILING.has(sub))) continue;
    const rustflags = e.env.RUSTFLAGS ?? "";
    const profile = e.args.includes("--release") ? "release" : layer === "bench" || sub === "bench" ? "bench" : "dev";
    const tarpaulin = sub === "tarpaulin" || layer === "coverage";
    const flagSet = `${profile}${tarpaulin ? " + tarpaulin instrumentation" : ""}${rustflags ? ` RUSTFLAGS=${rustflags}` : ""}`;
    if (layer) {
      builds.push({ flagSet, what: `dependency layer (${layer})` });
      continue;
    }
    const onLayer = e.chain.some((s) => s.field === "withExec" && layerFlagSet(s.args.args) !== undefined);
    if (!onLayer) builds.push({ flagSet, what: `cargo ${sub} lane without a dependency layer` });
  }
  return builds;
}

/** Dependency builds per flag set. */
export function buildsPerFlagSet(builds: DependencyBuild[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const b of builds) out.set(b.flagSet, [...(out.get(b.flagSet) ?? []), b.what]);
  return out;
}

/** The cold-plan summary `npm run plan` prints after the execs. */
export function coldPlanSummary(execs: ExecView[]): string {
  const installs = execs.filter(isCargoInstall).map(installedCrate);
  const perSet = buildsPerFlagSet(dependencyBuilds(execs));
  return [
    `cold plan: ${installs.length} tool(s) built from source with cargo install${installs.length ? `: ${installs.join(", ")}` : ""}`,
    `cold plan: ${[...perSet.values()].flat().length} dependency build(s), by compiler-flag set:`,
    ...[...perSet].map(([set, what]) => `  ${set}: ${what.length} (${what.join("; ")})`),
  ].join("\n");
}
