/** Runs the module's functions against a recording session, the way the engine would call them. */
import { fileURLToPath } from "node:url";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, onTestFinished } from "vitest";
import { dag, type Directory, type File } from "@dagger.io/dagger";
import type { Clock } from "../../.dagger/src/lib/clock";
import { ObservatoryCi } from "../../.dagger/src/index";
import type { Trust } from "../../.dagger/src/lib/trust";
import { recordingSession, type RecordingSession, type Script, type ExecView } from "./recording-session";
import { cleanSecurityExec, cleanSecurityFile } from "./security-reports";
import { cleanImageFile } from "./image-reports";
import { withScanWrapper } from "./scan-wrapper";
import { FINISHED_MARKER, MIGRATED_MARKER } from "../../.dagger/src/lib/test-run";

/** Whether the exec is a Rust gate's classified run (test gates and quality gates, lib/test-run.ts). */
export function isTestRun(e: ExecView): boolean {
  return e.args[0] === "sh" && (e.args[2] ?? "").includes(FINISHED_MARKER);
}

/**
 * What a Rust gate's exec prints when cargo finished with `cargoExit` (a verdict: the exec itself
 * succeeds); `stderr` is cargo's own, before the script's lines.
 */
export function testVerdict(cargoExit: number, stdout = "", stderr = ""): { exitCode: number; stdout: string; stderr: string } {
  return { exitCode: 0, stdout, stderr: `${stderr ? `${stderr}\n` : ""}${MIGRATED_MARKER}\n${FINISHED_MARKER} ${cargoExit}\n` };
}

export const FIXTURES = fileURLToPath(new URL("../fixtures/", import.meta.url));
export const GOOD = `${FIXTURES}good`;
export const BROKEN = `${FIXTURES}broken`;

export function cobertura(covered: number, valid: number): string {
  return `<?xml version="1.0"?><coverage lines-covered="${covered}" lines-valid="${valid}" line-rate="${covered / valid}" branches-covered="0" branches-valid="0" branch-rate="0" complexity="0" version="1.9" timestamp="1700000000"><sources><source>/src</source></sources><packages></packages></coverage>`;
}

/**
 * A script for a healthy run: every exec succeeds, tarpaulin writes a 95 % report, cargo test
 * reports passing tests. Tests override parts of it.
 */
export function healthyScript(overrides: Script = {}): Script {
  // scanners run under the module's wrapper: the scripts answer for the tool, the wrapper really runs
  return withScanWrapper({
    exec: (e: ExecView) => {
      const custom = overrides.exec?.(e);
      if (custom) return custom;
      const security = cleanSecurityExec(e);
      if (security) return security;
      if (isTestRun(e) && e.args.includes("--test")) return testVerdict(0, "test result: ok. 3 passed; 0 failed; 0 ignored");
      if (isTestRun(e)) return testVerdict(0);
      return {};
    },
    file: (path, exec, chain) => {
      const custom = overrides.file?.(path, exec, chain);
      if (custom !== undefined) return custom;
      if (path === "/reports/cobertura.xml") return cobertura(95, 100);
      const security = cleanSecurityFile(path);
      if (security !== undefined) return security;
      const imageFile = cleanImageFile(path);
      if (imageFile !== undefined) return imageFile;
      if (path === "/reports/") return JSON.stringify(["cobertura.xml"]);
      return undefined;
    },
    leaf: overrides.leaf,
  });
}

export interface ModuleRun {
  session: RecordingSession;
  /** Calls a function of the module object built on `sourceDir`. */
  call<T>(fn: (ci: ObservatoryCi) => Promise<T>, options?: { config?: string; trust?: Trust }): Promise<T>;
}

/** The module object as the engine builds it; with `clock`, deployments read the time from it and wait on it. */
function moduleObject(source: Directory, config: File | undefined, trust: Trust | undefined, clock?: Clock): ObservatoryCi {
  if (!clock) return new ObservatoryCi(source, config, trust);
  const OnClock = class extends ObservatoryCi {
    protected override clock(): Clock {
      return clock;
    }
  };
  return new OnClock(source, config, trust);
}

export async function moduleRun(script: Script = healthyScript(), sourceDir = GOOD, options: { clock?: Clock } = {}): Promise<ModuleRun> {
  const session = await recordingSession(script);
  return {
    session,
    call: (fn, callOptions = {}) =>
      session.run(() => {
        const source = dag.host().directory(sourceDir);
        const config = callOptions.config ? dag.host().file(callOptions.config) : undefined;
        return fn(moduleObject(source, config, callOptions.trust, options.clock));
      }),
  };
}

/**
 * For a test file: `const start = startPerTest()` gives a function that starts a module run, and
 * every run a test started is stopped after it.
 */
export function startPerTest(): (...args: Parameters<typeof moduleRun>) => Promise<ModuleRun> {
  const runs: ModuleRun[] = [];
  afterEach(async () => {
    await Promise.all(runs.splice(0).map((r) => r.session.stop()));
  });
  return async (...args) => {
    const run = await moduleRun(...args);
    runs.push(run);
    return run;
  };
}

/**
 * A source directory for one test: a copy of `base` (the good fixture; `null` for an empty one)
 * with `files` written over it. Removed when the test finishes.
 */
export function sourceWith(files: Record<string, string>, base: string | null = GOOD): string {
  const dir = mkdtempSync(join(tmpdir(), "observatory-ci-source-"));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  if (base) cpSync(base, dir, { recursive: true });
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), contents);
  }
  return dir;
}

/** The good fixture with `ci/pipeline.json` holding `config`. */
export function sourceWithConfig(config: unknown): string {
  return sourceWith({ "ci/pipeline.json": JSON.stringify(config) });
}

/** The error a call fails with (fails the test when the call succeeds). */
export async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected the call to fail, it succeeded");
}
