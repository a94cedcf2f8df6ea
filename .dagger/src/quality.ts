/** Code-quality gates: rustfmt, clippy and rustdoc, each failing on the first warning. */
import { outcomeOf, runAllowingFailure } from "./exec";
import { cargoCommand, rustWorkspace } from "./rust";
import type { Pipeline } from "./pipeline";
import { GateFailure, tail } from "./lib/errors";
import type { GateReport } from "./lib/summary";

export async function fmt(pipeline: Pipeline): Promise<GateReport> {
  // No target dir: rustfmt compiles nothing.
  const ran = runAllowingFailure(rustWorkspace(pipeline), ["cargo", "fmt", "--all", "--", "--check"]);
  const { exitCode, stdout, stderr } = await outcomeOf(ran);
  if (exitCode === 0) return { figure: "formatted" };
  // rustfmt --check exits 1 with the diff on stdout; anything else is rustfmt failing to run.
  const files = [...new Set([...stdout.matchAll(/^Diff in (\S+?)(?::\d+)?(?: at line \d+)?:?$/gm)].map((m) => m[1]))];
  if (exitCode === 1 && stdout.trim()) {
    throw new GateFailure(
      "fmt",
      `cargo fmt --check found unformatted code in ${files.length || "some"} file(s)${files.length ? ": " + files.join(", ") : ""}. Run \`cargo fmt --all\`.\n${tail(stdout)}`,
      `${files.length || "?"} file(s) unformatted`,
    );
  }
  throw new GateFailure("fmt", `cargo fmt could not run (exit ${exitCode}):\n${tail(stderr || stdout)}`, `exit ${exitCode}`);
}

export async function clippy(pipeline: Pipeline): Promise<GateReport> {
  const args = ["clippy", "--locked", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"];
  const ran = runAllowingFailure(rustWorkspace(pipeline, { targetLane: "clippy" }), cargoCommand(args));
  const { exitCode, stderr } = await outcomeOf(ran);
  if (exitCode === 0) return { figure: "no warnings" };
  const lints = [...new Set([...stderr.matchAll(/`-D ([\w:-]+)`|#\[deny\(([\w:]+)\)\]|\[(clippy::[\w-]+)\]/g)].map((m) => m[1] ?? m[2] ?? m[3]))];
  const errors = [...stderr.matchAll(/^error(?:\[\w+\])?: /gm)].length;
  throw new GateFailure(
    "clippy",
    `cargo clippy -D warnings failed (exit ${exitCode})${lints.length ? ", lints: " + lints.join(", ") : ""}:\n${tail(stderr, 60)}`,
    `${errors} error(s)`,
  );
}

export async function doc(pipeline: Pipeline): Promise<GateReport> {
  const ran = runAllowingFailure(
    rustWorkspace(pipeline, { targetLane: "doc" }).withEnvVariable("RUSTDOCFLAGS", "-D warnings"),
    cargoCommand(["doc", "--locked", "--workspace", "--no-deps", "--all-features"]),
  );
  const { exitCode, stderr } = await outcomeOf(ran);
  if (exitCode === 0) return { figure: "no warnings" };
  throw new GateFailure("doc", `cargo doc with RUSTDOCFLAGS=-D warnings failed (exit ${exitCode}):\n${tail(stderr, 60)}`, `exit ${exitCode}`);
}
