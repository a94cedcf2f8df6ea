/**
 * Code-quality gates: rustfmt, clippy and rustdoc, each failing on the first warning. Each runs as a
 * classified cargo run (lib/test-run.ts): unformatted code, lints and rustdoc errors are verdicts,
 * cached like a pass; anything else (a registry download, the lock, a killed process) fails the exec,
 * which the engine does not cache, and the next call runs it again.
 */
import { cargoGateOutcome, rustWorkspace } from "./rust";
import type { Pipeline } from "./pipeline";
import { requireLockfile } from "./doctor";
import { laneScopes, resolveScope, scopeArgs } from "./lib/scope";
import { GateFailure, tail } from "./lib/errors";
import { clippyDiagnostics } from "./lib/clippy-output";
import { QUALITY_VERDICTS, qualityRunCommand } from "./lib/test-run";
import type { GateReport } from "./lib/summary";

export async function fmt(pipeline: Pipeline): Promise<GateReport> {
  // No dependency layer and no touch: rustfmt compiles nothing.
  const scope = scopeArgs(resolveScope(pipeline.config, "fmt"), "fmt");
  const ran = rustWorkspace(pipeline).withExec(qualityRunCommand(["fmt", ...scope, "--", "--check"], QUALITY_VERDICTS.fmt, { touch: false }));
  const { exitCode, stdout, stderr } = await cargoGateOutcome("fmt", ran, "rustfmt");
  if (exitCode === 0) return { figure: "formatted" };
  const files = [...new Set([...stdout.matchAll(/^Diff in (\S+?)(?::\d+)?(?: at line \d+)?:?$/gm)].map((m) => m[1]))];
  if (files.length > 0) {
    throw new GateFailure(
      "fmt",
      `cargo fmt --check found unformatted code in ${files.length} file(s): ${files.join(", ")}. Run \`cargo fmt --all\`.\n${tail(stdout)}`,
      `${files.length} file(s) unformatted`,
    );
  }
  throw new GateFailure("fmt", `rustfmt could not parse the source (exit ${exitCode}):\n${tail(stderr || stdout)}`, "parse error");
}

export async function clippy(pipeline: Pipeline): Promise<GateReport> {
  await requireLockfile(pipeline, "clippy");
  const args = ["clippy", "--locked", ...laneScopes(pipeline.config).clippy, "--all-targets", "--all-features", "--", "-D", "warnings"];
  const ran = rustWorkspace(pipeline, { dependencies: "dev" }).withExec(qualityRunCommand(args, QUALITY_VERDICTS.clippy, { touch: true }));
  const { exitCode, stderr } = await cargoGateOutcome("clippy", ran, "clippy");
  if (exitCode === 0) return { figure: "no warnings" };
  const { lints, errors } = clippyDiagnostics(stderr);
  const named = lints.length ? ` (${lints.length > 2 ? `${lints.slice(0, 2).join(", ")}, …` : lints.join(", ")})` : "";
  throw new GateFailure(
    "clippy",
    `cargo clippy -D warnings failed (exit ${exitCode})${lints.length ? ", lints: " + lints.join(", ") : ""}:\n${tail(stderr, 60)}`,
    `${errors} error${errors === 1 ? "" : "s"}${named}`,
  );
}

export async function doc(pipeline: Pipeline): Promise<GateReport> {
  await requireLockfile(pipeline, "doc");
  const ran = rustWorkspace(pipeline, { dependencies: "dev" })
    .withEnvVariable("RUSTDOCFLAGS", "-D warnings")
    .withExec(qualityRunCommand(["doc", "--locked", ...laneScopes(pipeline.config).doc, "--no-deps", "--all-features"], QUALITY_VERDICTS.doc, { touch: true }));
  const { exitCode, stderr } = await cargoGateOutcome("doc", ran, "rustdoc");
  if (exitCode === 0) return { figure: "no warnings" };
  throw new GateFailure("doc", `cargo doc with RUSTDOCFLAGS=-D warnings failed (exit ${exitCode}):\n${tail(stderr, 60)}`, `exit ${exitCode}`);
}
