/**
 * What the integration tests need that the test container may not give them: tests that only run when
 * ignored tests are included, environment variables nobody sets, and testcontainers, which needs a
 * Docker daemon the test container does not have.
 */
import type { DoctorFinding, SourceSnapshot } from "./model";
import { ok } from "./model";

/** What the test containers set (tests.ts `withTestServices` and integrationTest), before tests.env. */
const PIPELINE_TEST_ENV = ["DATABASE_URL", "REDIS_URL", "JWT_SECRET", "MIGRATIONS_DIR", "RUST_LOG"];

/**
 * Integration targets as cargo discovers them without explicit [[test]] entries: `tests/*.rs` and
 * `tests/<name>/main.rs` of each package (rust-lang/cargo src/cargo/util/toml/targets.rs: `infer_from_directory`
 * over the package's `tests` folder, `infer_file` / `infer_subdirectory`). Keyed by target, with the target's files.
 */
function integrationTargets(source: SourceSnapshot, crates: readonly string[]): Map<string, string[]> {
  const targets = new Map<string, string[]>();
  for (const crate of crates) {
    const prefix = crate === "." ? "tests/" : `${crate}/tests/`;
    for (const path of source.paths) {
      if (!path.startsWith(prefix) || !path.endsWith(".rs")) continue;
      const rest = path.slice(prefix.length).split("/");
      if (rest.length === 1) targets.set(path, [path]);
      else if (rest.length === 2 && rest[1] === "main.rs") targets.set(path, source.paths.filter((p) => p.startsWith(`${prefix}${rest[0]}/`) && p.endsWith(".rs")));
    }
  }
  return targets;
}

const TEST_ATTRIBUTE = /#\[\s*(?:[\w:]+::)?test\b[^\]]*\]/g;
const IGNORE_ATTRIBUTE = /#\[\s*ignore\b[^\]]*\]/g;

function countOf(text: string, pattern: RegExp): number {
  return [...text.replace(/\/\/[^\n]*/g, "").matchAll(pattern)].length;
}

export interface TestsCheckOptions {
  /** The crates whose integration tests the gate runs (the workspace members, or the scoped packages' folders). */
  crates: readonly string[];
  /** Names tests.env sets. */
  configuredEnv: readonly string[];
  /** tests.includeIgnored: ignored tests run too. */
  includeIgnored?: boolean;
}

export function checkTests(source: SourceSnapshot, options: TestsCheckOptions): DoctorFinding[] {
  const findings: DoctorFinding[] = [];
  const targets = integrationTargets(source, options.crates);
  let runnable = 0;
  const perTarget: string[] = [];
  const allFiles = [...targets.values()].flat();
  for (const [target, files] of targets) {
    const text = files.map((f) => source.read(f) ?? "").join("\n");
    const tests = countOf(text, TEST_ATTRIBUTE);
    const ignored = Math.min(countOf(text, IGNORE_ATTRIBUTE), tests);
    runnable += options.includeIgnored ? tests : tests - ignored;
    perTarget.push(`${target}: ${tests} test(s), ${ignored} ignored`);
  }
  if (!targets.size) {
    findings.push({ check: "tests", verdict: "blocker", found: `no integration test target in ${options.crates.join(", ")}: integrationTest would run nothing`, fix: "add tests under the crate's tests/ folder" });
  } else if (runnable === 0) {
    findings.push({ check: "tests", verdict: "blocker", found: `every integration test is #[ignore]d (${perTarget.join("; ")}): cargo test runs 0 of them and integrationTest fails`, fix: "remove #[ignore] from the tests that can run against the pipeline's DATABASE_URL and REDIS_URL, or set tests.includeIgnored to true" });
  } else {
    findings.push(ok("tests", perTarget.join("; ")));
  }

  const testFiles = source.paths.filter((p) => p.endsWith(".rs") && (allFiles.includes(p) || /(^|\/)src\/.*test/.test(p)));
  const known = new Set([...PIPELINE_TEST_ENV, ...options.configuredEnv]);
  const unset = new Map<string, string[]>();
  let loadsDotenv: string | undefined;
  for (const file of testFiles) {
    const text = source.read(file) ?? "";
    for (const m of text.matchAll(/\benv::var(?:_os)?\(\s*"([^"]+)"\s*\)|\bdotenv(?:y)?::var\(\s*"([^"]+)"\s*\)/g)) {
      const name = m[1] ?? m[2]!;
      if (known.has(name) || name.startsWith("CARGO_")) continue;
      unset.set(name, [...new Set([...(unset.get(name) ?? []), file])]);
    }
    if (/\bdotenv(?:y)?(?:::dotenv)?\(\)/.test(text)) loadsDotenv ??= file;
  }
  for (const [name, files] of unset) {
    const service = /DATABASE|POSTGRES|PG/.test(name) ? "${DATABASE_URL}" : /REDIS/.test(name) ? "${REDIS_URL}" : "<value>";
    findings.push({ check: "tests env", verdict: "warning", found: `${name} is read by ${files.join(", ")} and the pipeline does not set it`, fix: `set it in ci/pipeline.json: "tests": { "env": { "${name}": "${service}" } }` });
  }
  if (loadsDotenv) {
    findings.push({ check: "tests env", verdict: "warning", found: `${loadsDotenv} loads a .env file: the module never passes .env files to its containers`, fix: "put the values the tests need in tests.env (plain values) or pass secrets as Dagger secrets" });
  }
  if (!unset.size && !loadsDotenv) findings.push(ok("tests env", "the tests read no variable the pipeline leaves unset"));

  const containerUsers = allFiles.filter((f) => /\btestcontainers\b/.test(source.read(f) ?? ""));
  const declared = source.paths.filter((p) => p.endsWith("Cargo.toml") && /^\s*testcontainers(?:-modules)?\s*=/m.test(source.read(p) ?? ""));
  if (containerUsers.length) {
    findings.push({ check: "testcontainers", verdict: "blocker", found: `${containerUsers.join(", ")} start their own containers (testcontainers): the test container has no Docker daemon, so they fail`, fix: "connect them to the pipeline's services (DATABASE_URL, REDIS_URL) when those are set, or #[ignore] them" });
  } else if (declared.length) {
    findings.push({ check: "testcontainers", verdict: "warning", found: `${declared.join(", ")} depend on testcontainers, which needs a Docker daemon the test container does not have`, fix: "use the pipeline's DATABASE_URL and REDIS_URL in tests" });
  }
  return findings;
}
