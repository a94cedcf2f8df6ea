import { describe, expect, it } from "vitest";
import { laneScopes } from "../../.dagger/src/lib/scope";
import { parseConfig } from "../../.dagger/src/lib/pipeline-config";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dag } from "@dagger.io/dagger";
import { IMAGES, TOOL_RELEASES, TOOLS } from "../../.dagger/src/versions";
import { isCargoInstall } from "../support/cold-plan";
import { canarySecret, describeChain, type ExecView } from "../support/recording-session";
import { cobertura, failureOf, GOOD, healthyScript, isTestRun, sourceWithConfig, startPerTest, testVerdict } from "../support/module";
import { FINISHED_MARKER, MIGRATIONS_FAILED_EXIT } from "../../.dagger/src/lib/test-run";
import { pinnedRelease, releaseInstallScript } from "../../.dagger/src/lib/tool-release";
import { dependencyBuildCommand, SKELETON_INCLUDE, SKELETON_SCRIPT, type DependencyFlagSet } from "../../.dagger/src/lib/dependency-layer";
import type { GateFailure } from "../../.dagger/src/lib/errors";

/** Every gate `ci` runs, in its table order. */
const ALL_GATES = ["fmt", "clippy", "doc", "unitTest", "integrationTest", "audit", "deny", "trivyFs", "semgrep", "gitleaks", "imageSize", "trivyImage"];

const start = startPerTest();

/** Index of the first step of the exec's chain matching `field` (and `pred`), from the container's start. */
function stepIndex(e: ExecView, field: string, pred: (args: Record<string, unknown>) => boolean = () => true): number {
  return e.chain.findIndex((s) => s.field === field && pred(s.args));
}

function expectRustBase(e: ExecView) {
  expect(e.image).toBe(IMAGES.rust);
  // The whole CARGO_HOME is one SHARED volume, so cargo's lock files (at its root) are shared too;
  // the image's /usr/local/cargo keeps the rustup proxies and is not hidden by a cache.
  expect(e.env.CARGO_HOME).toBe("/cargo-home");
  expect(e.caches["/cargo-home"]).toBe("observatory-ci-untrusted-cargo-home");
  expect(e.cacheSharing["/cargo-home"]).toBe("SHARED");
  expect(Object.keys(e.caches).filter((path) => path.startsWith("/usr/local/cargo"))).toEqual([]);
  expect(e.mounts["/src"]).toContain(`host.directory(path: "${GOOD}")`);
  expect(e.workdir).toBe("/src");
  // the components layer comes first, before any cache or source
  expect(describeChain(e.chain)).toMatch(/from\(address: "rust:[^"]+"\)\.withExec\(args: \["rustup", "component", "add", "rustfmt", "clippy"\]\)/);
}

/**
 * The lane starts from its flag set's dependency layer: the layer's exec (built on the skeleton, target
 * dir in the container, no cache volume) comes before the real source is mounted over the skeleton.
 */
/** The plan's default scope of each lane (lib/scope.ts): the layers select the same packages. */
const PLAN_SCOPES = laneScopes(parseConfig(undefined, "defaults"));

function expectDependencyLayer(e: ExecView, flagSet: DependencyFlagSet) {
  expect(e.env.CARGO_TARGET_DIR).toBe("/cargo-target");
  expect(e.caches["/cargo-target"]).toBeUndefined();
  const layerAt = stepIndex(e, "withExec", (a) => JSON.stringify(a.args) === JSON.stringify(dependencyBuildCommand(flagSet, PLAN_SCOPES)));
  expect(layerAt, `${flagSet} dependency layer`).toBeGreaterThan(-1);
  const skeletonAt = e.chain.findIndex((s) => s.field === "withMountedDirectory" && s.args.path === "/src" && describeChain([s]).includes(SKELETON_SCRIPT.split("\n")[0]));
  expect(skeletonAt).toBeGreaterThan(-1);
  expect(skeletonAt).toBeLessThan(layerAt);
  const sourceAt = e.chain.map((s) => s.field === "withMountedDirectory" && s.args.path === "/src").lastIndexOf(true);
  expect(sourceAt).toBeGreaterThan(layerAt);
  expect(describeChain([e.chain[sourceAt]])).not.toContain("filter");
  expect(describeChain([e.chain[skeletonAt]])).toContain(JSON.stringify(SKELETON_INCLUDE[0]));
}

/** A quality gate's exec, recognised by cargo's subcommand after the classifying script (lib/test-run.ts). */
const isCargo = (e: ExecView, sub: string) => e.args[0] === "sh" && e.args[3] === "cargo" && e.args[4] === sub;

describe("fmt", () => {
  it("runs cargo fmt --all -- --check on the pinned Rust base, classified, with the engine's default expect", async () => {
    const { session, call } = await start();
    await call((ci) => ci.fmt());
    const e = session.exec("cargo", "fmt");
    expect(e.args.slice(3)).toEqual(["cargo", "fmt", "--all", "--", "--check"]);
    expect(e.args[2]).toContain(FINISHED_MARKER);
    expect(e.args[2]).not.toContain("touch");
    // a crash must fail the exec so the engine never caches it: never expect ANY
    expect(e.opts.expect).toBeUndefined();
    expectRustBase(e);
  });

  it("fails naming the unformatted files when rustfmt reports a diff (a verdict: the exec succeeded)", async () => {
    const diff = "Diff in /src/services/analytics-api/src/lib.rs:3:\n-fn  x() {}\n+fn x() {}\n";
    const { call } = await start(healthyScript({ exec: (e) => (isCargo(e, "fmt") ? testVerdict(1, diff) : undefined) }));
    const err = await failureOf(call((ci) => ci.fmt()));
    expect(err.message).toContain("fmt: cargo fmt --check found unformatted code in 1 file(s): /src/services/analytics-api/src/lib.rs");
    expect(err.message).toContain("cargo fmt --all");
  });

  it("tells a rustfmt crash (a failed exec, never cached) apart from unformatted code", async () => {
    const stderr = "error: couldn't parse Cargo.toml\nobservatory-ci: crashed: cargo exited 1 without a finding or a compile error\n";
    const { session, call } = await start(healthyScript({ exec: (e) => (isCargo(e, "fmt") ? { exitCode: 1, stderr } : undefined) }));
    const err = await failureOf(call((ci) => ci.fmt()));
    expect(err.message).toContain("fmt: cargo exited 1 without a finding or a compile error: not a rustfmt verdict, nothing was cached");
    expect(session.queries.some((q) => q.error?.includes("did not complete successfully: exit code: 1"))).toBe(true);
    expect(err.message).toContain("couldn't parse Cargo.toml");
  });
});

describe("clippy and doc", () => {
  it("clippy denies warnings on all targets and features, over the dev dependency layer", async () => {
    const { session, call } = await start();
    await call((ci) => ci.clippy());
    const e = session.exec("clippy", "-D");
    expect(e.args.slice(0, 4)).toEqual(["sh", "-euc", expect.stringContaining('cargo "$@"'), "cargo"]);
    expect(e.args[2]).toContain("find . -type f -exec touch -c {} +");
    expect(e.args.slice(4)).toEqual(["clippy", "--locked", "--package", "analytics-api", "--all-targets", "--all-features", "--", "-D", "warnings"]);
    expect(e.opts.expect).toBeUndefined();
    expectDependencyLayer(e, "dev");
    expectRustBase(e);
  });

  it("clippy fails naming the lint (a verdict)", async () => {
    // cargo clippy 0.1.95 on the broken fixture (test/lib/clippy-output.test.ts runs it for real)
    const stderr = [
      "error: unneeded `return` statement",
      "   --> services/analytics-api/src/lib.rs:209:9",
      "    = note: `-D clippy::needless-return` implied by `-D warnings`",
      "    = help: to override `-D warnings` add `#[allow(clippy::needless_return)]`",
      "error: could not compile `analytics-api` (lib) due to 1 previous error",
      "warning: build failed, waiting for other jobs to finish...",
      "error: could not compile `analytics-api` (lib test) due to 1 previous error",
    ].join("\n");
    const { call } = await start(healthyScript({ exec: (e) => (isCargo(e, "clippy") ? testVerdict(101, "", stderr) : undefined) }));
    const err = await failureOf(call((ci) => ci.clippy()));
    expect(err.message).toMatch(/^clippy: cargo clippy -D warnings failed \(exit 101\), lints: clippy::needless-return:\n/);
    expect((err as GateFailure).figure).toBe("1 error (clippy::needless-return)");
  });

  it("a clippy run that could not download its dependencies is a crash, not a lint verdict", async () => {
    const stderr = "error: failed to download from `https://index.crates.io/config.json`\nobservatory-ci: crashed: cargo exited 101 without a finding or a compile error\n";
    const { session, call } = await start(healthyScript({ exec: (e) => (isCargo(e, "clippy") ? { exitCode: 101, stderr } : undefined) }));
    const err = await failureOf(call((ci) => ci.clippy()));
    expect(err.message).toContain("clippy: cargo exited 101 without a finding or a compile error: not a clippy verdict, nothing was cached");
    expect(session.queries.some((q) => q.error?.includes("did not complete successfully: exit code: 101"))).toBe(true);
  });

  it("doc builds with RUSTDOCFLAGS=-D warnings and fails on a rustdoc warning", async () => {
    const stderr = "error: unresolved link to `Foo`\nerror: could not document `analytics-api`";
    const { session, call } = await start(healthyScript({ exec: (e) => (isCargo(e, "doc") ? testVerdict(101, "", stderr) : undefined) }));
    const err = await failureOf(call((ci) => ci.doc()));
    const e = session.exec("doc", "--no-deps");
    expect(e.args.slice(4)).toEqual(["doc", "--locked", "--package", "analytics-api", "--no-deps", "--all-features"]);
    expect(e.opts.expect).toBeUndefined();
    expect(e.env.RUSTDOCFLAGS).toBe("-D warnings");
    expectDependencyLayer(e, "dev");
    expect(err.message).toContain("unresolved link to `Foo`");
  });

  it("a killed rustdoc (OOM) is a crash", async () => {
    const stderr = "observatory-ci: crashed: a process was killed (SIGKILL: out of memory?), exit 101\n";
    const { session, call } = await start(healthyScript({ exec: (e) => (isCargo(e, "doc") ? { exitCode: 101, stderr } : undefined) }));
    const err = await failureOf(call((ci) => ci.doc()));
    expect(err.message).toContain("doc: a process was killed (SIGKILL: out of memory?), exit 101: not a rustdoc verdict");
    expect(session.queries.some((q) => q.error?.includes("did not complete successfully: exit code: 101"))).toBe(true);
  });
});

describe("unitTest", () => {
  it("runs migrations then tarpaulin (llvm engine, Cobertura) against TimescaleDB and Redis", async () => {
    const { session, call } = await start();
    await call((ci) => ci.unitTest());
    const e = session.exec("tarpaulin", "--output-dir");
    const script = e.args[2];
    expect(script.indexOf('sqlx migrate run --source "$MIGRATIONS_DIR"')).toBeGreaterThan(-1);
    expect(script.indexOf("sqlx migrate")).toBeLessThan(script.indexOf('cargo "$@"'));
    expect(e.env.MIGRATIONS_DIR).toBe("/src/crates/storage/migrations");
    expect(e.args.slice(4)).toEqual(expect.arrayContaining(["tarpaulin", "--engine", "llvm", "--out", "Xml", "--output-dir", "/reports", "--workspace", "--all-features", "--locked"]));
    expect(e.args[e.args.indexOf("--engine") + 1]).toBe("llvm");
    expect(e.env.DATABASE_URL).toBe("postgres://postgres@db:5432/analytics_test");
    expect(e.env.REDIS_URL).toBe("redis://redis:6379");
    expect(e.env.RUST_LOG).toBe("info");
    expectDependencyLayer(e, "coverage");
    // the plan's test environment: JWT_SECRET (random per run, made inside the container, unless given) and backtraces
    expect(e.env.RUST_BACKTRACE).toBe("1");
    expect(e.env.JWT_SECRET).toBeUndefined();
    expect(e.secretEnv.JWT_SECRET).toBeUndefined();
    expect(e.args[2]).toContain('if [ -z "${JWT_SECRET:-}" ]; then JWT_SECRET=$(head -c 32 /dev/urandom');

    const db = e.services.db;
    expect(db.image).toBe(IMAGES.timescaledb);
    expect(db.exposedPorts).toEqual([5432]);
    expect(db.env).toMatchObject({ POSTGRES_DB: "analytics_test", POSTGRES_HOST_AUTH_METHOD: "trust" });
    expect(db.healthcheck).toEqual(["pg_isready", "-h", "127.0.0.1", "-U", "postgres", "-d", "analytics_test"]);
    expect(db.labels["io.observatory-ci.lane"]).toBe("unit-test");
    expect(e.services.redis.image).toBe(IMAGES.redis);
    expect(e.services.redis.healthcheck).toEqual(["redis-cli", "ping"]);
  });

  it("installs pinned sqlx-cli (source build: no official binary) and the official cargo-tarpaulin binary in layers before the source", async () => {
    const { session, call } = await start();
    await call((ci) => ci.unitTest());
    const sqlx = session.exec("cargo", "install", "sqlx-cli");
    expect(sqlx.args).toEqual(["cargo", "install", "--locked", "--root", "/opt/tool", "--no-default-features", "--features", "rustls,postgres", `sqlx-cli@${TOOLS.sqlxCli}`]);
    expect(session.execs.filter(isCargoInstall).map((e) => e.args.at(-1))).toEqual([`sqlx-cli@${TOOLS.sqlxCli}`]);
    const tarpaulin = session.exec("sha256sum", "cargo-tarpaulin");
    expect(tarpaulin.image).toBe(IMAGES.rust);
    expect(tarpaulin.args).toEqual(["sh", "-euc", releaseInstallScript("cargoTarpaulin", pinnedRelease("cargoTarpaulin", TOOLS.cargoTarpaulin))]);
    expect(tarpaulin.args[2]).toContain(TOOL_RELEASES.cargoTarpaulin.x86_64.sha256);
    // tool installs never see the source, so a source change never rebuilds them
    expect(sqlx.mounts["/src"]).toBeUndefined();
    expect(tarpaulin.mounts["/src"]).toBeUndefined();
    const e = session.exec("tarpaulin", "--output-dir");
    const toolAt = stepIndex(e, "withFile", (a) => a.path === "/usr/local/bin/cargo-tarpaulin");
    const sourceAt = stepIndex(e, "withMountedDirectory", (a) => a.path === "/src");
    expect(toolAt).toBeGreaterThan(-1);
    expect(toolAt).toBeLessThan(sourceAt);
  });

  it("fails below the threshold naming both numbers (85 < 90)", async () => {
    const { call } = await start(healthyScript({ file: (p) => (p === "/reports/cobertura.xml" ? cobertura(85, 100) : undefined) }));
    const err = await failureOf(call((ci) => ci.unitTest()));
    expect(err.message).toBe("unitTest: line coverage 85 % is below the required 90 % (85/100 lines covered)");
  });

  it("uses the configured threshold", async () => {
    const dir = sourceWithConfig({ coverage: { threshold: 80 } });
    const { call } = await start(healthyScript({ file: (p) => (p === "/reports/cobertura.xml" ? cobertura(85, 100) : undefined) }), dir);
    await expect(call((ci) => ci.unitTest())).resolves.toBeUndefined();
    // the same 85 % fails the plan's default 90 %
    const strict = await start(healthyScript({ file: (p) => (p === "/reports/cobertura.xml" ? cobertura(85, 100) : undefined) }));
    expect((await failureOf(strict.call((ci) => ci.unitTest()))).message).toContain("below the required 90 %");
  });

  it("fails closed when tarpaulin wrote no report or an unparsable one", async () => {
    const missing = await start(healthyScript({ file: () => undefined }));
    missing.session.script.file = () => undefined;
    expect((await failureOf(missing.call((ci) => ci.unitTest()))).message).toContain("tarpaulin wrote no coverage report at /reports/cobertura.xml");

    const broken = await start(healthyScript({ file: (p) => (p === "/reports/cobertura.xml" ? "<coverage lines-covered=" : undefined) }));
    expect((await failureOf(broken.call((ci) => ci.unitTest()))).message).toMatch(/^unitTest: coverage report \/reports\/cobertura.xml: /);
  });

  it("reports failing tests as a verdict: the exec succeeds (cacheable), the gate fails", async () => {
    const failing = await start(healthyScript({ exec: (e) => (isTestRun(e) ? testVerdict(1, "test tests::parses ... FAILED\ntest result: FAILED. 4 passed; 1 failed") : undefined) }));
    const err = await failureOf(failing.call((ci) => ci.unitTest()));
    expect(err.message).toContain("unit tests failed under cargo tarpaulin (exit 1)");
    expect(err.message).toContain("tests::parses");
    // a verdict is a successful exec: no exec error, so the engine may cache it
    expect(failing.session.queries.filter((q) => q.error)).toEqual([]);
  });

  it("a crash (migrations failed, services unreachable) is a failed exec, reported as not cached", async () => {
    const stderr = "error: error communicating with database: failed to lookup address information\nobservatory-ci: crashed: sqlx migrations failed before any test ran (database unreachable or a bad migration)\n";
    const { session, call } = await start(healthyScript({ exec: (e) => (isTestRun(e) ? { exitCode: MIGRATIONS_FAILED_EXIT, stderr } : undefined) }));
    const err = await failureOf(call((ci) => ci.unitTest()));
    expect(err.message).toMatch(/^unitTest: sqlx migrations failed before any test ran .*: not a test verdict, nothing was cached, calling again re-runs it/);
    expect(err.message).toContain("failed to lookup address information");
    // the exec itself failed (expect SUCCESS): the engine does not cache a failed exec
    expect(session.exec("tarpaulin", "--output-dir").opts.expect).toBeUndefined();
    expect(session.queries.some((q) => q.error?.includes("did not complete successfully: exit code: 3"))).toBe(true);
  });

  it("a process killed by the OOM killer and a tarpaulin crash are crashes, not test failures", async () => {
    for (const [exitCode, reason] of [
      [101, "a process was killed (SIGKILL: out of memory?), exit 101"],
      [1, "cargo exited 1 without a test result or a compile error"],
    ] as const) {
      const { call } = await start(healthyScript({ exec: (e) => (isTestRun(e) ? { exitCode, stderr: `observatory-ci: crashed: ${reason}\n` } : undefined) }));
      const err = await failureOf(call((ci) => ci.unitTest()));
      expect(err.message).toContain(`unitTest: ${reason}: not a test verdict`);
      expect(err.message).not.toContain("unit tests failed");
    }
  });

  it("bounds the whole run with coreutils timeout (tarpaulin's --timeout is inert under llvm) and says when it fired", async () => {
    const dir = sourceWithConfig({ coverage: { timeoutSeconds: 900 } });
    const { session, call } = await start(
      healthyScript({ exec: (e) => (isTestRun(e) ? { exitCode: 124, stderr: "observatory-ci: crashed: timed out after 900s (exit 124)\n" } : undefined) }),
      dir,
    );
    const err = await failureOf(call((ci) => ci.unitTest()));
    expect(err.message).toContain("unitTest: timed out after 900s (exit 124): not a test verdict");
    const e = session.exec("tarpaulin", "--output-dir");
    expect(e.args[2]).toContain('timeout --kill-after=30 900 cargo "$@"');
    expect(e.args).not.toContain("--timeout");
  });

  it("a compile error is a verdict of its own", async () => {
    const { call } = await start(healthyScript({ exec: (e) => (isTestRun(e) ? { ...testVerdict(1), stderr: 'Error: "Failed to compile tests!\nerror[E0425]: cannot find value `x`"\nobservatory-ci: cargo exited 1\n' } : undefined) }));
    const err = await failureOf(call((ci) => ci.unitTest()));
    expect(err.message).toContain("unitTest: the workspace's tests do not compile (exit 1)");
  });
});

describe("integrationTest", () => {
  it("runs cargo test --test '*' single-threaded with its own services and JWT_SECRET as a secret", async () => {
    const { session, call } = await start();
    await call((ci) => ci.integrationTest());
    const e = session.exec("test", "--test");
    expect(e.args.slice(4)).toEqual(["test", "--locked", "--package", "analytics-api", "--all-features", "--test", "*", "--", "--test-threads=1"]);
    expect(e.args[2]).toContain("sqlx migrate run");
    expect(e.env).toMatchObject({ DATABASE_URL: "postgres://postgres@db:5432/analytics_test", REDIS_URL: "redis://redis:6379", RUST_LOG: "info", RUST_BACKTRACE: "1" });
    expect(e.env.JWT_SECRET).toBeUndefined();
    expect(e.secretEnv.JWT_SECRET).toBeUndefined();
    expect(e.args[2]).toContain("head -c 32 /dev/urandom");
    expect(e.services.db.labels["io.observatory-ci.lane"]).toBe("integration-test");
    expect(e.services.redis.labels["io.observatory-ci.lane"]).toBe("integration-test");
    // no secret at all is made for the default: the key exists only inside the test run
    expect(session.secrets.size).toBe(0);
    expect(session.secretLeaks()).toEqual([]);
  });

  it("uses a given JWT secret without ever showing it", async () => {
    const value = canarySecret("jwt");
    const { session, call } = await start(healthyScript({ exec: (e) => (isTestRun(e) ? testVerdict(101, "test result: FAILED. 2 passed; 1 failed;") : undefined) }));
    const err = await failureOf(call((ci) => ci.integrationTest(dag.setSecret("jwt", value))));
    expect(session.exec("test", "--test").secretEnv.JWT_SECRET).toBe("jwt");
    expect(err.message).toContain("integration tests failed (exit 101, 2 passed, 1 failed, 0 ignored)");
    expect(session.secretLeaks([err.message])).toEqual([]);
  });

  it("fails closed when no integration test ran (exit 0, 0 passed or no test result at all)", async () => {
    for (const stdout of ["test result: ok. 0 passed; 0 failed; 0 ignored", ""]) {
      const { call } = await start(
        healthyScript({ exec: (e) => (isTestRun(e) ? testVerdict(0, stdout) : undefined) }),
      );
      const err = await failureOf(call((ci) => ci.integrationTest()));
      expect(err.message).toContain("integrationTest: no integration test ran");
    }
  });
});

describe("integrationTest: counts, ignored tests, tests.env", () => {
  const ran = (stdout: string) => healthyScript({ exec: (e) => (isTestRun(e) && e.args.includes("--test") ? testVerdict(0, stdout) : undefined) });

  it("reports passed, failed and ignored summed over every test binary", async () => {
    const { call } = await start(ran("test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured"));
    const table = await call((ci) => ci.ci());
    expect(table).toMatch(/\| integrationTest \| ✅ pass \| [^|]+ \| 5 passed, 0 failed, 1 ignored \|/);
  });

  it("integration targets holding only ignored tests fail the gate: nothing was tested", async () => {
    const { call } = await start(ran("test result: ok. 0 passed; 0 failed; 2 ignored; 0 measured"));
    const err = await failureOf(call((ci) => ci.integrationTest()));
    expect(err.message).toMatch(/^integrationTest: no integration test ran: all 2 are #\[ignore\]d, so nothing was tested \(0 passed, 0 failed, 2 ignored\)/);
    expect(err.message).toContain("set tests.includeIgnored to true");
  });

  it("tests.includeIgnored runs them (--include-ignored)", async () => {
    const { session, call } = await start(healthyScript(), sourceWithConfig({ tests: { includeIgnored: true } }));
    await call((ci) => ci.integrationTest());
    expect(session.exec("test", "--test").args.slice(-3)).toEqual(["--", "--test-threads=1", "--include-ignored"]);
  });

  it("tests.env points other names at the lane's services, keeps RUST_LOG=info, and lets RUST_LOG be set", async () => {
    const config = { tests: { env: { TEST_DATABASE_URL: "${DATABASE_URL}", TEST_REDIS_URL: "${REDIS_URL}/1", FEATURE: "on" } } };
    const { session, call } = await start(healthyScript(), sourceWithConfig(config));
    await call((ci) => ci.integrationTest());
    expect(session.exec("test", "--test").env).toMatchObject({
      TEST_DATABASE_URL: "postgres://postgres@db:5432/analytics_test",
      TEST_REDIS_URL: "redis://redis:6379/1",
      FEATURE: "on",
      RUST_LOG: "info",
    });
    const { session: s2, call: c2 } = await start(healthyScript(), sourceWithConfig({ tests: { env: { RUST_LOG: "debug" } } }));
    await c2((ci) => ci.integrationTest());
    expect(s2.exec("test", "--test").env.RUST_LOG).toBe("debug");
  });

  it("tests.env refuses what the module owns and credential-looking names (never echoing their value), before any container", async () => {
    const config = { tests: { env: { DATABASE_URL: "postgres://elsewhere", CARGO_HOME: "/x", API_TOKEN: "tok-1234", OTHER: "${HOME}" } } };
    const { session, call } = await start(healthyScript(), sourceWithConfig(config));
    const err = await failureOf(call((ci) => ci.integrationTest()));
    expect(err.message.split("\n")).toEqual([
      "ci/pipeline.json is invalid:",
      '  - tests.env.DATABASE_URL: DATABASE_URL is set by the module (the services\' URLs, JWT_SECRET, cargo\'s and the toolchain\'s variables); tests.env cannot override it; found "postgres://elsewhere"',
      '  - tests.env.CARGO_HOME: CARGO_HOME is set by the module (the services\' URLs, JWT_SECRET, cargo\'s and the toolchain\'s variables); tests.env cannot override it; found "/x"',
      '  - tests.env.API_TOKEN: API_TOKEN looks like a credential: a plain variable is visible in logs and cache keys; pass it as a Dagger Secret instead; found "(value not shown)"',
      '  - tests.env.OTHER: references ${HOME}; only ${DATABASE_URL} and ${REDIS_URL} are replaced; found "${HOME}"',
    ]);
    expect(err.message).not.toContain("tok-1234");
    expect(session.execs).toEqual([]);
  });
});

describe("integrationTest: cache and verdicts", () => {
  it("two calls send the identical exec: the default JWT secret is made inside the run, so the engine can reuse it", async () => {
    const { session, call } = await start();
    await call((ci) => ci.integrationTest());
    await call((ci) => ci.integrationTest());
    expect(session.queries.flatMap((q) => q.chain.filter((s) => s.field === "setSecret"))).toEqual([]);
    // the recording session deduplicates identical exec chains like the engine's cache
    expect(session.execsMatching("test", "--test-threads=1")).toHaveLength(1);
  });

  it("no integration test target (cargo exits 101) fails as 'no integration test ran', not as failing tests", async () => {
    const stderrLine = "error: no test target matches pattern `*` in default-run packages";
    const { call } = await start(
      healthyScript({ exec: (e) => (isTestRun(e) ? { ...testVerdict(101), stderr: `observatory-ci: migrations applied\n${stderrLine}\nobservatory-ci: cargo exited 101\n` } : undefined) }),
    );
    const err = await failureOf(call((ci) => ci.integrationTest()));
    expect(err.message).toMatch(/^integrationTest: no integration test ran: the workspace has no integration test target \(cargo test --test '\*' exited 101/);
    expect(err.message).not.toContain("integration tests failed");
  });

  it("failing tests are a verdict: the exec succeeds (cacheable), the gate fails", async () => {
    const { session, call } = await start(healthyScript({ exec: (e) => (isTestRun(e) ? testVerdict(101, "test result: FAILED. 2 passed; 1 failed;") : undefined) }));
    const err = await failureOf(call((ci) => ci.integrationTest()));
    expect(err.message).toContain("integration tests failed (exit 101, 2 passed, 1 failed, 0 ignored)");
    expect(session.queries.filter((q) => q.error)).toEqual([]);
  });

  it("a crash is a failed exec reported as such", async () => {
    const { session, call } = await start(
      healthyScript({ exec: (e) => (isTestRun(e) ? { exitCode: 101, stderr: "observatory-ci: crashed: a process was killed (SIGKILL: out of memory?), exit 101\n" } : undefined) }),
    );
    const err = await failureOf(call((ci) => ci.integrationTest()));
    expect(err.message).toContain("integrationTest: a process was killed (SIGKILL: out of memory?), exit 101: not a test verdict");
    expect(session.queries.some((q) => q.error?.includes("did not complete successfully: exit code: 101"))).toBe(true);
  });
});

describe("ci", () => {
  it("runs every gate at once and returns the summary table", async () => {
    // every exec answers as in a healthy run (integration tests report passing tests), only slower; slow
    // enough that the session's synchronous work (the scanner wrapper run in a local shell, expanding the
    // lanes' long chains through their tool and dependency layers: up to ~1 s per query on a loaded
    // machine) cannot serialise them
    const healthy = healthyScript();
    const { session, call } = await start(healthyScript({ exec: (e) => ({ ...healthy.exec?.(e), delayMs: 4000 }) }));
    const table = await call((ci) => ci.ci());
    expect(table).toMatch(/^\| gate \| result \| duration \| key figure \|/);
    for (const gate of ALL_GATES) expect(table).toMatch(new RegExp(`\\| ${gate} \\| ✅ pass \\|`));
    expect(table).toContain("95 % (≥ 90 %)");
    expect(table).toContain(`All ${ALL_GATES.length} gates passed.`);
    // the gates' execs were in flight together, not one after the other
    expect(session.maxConcurrentExecQueries).toBeGreaterThanOrEqual(8);
  });

  it("a failing clippy fails ci naming clippy while every other gate still ran", async () => {
    const { session, call } = await start(
      healthyScript({ exec: (e) => (isCargo(e, "clippy") ? testVerdict(101, "", "error: this `if` has identical blocks\n = note: `-D clippy::if-same-then-else` implied\nerror: could not compile `analytics-api`") : undefined) }),
    );
    const err = await failureOf(call((ci) => ci.ci()));
    expect(err.message).toMatch(/\| clippy \| ❌ fail \|/);
    expect(err.message).toContain(`1 of ${ALL_GATES.length} gates failed.`);
    expect(err.message).toContain("### clippy");
    for (const gate of ALL_GATES.filter((g) => g !== "clippy")) expect(err.message).toMatch(new RegExp(`\\| ${gate} \\| ✅ pass \\|`));
    expect(session.execsMatching("cargo", "fmt")).toHaveLength(1);
    expect(session.execsMatching("doc", "--no-deps")).toHaveLength(1);
    expect(session.execsMatching("tarpaulin", "--output-dir")).toHaveLength(1);
    expect(session.execsMatching("test", "--test-threads=1")).toHaveLength(1);
  });

  it("gives unit and integration tests distinct services", async () => {
    const { session, call } = await start();
    await call((ci) => ci.ci());
    const unit = session.exec("tarpaulin", "--output-dir").services.db;
    const integration = session.exec("test", "--test-threads=1").services.db;
    expect(JSON.stringify(unit.chain)).not.toEqual(JSON.stringify(integration.chain));
  });
});

describe("scope (the plan's by default, configurable per gate)", () => {
  const cargoArgs = (e: { args: string[] }) => e.args.slice(4);

  it("fmt and tarpaulin cover the workspace, clippy, doc and the integration tests the service's package; the ci summary says so", async () => {
    const { session, call } = await start();
    const table = await call((ci) => ci.ci());
    expect(cargoArgs(session.exec("cargo", "fmt"))).toEqual(["fmt", "--all", "--", "--check"]);
    expect(cargoArgs(session.exec("tarpaulin", "--output-dir"))).toContain("--workspace");
    for (const [words, sub] of [[["clippy", "-D"], "clippy"], [["doc", "--no-deps"], "doc"], [["test", "--test-threads=1"], "test"]] as const) {
      const args = cargoArgs(session.exec(...words));
      expect([sub, args.slice(1, 4)]).toEqual([sub, ["--locked", "--package", "analytics-api"]]);
      expect(args).not.toContain("--workspace");
    }
    expect(table).toContain("Scope: fmt: workspace; clippy: package analytics-api; doc: package analytics-api; unitTest: workspace; integrationTest: package analytics-api; deny: package analytics-api (services/analytics-api/Cargo.toml); trivyFs: services/analytics-api and Cargo.lock.");
  });

  it("each gate's scope is configurable: the workspace, or a list of packages", async () => {
    const dir = sourceWithConfig({ scope: { fmt: ["analytics-api"], clippy: "workspace", doc: "workspace", unitTest: ["analytics-api", "storage"], integrationTest: "workspace", deny: "workspace", trivyFs: "workspace" } });
    const { session, call } = await start(healthyScript(), dir);
    const table = await call((ci) => ci.ci());
    expect(cargoArgs(session.exec("cargo", "fmt"))).toEqual(["fmt", "--package", "analytics-api", "--", "--check"]);
    expect(cargoArgs(session.exec("clippy", "-D")).slice(0, 3)).toEqual(["clippy", "--locked", "--workspace"]);
    expect(cargoArgs(session.exec("doc", "--no-deps")).slice(0, 3)).toEqual(["doc", "--locked", "--workspace"]);
    expect(cargoArgs(session.exec("test", "--test-threads=1")).slice(0, 3)).toEqual(["test", "--locked", "--workspace"]);
    const tarpaulin = cargoArgs(session.exec("tarpaulin", "--output-dir"));
    // the dependency layers select what their lanes select (cargo unifies features over the selection)
    expect(session.exec("dependency-layer", "coverage").args[2]).toContain("cargo tarpaulin --engine llvm --packages analytics-api --packages storage ");
    expect(session.exec("dependency-layer", "dev").args[2]).toContain("cargo test --locked --workspace --all-features --no-run");
    expect(tarpaulin).toEqual(expect.arrayContaining(["--packages", "analytics-api", "storage"]));
    expect(tarpaulin.filter((a) => a === "--packages")).toHaveLength(2);
    expect(tarpaulin).not.toContain("--workspace");
    expect(session.exec("deny", "check").args.join(" ")).toContain("cargo deny --workspace --format json");
    expect(session.exec("trivy", "fs").mounts["/src"]).not.toContain("filter(");
    expect(table).toContain("Scope: fmt: package analytics-api; clippy: workspace; doc: workspace; unitTest: packages analytics-api, storage; integrationTest: workspace; deny: workspace; trivyFs: workspace.");
  });

  it("a scoped package that is no workspace member is a doctor blocker, and ci starts nothing", async () => {
    const dir = sourceWithConfig({ scope: { clippy: ["analytics"] } });
    const { session, call } = await start(healthyScript(), dir);
    const err = await failureOf(call((ci) => ci.ci()));
    expect(err.message).toContain("no workspace member is named clippy: analytics (members: analytics-api, storage)");
    expect(session.execs).toEqual([]);
  });
});

describe("configuration", () => {
  it("an invalid ci/pipeline.json fails before any container starts, naming file, field, value and expectation", async () => {
    const dir = sourceWithConfig({ coverage: { threshold: "ninety" }, images: { rust: "rust:latest" } });
    const { session, call } = await start(healthyScript(), dir);
    const err = await failureOf(call((ci) => ci.ci()));
    expect(err.message).toContain("ci/pipeline.json is invalid:");
    expect(err.message).toContain('coverage.threshold: Invalid input: expected number, received string; found "ninety"');
    expect(err.message).toContain('images.rust: expected an exact version, not the moving tag "latest"; found "rust:latest"');
    expect(session.execs).toEqual([]);
  });

  it("--config overrides the file in the source", async () => {
    const dir = sourceWithConfig({ coverage: { threshold: 99 } });
    const override = join(dir, "override.json");
    writeFileSync(override, JSON.stringify({ coverage: { threshold: 50 } }));
    const { call } = await start(healthyScript({ file: (p) => (p === "/reports/cobertura.xml" ? cobertura(60, 100) : undefined) }), dir);
    await call((ci) => ci.unitTest(), { config: override });
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{ nope");
    const err = await failureOf(call((ci) => ci.unitTest(), { config: bad }));
    expect(err.message).toMatch(/^--config bad.json is not valid JSON/);
  });
});

describe("reports and uploadCoverage", () => {
  it("reports returns the Cobertura XML of the unit-test run", async () => {
    const { call } = await start();
    const xml = await call(async (ci) => (await ci.reports()).file("coverage/cobertura.xml").contents());
    expect(xml).toBe(cobertura(95, 100));
  });

  it("uploads with the Codecov CLI, the token only as a secret", async () => {
    const token = canarySecret("codecov");
    const sha = "a".repeat(40);
    const { session, call } = await start();
    await call((ci) => ci.uploadCoverage(dag.setSecret("codecov-token", token), sha, "llm-observatory/analytics-api", "main"));
    const e = session.exec("codecovcli");
    expect(e.image).toBe(IMAGES.python);
    expect(e.args).toEqual(["codecovcli", "--verbose", "upload-process", "--fail-on-error", "--disable-search", "--git-service", "github", "--slug", "llm-observatory/analytics-api", "--commit-sha", sha, "--file", "/reports/cobertura.xml", "--flag", "unittests", "--name", "unit-tests", "--network-root-folder", "/src", "--branch", "main"]);
    expect(e.workdir).toBe("/src");
    expect(e.secretEnv.CODECOV_TOKEN).toBe("codecov-token");
    expect(e.env.OBSERVATORY_CI_RUN).toBeTruthy();
    // wheels only: the slim image has no compiler, a missing wheel must fail the install by name
    expect(session.exec("pip", "install").args).toEqual(["pip", "install", "--no-input", "--only-binary=:all:", `codecov-cli==${TOOLS.codecovCli}`]);
    expect(session.secretLeaks()).toEqual([]);
  });

  it("pins a codecov-cli release that installs from wheels on Python 3.12 (9.1.1 compiled C and had cp311-only wheels)", () => {
    expect(IMAGES.python).toMatch(/^python:3\.12\./);
    expect(TOOLS.codecovCli).toBe("11.2.4");
  });

  it("takes the git service from the caller's CI system (the plan's flag and name either way), refusing one Codecov does not know", async () => {
    const { session, call } = await start();
    await call((ci) => ci.uploadCoverage(dag.setSecret("codecov-token", "x"), "a".repeat(40), "group/analytics-api", "main", undefined, "gitlab"));
    const args = session.exec("codecovcli").args;
    expect(args.slice(args.indexOf("--git-service"), args.indexOf("--git-service") + 2)).toEqual(["--git-service", "gitlab"]);
    expect(args.join(" ")).toContain("--flag unittests --name unit-tests");
    const { session: s2, call: c2 } = await start();
    const err = await failureOf(c2((ci) => ci.uploadCoverage(dag.setSecret("t", "x"), "a".repeat(40), "o/r", undefined, undefined, "gitea")));
    expect(err.message).toContain('uploadCoverage --git-service: is not a git service Codecov knows (found "gitea"; expected github, gitlab, bitbucket, github_enterprise, gitlab_enterprise, bitbucket_server)');
    expect(s2.execs).toEqual([]);
  });

  it("uploads a report made earlier as is, without running the unit tests again (the ci job's report)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "observatory-ci-coverage-"));
    writeFileSync(join(dir, "cobertura.xml"), cobertura(93, 100));
    const { session, call } = await start();
    await call((ci) => ci.uploadCoverage(dag.setSecret("codecov-token", "x"), "a".repeat(40), "o/r", "main", undefined, "github", dag.host().file(join(dir, "cobertura.xml"))));
    expect(session.execsMatching("tarpaulin")).toEqual([]);
    const upload = session.exec("codecovcli");
    expect(describeChain(upload.chain)).toContain(join(dir, "cobertura.xml"));
  });

  it("rejects a bad commit before any container starts", async () => {
    const { session, call } = await start();
    const err = await failureOf(call((ci) => ci.uploadCoverage(dag.setSecret("t", "x"), "abc", "o/r")));
    expect(err.message).toContain('uploadCoverage --commit: is not a full commit SHA (found "abc"');
    expect(session.execs).toEqual([]);
  });
});
