/** The recording session itself: the tests of the module are only as good as this fake engine. */
import { afterEach, describe, expect, it } from "vitest";
import { dag, ReturnType } from "@dagger.io/dagger";
import { canarySecret, describeChain, recordingSession, type RecordingSession } from "./support/recording-session";
import { takeStartedSessions } from "./support/session-registry";
import { GOOD } from "./support/module";

let session: RecordingSession;
afterEach(async () => {
  await session?.stop();
});

describe("recording session", () => {
  it("expands ids back to the chains behind them and records execs with their whole container state", async () => {
    session = await recordingSession({ exec: (e) => (e.args[0] === "echo" ? { stdout: "hi\n" } : undefined) });
    const out = await session.run(() =>
      dag
        .container()
        .from("alpine:3.20.3")
        .withMountedCache("/cache", dag.cacheVolume("k"))
        .withMountedDirectory("/src", dag.host().directory(GOOD))
        .withEnvVariable("A", "1")
        .withWorkdir("/src")
        .withExec(["echo", "hi"])
        .stdout(),
    );
    expect(out).toBe("hi\n");
    const e = session.exec("echo");
    expect(e).toMatchObject({ image: "alpine:3.20.3", env: { A: "1" }, caches: { "/cache": "k" }, workdir: "/src", args: ["echo", "hi"] });
    expect(e.mounts["/src"]).toBe(`host.directory(path: "${GOOD}")`);
    expect(describeChain(e.chain)).toMatch(/^container\.from\(address: "alpine:3.20.3"\)\.withMountedCache\(path: "\/cache", cache: cacheVolume\("k"\)\)/);
  });

  it("answers a failing exec as the engine does: an exec error, or an exit code with expect ANY", async () => {
    session = await recordingSession({ exec: () => ({ exitCode: 3, stdout: "out", stderr: "boom" }) });
    const result = await session.run(async () => {
      const ctr = dag.container().from("alpine:3.20.3");
      const code = await ctr.withExec(["false"], { expect: ReturnType.Any }).exitCode();
      const error = await ctr.withExec(["false"]).sync().then(
        () => undefined,
        (e: { exitCode: number; stdout: string; stderr: string; message: string }) => e,
      );
      return { code, error };
    });
    expect(result.code).toBe(3);
    expect(result.error).toMatchObject({ exitCode: 3, stdout: "out", stderr: "boom" });
    expect(result.error!.message).toContain('process "false" did not complete successfully: exit code: 3');
  });

  it("serves host directories from disk and container files from the script", async () => {
    session = await recordingSession({ file: (path) => (path === "/out/report.json" ? "{}" : undefined) });
    const result = await session.run(async () => {
      const src = dag.host().directory(GOOD);
      const ctr = dag.container().from("alpine:3.20.3").withExec(["true"]);
      return {
        exists: await src.exists("Cargo.lock"),
        missing: await src.exists("nope.txt"),
        entries: await src.directory("crates/storage/migrations").entries(),
        report: await ctr.file("/out/report.json").contents(),
        absent: await ctr.file("/out/absent").contents().catch((e: Error) => e.message),
      };
    });
    expect(result.exists).toBe(true);
    expect(result.missing).toBe(false);
    expect(result.entries).toEqual(["20240101000000_create_events.sql", "20240102000000_add_event_indexes.sql"]);
    expect(result.report).toBe("{}");
    expect(result.absent).toContain("/out/absent: no such file or directory");
  });

  it("the secret canary catches a secret that leaves the query creating it", async () => {
    session = await recordingSession();
    const value = canarySecret("leak");
    await session.run(async () => {
      const secret = dag.setSecret("token", value);
      await dag.container().from("alpine:3.20.3").withSecretVariable("OK", secret).withExec(["true"]).sync();
      expect(session.secretLeaks()).toEqual([]);
      await dag.container().from("alpine:3.20.3").withEnvVariable("LEAK", value).withExec(["true"]).sync();
    });
    expect(session.secretLeaks()).toHaveLength(1);
    expect(session.secretLeaks()[0]).toContain("secret token in query");
    expect(session.secretLeaks(["an error message"])).toHaveLength(1);
    expect(session.secretLeaks([`error: ${value}`])).toHaveLength(2);
    // this session leaked on purpose: keep it away from the per-test canary
    takeStartedSessions();
  });

  it("counts queries in flight at once", async () => {
    session = await recordingSession({ exec: () => ({ delayMs: 100 }) });
    await session.run(() =>
      Promise.all(["a", "b", "c"].map((w) => dag.container().from("alpine:3.20.3").withExec(["echo", w]).sync())),
    );
    expect(session.maxConcurrentExecQueries).toBe(3);
  });
});
