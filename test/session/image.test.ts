import { describe, expect, it } from "vitest";
import { readdirSync } from "node:fs";
import { dag } from "@dagger.io/dagger";
import { IMAGES } from "../../.dagger/src/versions";
import * as image from "../../.dagger/src/image";
import { loadPipeline } from "../../.dagger/src/pipeline";
import { canarySecret, describeChain, isRef, type ExecView, type Script, type Step } from "../support/recording-session";
import { failureOf, GOOD, healthyScript, sourceWithConfig, startPerTest, type ModuleRun } from "../support/module";
import { CYCLONEDX_IMAGE, HEALTHY_LAYOUT, ociLayout, SPDX_IMAGE, TRIVY_IMAGE_CLEAN } from "../support/image-reports";
import { isScanExec, toolArgs, withScanWrapper } from "../support/scan-wrapper";
import { SCANNER_CRASH_EXIT_CODE } from "../../.dagger/src/lib/scanner-exit";
import { validDates } from "../support/allowlist-dates";
import { SbomFormat } from "../../.dagger/src/lib/sbom";
import { reportFixture, TRIVY_IMAGE_FINDINGS } from "../support/security-reports";

const SPDX_RUST = reportFixture("syft/spdx23-real-syft-0.83.0-rust-dir.json");
const TRIVY_NO_RESULTS = TRIVY_IMAGE_CLEAN;
/** The genuine alpine 3.10 scan with its four MEDIUM findings raised to HIGH/CRITICAL, as a CRITICAL,HIGH scan reports them. */
const TRIVY_BLOCKING = (() => {
  const doc = JSON.parse(TRIVY_IMAGE_FINDINGS);
  const vulns = doc.Results[0].Vulnerabilities as { Severity: string }[];
  vulns[0]!.Severity = "CRITICAL";
  for (const vuln of vulns.slice(1)) vuln.Severity = "HIGH";
  return JSON.stringify(doc);
})();
const SARIF = reportFixture("trivy/image-alpine310.sarif");
const CYCLONEDX = CYCLONEDX_IMAGE;

const SHA = "0123456789abcdef0123456789abcdef01234567";
const DIGEST = `sha256:${"d".repeat(64)}`;

// ------------------------------------------------------------------ scripted image-stage outputs

interface ImageScript {
  layout?: Map<string, string>;
  trivy?: { exitCode?: number; report?: string; stderr?: string };
  syft?: string;
  cosign?: { exitCode?: number; stderr?: string };
  crane?: { exitCode?: number; stdout?: string; stderr?: string };
}

/** Answers the image stage's execs and files: a 123 MB image, a clean Trivy scan, a genuine Syft SBOM. */
function imageScript(s: ImageScript = {}): Script {
  const layout = s.layout ?? HEALTHY_LAYOUT;
  const trivy = { exitCode: 0, report: TRIVY_NO_RESULTS, ...s.trivy };
  // Trivy runs under the module's wrapper: this answers for Trivy, the wrapper really runs on it
  return withScanWrapper({
    exec: (e: ExecView) => {
      if (e.args[0] === "trivy" && e.args[1] === "image") return { exitCode: trivy.exitCode, stderr: trivy.stderr ?? "" };
      if (e.args[0] === "sh" && e.args.includes("cosign-sign")) return s.cosign ?? {};
      if (e.args.includes("image-exists")) return s.crane ?? { stdout: `${DIGEST}\n` };
      return undefined;
    },
    file: (path) => {
      if (path.startsWith("/layout/")) return layout.get(path.slice("/layout/".length));
      if (path === image.TRIVY_IMAGE_REPORT) return trivy.report;
      if (path === image.TRIVY_IMAGE_SARIF) return SARIF;
      if (path === "/sbom/sbom.spdx.json") return s.syft ?? SPDX_IMAGE;
      if (path === "/sbom/sbom.cdx.json") return s.syft ?? CYCLONEDX;
      return undefined;
    },
  });
}

// ------------------------------------------------------------------ helpers

const startRun = startPerTest();

function start(script: Script = imageScript(), source = GOOD): Promise<ModuleRun> {
  return startRun(script, source);
}


/** Every dockerBuild step the module sent, deduplicated. */
function dockerBuilds(r: ModuleRun): Record<string, unknown>[] {
  const seen = new Map<string, Record<string, unknown>>();
  const visit = (chain: Step[]) => {
    for (const step of chain) {
      if (step.field === "dockerBuild") seen.set(JSON.stringify(step.args), step.args);
      for (const value of Object.values(step.args)) walk(value);
    }
  };
  const walk = (value: unknown): void => {
    if (isRef(value)) visit(value.$ref);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === "object") Object.values(value).forEach(walk);
  };
  for (const q of r.session.queries) visit(q.chain);
  return [...seen.values()];
}

function publishQueries(r: ModuleRun) {
  return r.session.queries.filter((q) => q.leaf === "publish");
}

/** The image stage's GateReport (the `ci` summary figure), called directly. */
function gateOf(r: ModuleRun, gate: "imageSize" | "trivyImage", source = GOOD) {
  return r.session.run(async () => image[gate](await loadPipeline(dag.host().directory(source))));
}

// ------------------------------------------------------------------ build

describe("build", () => {
  it("builds the configured Dockerfile from the repository root for linux/amd64 by default", async () => {
    const r = await start();
    await r.call(async (ci) => (await ci.build()).sync());
    expect(dockerBuilds(r)).toEqual([{ dockerfile: "services/analytics-api/Dockerfile", platform: "linux/amd64" }]);
    const chain = r.session.queries.find((q) => q.leaf === "sync")!.chain;
    expect(describeChain(chain)).toMatch(new RegExp(`^host\\.directory\\(path: "${GOOD}"\\)\\.dockerBuild\\(`));
    expect(r.session.execs).toEqual([]);
  });

  it("passes build args and target from the config and builds each requested platform as a variant", async () => {
    const dir = sourceWithConfig({ image: { buildArgs: { RUST_PROFILE: "release", GIT_SHA: "abc" }, target: "runtime" } });
    const r = await start(imageScript(), dir);
    const variants = await r.call(async (ci) => {
      const list = await ci.buildPlatforms(["linux/amd64", "linux/arm64"]);
      await Promise.all(list.map((c) => c.sync()));
      return list.length;
    });
    expect(variants).toBe(2);
    const builds = dockerBuilds(r);
    expect(builds.map((b) => b.platform).sort()).toEqual(["linux/amd64", "linux/arm64"]);
    for (const b of builds) {
      expect(b.dockerfile).toBe("services/analytics-api/Dockerfile");
      expect(b.target).toBe("runtime");
      expect(b.buildArgs).toEqual([
        { name: "RUST_PROFILE", value: "release" },
        { name: "GIT_SHA", value: "abc" },
      ]);
    }
  });

  it("a missing Dockerfile is a clear error before any build", async () => {
    const dir = sourceWithConfig({ image: { dockerfile: "docker/api.Dockerfile" } });
    const r = await start(imageScript(), dir);
    const err = await failureOf(r.call((ci) => ci.imageSize()));
    expect(err.message).toContain('Dockerfile "docker/api.Dockerfile" not found in the source directory');
    expect(err.message).toContain("config field image.dockerfile, from ci/pipeline.json");
    expect(dockerBuilds(r)).toEqual([]);
    expect(r.session.execs).toEqual([]);
  });

  it("builds from a sub-directory context, bringing a Dockerfile from outside it", async () => {
    const dir = sourceWithConfig({ image: { context: "services/analytics-api", dockerfile: "services/analytics-api/Dockerfile" } });
    const r = await start(imageScript(), dir);
    await r.call(async (ci) => (await ci.build()).sync());
    expect(dockerBuilds(r)).toEqual([{ dockerfile: "Dockerfile", platform: "linux/amd64" }]);

    const outside = sourceWithConfig({ image: { context: "crates", dockerfile: "services/analytics-api/Dockerfile" } });
    const o = await start(imageScript(), outside);
    await o.call(async (ci) => (await ci.build()).sync());
    const chain = describeChain(o.session.queries.find((q) => q.leaf === "sync")!.chain);
    expect(chain).toContain('directory(path: "crates").withFile(path: ".observatory-ci.Dockerfile"');
    expect(dockerBuilds(o)).toEqual([{ dockerfile: ".observatory-ci.Dockerfile", platform: "linux/amd64" }]);

    const missing = await start(imageScript(), sourceWithConfig({ image: { context: "docker" } }));
    expect((await failureOf(missing.call((ci) => ci.build()))).message).toContain('build context "docker" not found in the source directory (config field image.context');
  });

  it("rejects an invalid or repeated platform before any build", async () => {
    const r = await start();
    expect((await failureOf(r.call((ci) => ci.build("amd64")))).message).toContain('build --platform: is not a platform (found "amd64"; expected os/arch[/variant]');
    expect((await failureOf(r.call((ci) => ci.buildPlatforms(["linux/amd64", "linux/amd64"])))).message).toContain("buildPlatforms --platforms: lists linux/amd64 twice (expected each platform once)");
    expect(dockerBuilds(r)).toEqual([]);
    expect(r.session.execs).toEqual([]);
  });

  it("imageTarball exports every platform as one multi-platform tarball", async () => {
    const r = await start(imageScript(), sourceWithConfig({ image: { platforms: ["linux/amd64", "linux/arm64"] } }));
    await r.call(async (ci) => (await ci.imageTarball()).id());
    const q = r.session.queries.find((x) => x.chain.some((s) => s.field === "asTarball"))!;
    const tarball = q.chain.find((s) => s.field === "asTarball")!;
    expect((tarball.args.platformVariants as unknown[]).length).toBe(2);
  });
});

// ------------------------------------------------------------------ size gate

describe("imageSize", () => {
  it("measures the uncompressed OCI layout in the pinned alpine image and passes a 123 MB image", async () => {
    const r = await start();
    await r.call((ci) => ci.imageSize());
    const e = r.session.exec("tar", "-xf");
    expect(e.image).toBe(IMAGES.alpine);
    expect(e.args.slice(0, 2)).toEqual(["sh", "-euc"]);
    expect(e.mounts["/image.tar"]).toContain("dockerBuild(");
    expect(e.mounts["/image.tar"]).toContain('asTarball(forcedCompression: "Uncompressed")');
    const { figure } = await gateOf(r, "imageSize");
    expect(figure).toBe("linux/amd64 123.0 MB (limit 500 MB)");
  });

  it("a scripted oversize image fails the size gate with both numbers", async () => {
    const r = await start(imageScript({ layout: ociLayout([{ platform: "linux/amd64", layers: [600_000_000, 12_344_178] }]) }));
    const err = await failureOf(r.call((ci) => ci.imageSize()));
    expect(err.message).toBe(
      "imageSize: image too large: linux/amd64 is 612.3 MB (612,345,678 bytes), not under the 500 MB limit (image.maxSizeMb)",
    );
    const gate = await failureOf(gateOf(r, "imageSize"));
    expect((gate as Error & { figure?: string }).figure).toBe("linux/amd64 612.3 MB (limit 500 MB)");
  });

  it("reports the size per platform and uses the configured limit", async () => {
    const dir = sourceWithConfig({ image: { platforms: ["linux/amd64", "linux/arm64"], maxSizeMb: 100 } });
    const layout = ociLayout([
      { platform: "linux/amd64", layers: [90_000_000] },
      { platform: "linux/arm64", layers: [150_000_000] },
    ]);
    const r = await start(imageScript({ layout }), dir);
    const err = await failureOf(r.call((ci) => ci.imageSize()));
    expect(err.message).toContain("linux/arm64 is 150.0 MB (150,001,500 bytes), not under the 100 MB limit");
    expect(err.message).not.toContain("linux/amd64 is");
    const gate = (await failureOf(gateOf(r, "imageSize", dir))) as Error & { figure?: string };
    expect(gate.figure).toBe("linux/amd64 90.0 MB (limit 100 MB); linux/arm64 150.0 MB (limit 100 MB)");
    const tarball = r.session.exec("tar", "-xf").chain.find((s) => s.field === "withMountedFile")!;
    expect(describeChain([tarball])).toContain("platformVariants");
  });

  it("a failed measuring exec fails the gate, never passes it", async () => {
    const script = imageScript();
    const healthy = script.exec!;
    const r = await start({ ...script, exec: (e) => (e.args[0] === "sh" && e.args[2]?.includes("tar -xf") ? { exitCode: 1, stderr: "tar: short read" } : healthy(e)) });
    const err = await failureOf(r.call((ci) => ci.imageSize()));
    expect(err.message).toMatch(/^imageSize: could not measure the image, refusing to pass it: /);
    expect(r.session.queries.some((q) => q.error?.includes("exit code: 1"))).toBe(true);
  });

  it("fails closed when the layout cannot be read", async () => {
    const r = await start(imageScript({ layout: new Map() }));
    const err = await failureOf(r.call((ci) => ci.imageSize()));
    expect(err.message).toMatch(/^imageSize: could not measure the image, refusing to pass it: OCI layout: cannot read index.json/);
  });
});

// ------------------------------------------------------------------ trivy gate

describe("trivyImage", () => {
  it("scans the image tarball with the pinned Trivy, DB in a locked cache volume, CRITICAL/HIGH, findings exit 42", async () => {
    const r = await start();
    await r.call((ci) => ci.trivyImage());
    const e = r.session.exec("trivy", "image");
    expect(e.image).toBe(IMAGES.trivy);
    expect(toolArgs(e)).toEqual([
      "trivy", "image", "--input", "/image.tar", "--scanners", "vuln,secret", "--cache-dir", "/var/cache/trivy",
      "--severity", "CRITICAL,HIGH", "--exit-code", "42", "--format", "json", "--output", "/reports/trivy-image.json",
      "--timeout", "10m",
    ]);
    // under the wrapper with the default expect (SUCCESS), not ANY: a crash is a failed exec, never cached
    expect(isScanExec(e.args)).toBe(true);
    expect(e.opts.expect).toBeUndefined();
    // the same database volume as the filesystem scan: one download, scans take turns on its lock
    expect(e.caches["/var/cache/trivy"]).toBe("observatory-ci-untrusted-trivy-cache");
    expect(e.cacheSharing["/var/cache/trivy"]).toBe("LOCKED");
    expect(e.env).toMatchObject({ TRIVY_CACHE_DIR: "/var/cache/trivy", TRIVY_NO_PROGRESS: "true" });
    expect(e.env.OBSERVATORY_CI_SCAN_DAY).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    // the built image's own tarball: no registry round trip
    expect(e.mounts["/image.tar"]).toMatch(/dockerBuild\(dockerfile: "services\/analytics-api\/Dockerfile", platform: "linux\/amd64"\)\.asTarball$/);
    expect((await gateOf(r, "trivyImage")).figure).toBe("0 critical, 0 high");
  });

  it("uses the configured DB mirror and severities", async () => {
    const dir = sourceWithConfig({
      security: { trivy: { dbRepository: "registry.example.com/mirror/trivy-db:2", javaDbRepository: "registry.example.com/mirror/trivy-java-db:1", severity: "CRITICAL", timeout: "20m" } },
    });
    const r = await start(imageScript(), dir);
    await r.call((ci) => ci.trivyImage());
    const e = r.session.exec("trivy", "image");
    expect(e.args).toEqual(expect.arrayContaining(["--db-repository", "registry.example.com/mirror/trivy-db:2", "--java-db-repository", "registry.example.com/mirror/trivy-java-db:1"]));
    expect(e.args[e.args.indexOf("--severity") + 1]).toBe("CRITICAL");
    expect(e.args[e.args.indexOf("--timeout") + 1]).toBe("20m");
  });

  it("fails on CRITICAL/HIGH findings, naming them, with the counts per severity as figure", async () => {
    const r = await start(imageScript({ trivy: { exitCode: 42, report: TRIVY_BLOCKING } }));
    const err = await failureOf(r.call((ci) => ci.trivyImage()));
    // findings are a result: the exec succeeded (cached), the gate failed
    expect(r.session.queries.filter((q) => q.error?.includes("exit code"))).toEqual([]);
    expect(err.message).toMatch(/^trivyImage: Trivy: \d+ findings in the image \(linux\/amd64\) that no allowlist entry accepts:/);
    expect(err.message).toContain("CVE-2019-1549");
    expect(err.message).toContain("libssl1.1@1.1.1c-r0");
    const gate = (await failureOf(gateOf(r, "trivyImage"))) as Error & { figure?: string };
    expect(gate.figure).toBe("1 critical, 3 high");
  });

  it("applies the same allowlist as the other scanners", async () => {
    const dir = sourceWithConfig({
      security: {
        allowlist: [
          { id: "CVE-2019-1549", reason: "not reachable", ...validDates(), tool: "trivy" },
          { id: "CVE-2019-1551", reason: "fixed upstream soon", ...validDates() },
        ],
      },
    });
    const r = await start(imageScript({ trivy: { exitCode: 42, report: TRIVY_BLOCKING } }), dir);
    await r.call((ci) => ci.trivyImage());
    expect((await gateOf(r, "trivyImage", dir)).figure).toBe("1 critical, 3 high (4 accepted)");
  });

  it("fails closed: a crash or a missing report fails the exec (not cached); a garbled report or findings without any fail the gate", async () => {
    const cases: [ImageScript["trivy"], RegExp, boolean][] = [
      [{ exitCode: 1, stderr: "FATAL init error: DB download failed", report: TRIVY_NO_RESULTS }, /^trivyImage: trivy crashed scanning the linux\/amd64 image \(exit 1: not a scan result\):\nFATAL init error/, true],
      [{ exitCode: 2, stderr: "panic: runtime error", report: TRIVY_NO_RESULTS }, /^trivyImage: trivy crashed scanning the linux\/amd64 image \(exit 2: not a scan result\):\npanic/, true],
      [{ exitCode: 0, stderr: "FATAL unable to open /image.tar", report: undefined }, /^trivyImage: trivy crashed scanning the linux\/amd64 image \(exit 0: no report \(\/reports\/trivy-image.json\)\):\nFATAL unable to open/, true],
      [{ exitCode: 0, report: '{"SchemaVersion": 2, "Results": [' }, /^trivyImage: the scanner's report cannot be trusted \(exit 0\): trivy report/, false],
      [{ exitCode: 42, report: TRIVY_NO_RESULTS, stderr: "WARN odd" }, /^trivyImage: trivy exited 42 \(findings\) scanning the linux\/amd64 image but its report has no finding: it failed:\nWARN odd/, false],
    ];
    for (const [trivy, expected, crashed] of cases) {
      const r = await start(imageScript({ trivy }));
      const err = await failureOf(r.call((ci) => ci.trivyImage()));
      expect(err.message).toMatch(expected);
      expect([String(expected), r.session.queries.some((q) => q.error?.includes(`exit code: ${SCANNER_CRASH_EXIT_CODE}`))]).toEqual([String(expected), crashed]);
    }
  });

  it("trivyImageSarif fails when the scan crashed (a failed exec, not cached)", async () => {
    const r = await start(imageScript({ trivy: { exitCode: 1, stderr: "FATAL init error: DB download failed" } }));
    const err = await failureOf(r.call(async (ci) => (await ci.trivyImageSarif()).contents()));
    expect(err.message).toContain(`exit code: ${SCANNER_CRASH_EXIT_CODE}`);
    expect(r.session.execsMatching("trivy", "convert")).toEqual([]);
  });

  it("trivyImageSarif converts the JSON report to SARIF for securityReports", async () => {
    const r = await start(imageScript({ trivy: { exitCode: 42, report: TRIVY_BLOCKING } }));
    const sarif = await r.call(async (ci) => (await ci.trivyImageSarif()).contents());
    // trivy convert's report, each run in the image scan's own code scanning category
    const expected = JSON.parse(SARIF) as { runs: Record<string, unknown>[] };
    expected.runs = expected.runs.map((run) => ({ ...run, automationDetails: { id: "observatory-ci/trivy-image/" } }));
    expect(JSON.parse(sarif)).toEqual(expected);
    const e = r.session.exec("trivy", "convert");
    expect(e.args).toEqual(["trivy", "convert", "--format", "sarif", "--output", "/reports/trivy-image.sarif", "/reports/trivy-image.json"]);
    expect(e.image).toBe(IMAGES.trivy);
  });

  it("ci runs imageSize and trivyImage, with the size per platform and the Trivy counts per severity as figures", async () => {
    const r = await start(healthyScript());
    // the table is the result, or the head of the error when another stage's gate fails
    const table = await r.call((ci) => ci.ci()).catch((e: Error) => e.message);
    expect(table).toMatch(/\| imageSize \| ✅ pass \| [^|]+ \| linux\/amd64 123\.0 MB \(limit 500 MB\) \|/);
    expect(table).toMatch(/\| trivyImage \| ✅ pass \| [^|]+ \| 0 critical, 0 high \|/);
  });
});

// ------------------------------------------------------------------ SBOM

describe("sbom", () => {
  it("runs the pinned Syft on the image tarball and returns the checked SPDX JSON", async () => {
    const r = await start(imageScript({ syft: SPDX_RUST }));
    const text = await r.call(async (ci) => (await ci.sbom()).contents());
    expect(text).toBe(SPDX_RUST);
    const e = r.session.exec("/syft", "scan");
    expect(e.image).toBe(IMAGES.syft);
    expect(e.args).toEqual(["/syft", "scan", "oci-archive:/image.tar", "--source-name", "analytics-api", "--output", "spdx-json=/sbom/sbom.spdx.json"]);
    expect(e.env.SYFT_CHECK_FOR_APP_UPDATE).toBe("false");
    expect(e.mounts["/image.tar"]).toContain("dockerBuild(");
  });

  it("accepts every genuine Syft SPDX sample", async () => {
    const names = readdirSync(new URL("../fixtures/reports/syft/", import.meta.url)).filter((n) => n.endsWith(".json"));
    expect(names.length).toBeGreaterThan(3);
    for (const name of names) {
      const text = reportFixture(`syft/${name}`);
      const r = await start(imageScript({ syft: text }));
      expect(await r.call(async (ci) => (await ci.sbom()).contents())).toBe(text);
    }
  });

  it("writes CycloneDX on request", async () => {
    const r = await start();
    expect(await r.call(async (ci) => (await ci.sbom(SbomFormat.CyclonedxJson)).contents())).toBe(CYCLONEDX);
    expect(r.session.exec("/syft", "scan").args.at(-1)).toBe("cyclonedx-json=/sbom/sbom.cdx.json");
  });

  it("refuses an empty or foreign document, and an unknown format before any container", async () => {
    const r = await start(imageScript({ syft: "" }));
    expect((await failureOf(r.call((ci) => ci.sbom()))).message).toContain("is empty");
    await r.session.stop();
    const wrong = await start(imageScript({ syft: SPDX_IMAGE }));
    expect((await failureOf(wrong.call((ci) => ci.sbom(SbomFormat.CyclonedxJson)))).message).toContain("is spdx-json, expected cyclonedx-json");
    await wrong.session.stop();
    const bad = await start();
    expect((await failureOf(bad.call((ci) => ci.sbom("spdx-tag-value" as SbomFormat)))).message).toContain('sbom --format: is not one of the choices (found "spdx-tag-value"; expected one of spdx-json, cyclonedx-json)');
    expect(bad.session.execs).toEqual([]);
  });
});

// ------------------------------------------------------------------ tags

describe("tags", () => {
  it("computes metadata-action tags from the arguments", async () => {
    const r = await start();
    expect(await r.call(async (ci) => ci.tags("refs/heads/main", "push", SHA))).toEqual(["main", "main-0123456"]);
    expect(await r.call(async (ci) => ci.tags("refs/tags/v1.2.3", "push", SHA))).toEqual(["1.2.3", "1.2", "latest"]);
    expect(await r.call(async (ci) => ci.tags("refs/heads/main", "pull_request_target", SHA, 42))).toEqual(["pr-42"]);
    const err = await failureOf(r.call(async (ci) => ci.tags("main", "push", SHA)));
    expect(err.message).toContain('tags --ref: is not a git ref: it does not start with refs/ (found "main"');
    expect(r.session.queries.filter((q) => q.leaf !== "version")).toEqual([]);
  });
});

// ------------------------------------------------------------------ publish

describe("publish", () => {
  it("pushes one reference per tag with registry auth from a secret, and returns them with the digest", async () => {
    const password = canarySecret("ghcr");
    const r = await start();
    const out = await r.call((ci) =>
      ci.publish("octocat", dag.setSecret("ghcr-token", password), "refs/tags/v1.2.3", "push", SHA, undefined, "Acme/Observatory"),
    );
    const repo = "ghcr.io/acme/observatory/analytics-api";
    const pushes = publishQueries(r);
    expect(pushes.map((q) => q.chain.at(-1)!.args.address)).toEqual([`${repo}:1.2.3`, `${repo}:1.2`, `${repo}:latest`]);
    for (const q of pushes) {
      const auth = q.chain.find((s) => s.field === "withRegistryAuth")!;
      expect(auth.args.address).toBe("ghcr.io");
      expect(auth.args.username).toBe("octocat");
      expect(describeChain([auth])).toContain('secret: secret("ghcr-token")');
      const variants = q.chain.at(-1)!.args.platformVariants as unknown[];
      expect(variants).toHaveLength(1);
      const variant = describeChain([{ field: "v", args: { variants } }]);
      expect(variant).toContain('platform: "linux/amd64"');
      expect(variant).toContain(`withLabel(name: "org.opencontainers.image.revision", value: "${SHA}")`);
      expect(variant).toContain('withLabel(name: "org.opencontainers.image.version", value: "1.2.3")');
      expect(variant).toContain('value: "https://github.com/Acme/Observatory"');
    }
    const lines = out.split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^${repo}:1\\.2\\.3@sha256:[0-9a-f]{64}$`));
    expect(lines[2]).toMatch(new RegExp(`^${repo}:latest@sha256:[0-9a-f]{64}$`));
    // the gates ran before the push
    expect(r.session.execsMatching("trivy", "image")).toHaveLength(1);
    expect(r.session.execsMatching("tar", "-xf")).toHaveLength(1);
    expect(r.session.secretLeaks([out])).toEqual([]);
  });

  it("pushes every configured platform as one multi-platform image to the configured repository", async () => {
    const dir = sourceWithConfig({ image: { platforms: ["linux/amd64", "linux/arm64"], registry: "registry.example.com:5000", repository: "team/analytics-api" } });
    const layout = ociLayout([
      { platform: "linux/amd64", layers: [90_000_000] },
      { platform: "linux/arm64", layers: [95_000_000] },
    ]);
    const r = await start(imageScript({ layout }), dir);
    const out = await r.call((ci) => ci.publish("bot", dag.setSecret("pw", canarySecret("pw")), "refs/heads/feature/x", "push", SHA));
    const pushes = publishQueries(r);
    expect(pushes.map((q) => q.chain.at(-1)!.args.address)).toEqual([
      "registry.example.com:5000/team/analytics-api:feature-x",
      "registry.example.com:5000/team/analytics-api:feature-x-0123456",
    ]);
    expect(pushes[0]!.chain.find((s) => s.field === "withRegistryAuth")!.args.address).toBe("registry.example.com:5000");
    expect((pushes[0]!.chain.at(-1)!.args.platformVariants as unknown[]).length).toBe(2);
    expect(out.split("\n")).toHaveLength(2);
    expect(r.session.execsMatching("trivy", "image")).toHaveLength(2);
    expect(r.session.secretLeaks([out])).toEqual([]);
  });

  it("refuses to publish when an image gate failed, and pushes nothing", async () => {
    const r = await start(imageScript({ trivy: { exitCode: 42, report: TRIVY_BLOCKING }, layout: ociLayout([{ platform: "linux/amd64", layers: [700_000_000] }]) }));
    const err = await failureOf(r.call((ci) => ci.publish("u", dag.setSecret("pw", canarySecret("pw")), "refs/heads/main", "push", SHA, undefined, "acme/obs")));
    expect(err.message).toMatch(/^publish refused: 2 image gate\(s\) failed, nothing was pushed\./);
    expect(err.message).toContain("### imageSize");
    expect(err.message).toContain("### trivyImage");
    expect(err.message).toContain("CVE-2019-1549");
    expect(publishQueries(r)).toEqual([]);
    expect(r.session.secretLeaks([err.message])).toEqual([]);
  });

  it("validates ref, sha, repository and registry before any container", async () => {
    const r = await start();
    const pw = () => dag.setSecret("pw", canarySecret("pw"));
    const cases: [Parameters<typeof r.call>[0], string][] = [
      [(ci) => ci.publish("u", pw(), "main", "push", SHA, undefined, "acme/obs"), 'publish --ref: is not a git ref: it does not start with refs/ (found "main"'],
      [(ci) => ci.publish("u", pw(), "refs/heads/main", "push", "xyz", undefined, "acme/obs"), 'publish --commit: is not a full commit SHA (found "xyz"'],
      [(ci) => ci.publish("u", pw(), "refs/heads/main", "push", SHA), "publish --github-repository: is required when neither --image-repository nor image.repository"],
      [(ci) => ci.publish("u", pw(), "refs/heads/main", "push", SHA, undefined, "acme"), 'publish --github-repository: is not a GitHub repository (found "acme"'],
      [(ci) => ci.publish("u", pw(), "refs/heads/main", "push", SHA, undefined, undefined, "ghcr.io", "Acme/App"), "repository names must be lowercase"],
      [(ci) => ci.publish("u", pw(), "refs/heads/main", "push", SHA, undefined, "acme/obs", "not a host"), 'publish --registry: is not a registry host (found "not a host"'],
      [(ci) => ci.publish("u", pw(), "refs/tags/release-candidate", "push", SHA, undefined, "acme/obs"), "yields no image tag to push"],
      [(ci) => ci.publish("u", pw(), "refs/heads/main", "push", SHA, undefined, "acme/obs", undefined, undefined, ["linux"]), 'publish --platforms: is not a platform (item 1) (found "linux"'],
      [(ci) => ci.publish("", pw(), "refs/heads/main", "push", SHA, undefined, "acme/obs"), 'publish --registry-username: is not a valid registry user name (found ""'],
    ];
    for (const [fn, message] of cases) expect((await failureOf(r.call(fn))).message).toContain(message);
    expect(r.session.execs).toEqual([]);
    expect(dockerBuilds(r)).toEqual([]);
    expect(publishQueries(r)).toEqual([]);
  });
});

// ------------------------------------------------------------------ sign

describe("sign", () => {
  const ref = `ghcr.io/acme/observatory/analytics-api@${DIGEST}`;

  it("signs keyless with the OIDC token as SIGSTORE_ID_TOKEN and attests the SPDX SBOM, no secret on the command line", async () => {
    const token = canarySecret("oidc");
    const password = canarySecret("ghcr");
    const r = await start();
    const out = await r.call((ci) => ci.sign(ref, "octocat", dag.setSecret("ghcr-token", password), dag.setSecret("oidc-token", token)));
    const e = r.session.exec("cosign-sign");
    expect(e.image).toBe(IMAGES.alpine);
    expect(e.mounts["/usr/local/bin/cosign"]).toContain(`from(address: "${IMAGES.cosign}").file(path: "/ko-app/cosign")`);
    expect(e.args.slice(0, 2)).toEqual(["sh", "-euc"]);
    expect(e.args.slice(3)).toEqual(["cosign-sign", ref]);
    const script = e.args[2]!;
    expect(script).toContain('cosign sign --yes "$1"');
    expect(script).toContain('cosign attest --yes --type spdxjson --predicate /attest/sbom.spdx.json "$1"');
    expect(script).not.toMatch(/--oidc-token|--identity-token|--registry-password|set -x/);
    expect(e.secretEnv).toEqual({ SIGSTORE_ID_TOKEN: "oidc-token", REGISTRY_PASSWORD: "ghcr-token" });
    expect(e.env).toMatchObject({ DOCKER_CONFIG: "/run/observatory-ci/docker", REGISTRY_KEY: "ghcr.io", REGISTRY_USERNAME: "octocat" });
    expect(e.env.OBSERVATORY_CI_RUN).toBeTruthy();
    expect(e.mounts["/attest/sbom.spdx.json"]).toContain("/syft");
    expect(r.session.exec("/syft", "scan").image).toBe(IMAGES.syft);
    expect(out).toBe(`signed ${ref} (keyless) and attested its SBOM (spdxjson, SPDX-2.3, 2 packages (Tool: syft-v0.42.0-bogus))`);
    for (const arg of e.args) expect(arg).not.toMatch(/CANARY/);
    expect(r.session.secretLeaks([out])).toEqual([]);
  });

  it("attests the SBOM Syft reads from the registry at the signed digest, never a rebuilt image", async () => {
    const r = await start();
    await r.call((ci) => ci.sign(`ghcr.io/acme/observatory/analytics-api:1.2.3@${DIGEST}`, "octocat", dag.setSecret("ghcr-token", canarySecret("ghcr")), dag.setSecret("oidc", canarySecret("oidc"))));
    const syft = r.session.exec("/syft", "scan");
    expect(syft.image).toBe(IMAGES.syft);
    expect(syft.args).toEqual(["/syft", "scan", `registry:${ref}`, "--source-name", "analytics-api", "--output", "spdx-json=/sbom/sbom.spdx.json"]);
    // registry credentials: the password only as a secret variable (Syft's own SYFT_REGISTRY_AUTH_* settings)
    expect(syft.env).toMatchObject({ SYFT_REGISTRY_AUTH_AUTHORITY: "ghcr.io", SYFT_REGISTRY_AUTH_USERNAME: "octocat" });
    expect(syft.secretEnv).toEqual({ SYFT_REGISTRY_AUTH_PASSWORD: "ghcr-token" });
    expect(syft.mounts["/image.tar"]).toBeUndefined();
    // nothing was built: the SBOM cannot describe anything but the pushed bytes
    expect(dockerBuilds(r)).toEqual([]);
    expect(r.session.exec("cosign-sign").mounts["/attest/sbom.spdx.json"]).toContain(`registry:${ref}`);
    expect(r.session.secretLeaks()).toEqual([]);
  });

  it("signs keyless on GitHub Actions with the runner's request URL/token, so cosign fetches a fresh token when it signs", async () => {
    const r = await start();
    const out = await r.call((ci) =>
      ci.sign(
        ref, "octocat", dag.setSecret("ghcr-token", canarySecret("ghcr")), undefined, undefined, undefined, undefined,
        dag.setSecret("oidc-url", canarySecret("url")), dag.setSecret("oidc-request", canarySecret("req")),
      ),
    );
    const e = r.session.exec("cosign-sign");
    // no SIGSTORE_ID_TOKEN: a token fetched before the build would be expired (5-minute lifetime) by now
    expect(e.secretEnv).toEqual({ ACTIONS_ID_TOKEN_REQUEST_URL: "oidc-url", ACTIONS_ID_TOKEN_REQUEST_TOKEN: "oidc-request", REGISTRY_PASSWORD: "ghcr-token" });
    expect(e.args[2]).toContain('cosign sign --yes "$1"');
    expect(e.args[2]).not.toMatch(/--identity-token|ACTIONS_ID_TOKEN/);
    for (const arg of e.args) expect(arg).not.toMatch(/CANARY/);
    expect(out).toContain(`signed ${ref} (keyless)`);
    expect(r.session.secretLeaks([out])).toEqual([]);
  });

  it("signs with a key mounted as a secret file and its password as COSIGN_PASSWORD", async () => {
    const r = await start();
    const out = await r.call((ci) =>
      ci.sign(ref, undefined, undefined, undefined, dag.setSecret("cosign-key", canarySecret("key")), dag.setSecret("cosign-pw", canarySecret("kpw")), SbomFormat.CyclonedxJson),
    );
    expect(out).toBe(`signed ${ref} (key) and attested its SBOM (cyclonedx, CycloneDX 1.5, 1 package (Tool: syft-1.16.0))`);
    const e = r.session.exec("cosign-sign");
    expect(e.secretFiles["/run/secrets/cosign.key"]).toBe("cosign-key");
    expect(e.secretEnv).toEqual({ COSIGN_PASSWORD: "cosign-pw" });
    expect(e.args[2]).toContain('cosign sign --yes --key /run/secrets/cosign.key "$1"');
    expect(e.args[2]).toContain("--type cyclonedx --predicate /attest/sbom.cdx.json");
    expect(r.session.secretLeaks()).toEqual([]);
  });

  it("accepts a line of publish's output, signing the digest without the tag", async () => {
    const r = await start();
    await r.call((ci) => ci.sign(`ghcr.io/acme/observatory/analytics-api:1.2.3@${DIGEST}`, undefined, undefined, dag.setSecret("t", canarySecret("t"))));
    expect(r.session.exec("cosign-sign").args.at(-1)).toBe(ref);
  });

  it("reports a cosign failure without the secrets", async () => {
    const token = canarySecret("oidc");
    const r = await start(imageScript({ cosign: { exitCode: 1, stderr: "Error: signing: getting signer: expired token" } }));
    const err = await failureOf(r.call((ci) => ci.sign(ref, undefined, undefined, dag.setSecret("oidc", token))));
    expect(err.message).toContain(`sign: cosign failed for ${ref} (exit 1):\nError: signing: getting signer: expired token`);
    expect(r.session.secretLeaks([err.message])).toEqual([]);
  });

  it("refuses a tag reference, missing credentials and half registry auth before any container", async () => {
    const r = await start();
    const s = (name: string) => dag.setSecret(name, canarySecret(name));
    const cases: [Parameters<typeof r.call>[0], string][] = [
      [(ci) => ci.sign("ghcr.io/acme/observatory/analytics-api:1.2.3", undefined, undefined, s("t")), "is not a digest reference"],
      [(ci) => ci.sign("ghcr.io/acme/app@sha256:abc", undefined, undefined, s("t")), "is not sha256: followed by 64 lowercase hex"],
      [(ci) => ci.sign(ref), "sign --oidc-token: is missing: sign signs with --oidc-token"],
      [(ci) => ci.sign(ref, "octocat", undefined, s("t")), "sign --registry-password: is missing: --registry-username needs it"],
      [(ci) => ci.sign(ref, undefined, undefined, s("t"), undefined, s("kp")), "sign --key-password: needs --key"],
      [(ci) => ci.sign(ref, undefined, undefined, undefined, undefined, undefined, undefined, s("u")), "sign --oidc-request-token: is missing: --oidc-request-url needs it"],
      [(ci) => ci.sign(ref, undefined, undefined, undefined, undefined, undefined, undefined, undefined, s("rt")), "sign --oidc-request-url: is missing: --oidc-request-token needs it"],
      [(ci) => ci.sign(ref, undefined, undefined, s("t"), undefined, undefined, undefined, s("u"), s("rt")), "sign --oidc-request-url: conflicts with --oidc-token"],
      [(ci) => ci.sign(ref, undefined, undefined, undefined, s("k"), undefined, undefined, s("u"), s("rt")), "sign --oidc-request-url: conflicts with --key"],
    ];
    for (const [fn, message] of cases) expect((await failureOf(r.call(fn))).message).toContain(message);
    expect(r.session.execs).toEqual([]);
    expect(dockerBuilds(r)).toEqual([]);
  });

  it("with image.sign.keyless false, a key is required", async () => {
    const r = await start(imageScript(), sourceWithConfig({ image: { sign: { keyless: false } } }));
    const err = await failureOf(r.call((ci) => ci.sign(ref, undefined, undefined, dag.setSecret("t", "x"))));
    expect(err.message).toContain("sign --key: is required: image.sign.keyless is false");
    expect(r.session.execs).toEqual([]);
  });
});

// ------------------------------------------------------------------ releaseImage

describe("releaseImage", () => {
  it("publishes, then signs the first pushed digest and returns references, signature and SBOM", async () => {
    const password = canarySecret("ghcr");
    const token = canarySecret("oidc");
    const r = await start();
    const files = await r.call(async (ci) => {
      const dir = await ci.releaseImage("octocat", dag.setSecret("ghcr-token", password), "refs/heads/main", "push", SHA, "acme/obs", dag.setSecret("oidc", token));
      return {
        references: await dir.file("references.txt").contents(),
        signature: await dir.file("signature.txt").contents(),
        sbom: await dir.file("sbom.spdx.json").contents(),
      };
    });
    const repo = "ghcr.io/acme/obs/analytics-api";
    expect(publishQueries(r).map((q) => q.chain.at(-1)!.args.address)).toEqual([`${repo}:main`, `${repo}:main-0123456`]);
    const refs = files.references.trim().split("\n");
    expect(refs).toHaveLength(2);
    const digest = refs[0]!.slice(refs[0]!.indexOf("@"));
    const e = r.session.exec("cosign-sign");
    expect(e.args.at(-1)).toBe(`${repo}${digest}`);
    expect(e.secretEnv.SIGSTORE_ID_TOKEN).toBe("oidc");
    expect(files.signature).toContain(`signed ${repo}${digest} (keyless)`);
    expect(JSON.parse(files.sbom).spdxVersion).toBe("SPDX-2.3");
    // the attested SBOM is Syft's reading of the digest the registry answered for the push, and the
    // artifact's SBOM is that same file, not a second scan of a rebuild
    const syft = r.session.execsMatching("/syft", "scan");
    expect(syft.map((x) => x.args[2])).toEqual([`registry:${repo}${digest}`]);
    expect(syft[0]!.secretEnv).toEqual({ SYFT_REGISTRY_AUTH_PASSWORD: "ghcr-token" });
    const sbomReads = r.session.queries.filter((q) => q.leaf === "contents" && JSON.stringify(q.chain).includes("/sbom/sbom.spdx.json"));
    expect(sbomReads.length).toBeGreaterThan(0);
    for (const q of sbomReads) expect(JSON.stringify(q.chain)).toContain(`registry:${repo}${digest}`);
    expect(r.session.secretLeaks([files.references, files.signature])).toEqual([]);
  });

  it("a multi-platform push: Syft reads the platform the single-image SBOM describes from the pushed index", async () => {
    const layout = ociLayout([
      { platform: "linux/amd64", layers: [90_000_000] },
      { platform: "linux/arm64", layers: [90_000_000] },
    ]);
    const r = await start(imageScript({ layout }), sourceWithConfig({ image: { platforms: ["linux/amd64", "linux/arm64"] } }));
    await r.call((ci) => ci.releaseImage("octocat", dag.setSecret("ghcr-token", canarySecret("ghcr")), "refs/heads/main", "push", SHA, "acme/obs", dag.setSecret("oidc", canarySecret("oidc"))));
    const syft = r.session.exec("/syft", "scan");
    expect(syft.args.slice(2, 5)).toEqual([expect.stringMatching(/^registry:ghcr\.io\/acme\/obs\/analytics-api@sha256:[0-9a-f]{64}$/), "--platform", "linux/amd64"]);
  });

  it("refuses before pushing when it could not sign", async () => {
    const r = await start();
    const err = await failureOf(r.call((ci) => ci.releaseImage("u", dag.setSecret("pw", "x"), "refs/heads/main", "push", SHA, "acme/obs")));
    expect(err.message).toContain("releaseImage --oidc-token: is missing: releaseImage signs with --oidc-token, or --oidc-request-url and --oidc-request-token (GitHub Actions), or --key");
    expect(r.session.execs).toEqual([]);
    expect(publishQueries(r)).toEqual([]);
  });

  it("signs with the GitHub Actions request credentials it was given, and refuses half of them before pushing", async () => {
    const r = await start();
    await r.call((ci) =>
      ci.releaseImage(
        "octocat", dag.setSecret("ghcr-token", canarySecret("ghcr")), "refs/heads/main", "push", SHA, "acme/obs",
        undefined, undefined, undefined, undefined, undefined, undefined, undefined,
        dag.setSecret("oidc-url", canarySecret("url")), dag.setSecret("oidc-request", canarySecret("req")),
      ),
    );
    const e = r.session.exec("cosign-sign");
    expect(e.secretEnv).toMatchObject({ ACTIONS_ID_TOKEN_REQUEST_URL: "oidc-url", ACTIONS_ID_TOKEN_REQUEST_TOKEN: "oidc-request" });
    expect(e.secretEnv.SIGSTORE_ID_TOKEN).toBeUndefined();
    expect(r.session.secretLeaks()).toEqual([]);

    const half = await start();
    const err = await failureOf(
      half.call((ci) =>
        ci.releaseImage("u", dag.setSecret("pw", "x"), "refs/heads/main", "push", SHA, "acme/obs",
          undefined, undefined, undefined, undefined, undefined, undefined, undefined, dag.setSecret("oidc-url", "y")),
      ),
    );
    expect(err.message).toContain("releaseImage --oidc-request-token: is missing: --oidc-request-url needs it");
    expect(publishQueries(half)).toEqual([]);
  });

  it("does not sign or push when a gate fails", async () => {
    const r = await start(imageScript({ trivy: { exitCode: 42, report: TRIVY_BLOCKING } }));
    const err = await failureOf(r.call((ci) => ci.releaseImage("u", dag.setSecret("pw", "x"), "refs/heads/main", "push", SHA, "acme/obs", dag.setSecret("t", "y"))));
    expect(err.message).toMatch(/^publish refused: 1 image gate\(s\) failed/);
    expect(publishQueries(r)).toEqual([]);
    expect(r.session.execsMatching("cosign-sign")).toEqual([]);
  });
});

// ------------------------------------------------------------------ imageExists

describe("imageExists", () => {
  const reference = "ghcr.io/acme/observatory/analytics-api:1.2.3";

  it("is true when crane finds a digest, with registry auth from a secret", async () => {
    const password = canarySecret("ghcr");
    const r = await start();
    expect(await r.call((ci) => ci.imageExists(reference, "octocat", dag.setSecret("ghcr-token", password)))).toBe(true);
    const e = r.session.exec("image-exists");
    expect(e.image).toBe(IMAGES.crane);
    // the shell is the debug variant's busybox: crane:<version> has none, and crane:debug-<version> is no published tag
    expect(IMAGES.crane).toMatch(/^gcr\.io\/go-containerregistry\/crane\/debug:v\d+\.\d+\.\d+$/);
    expect(e.args[0]).toBe("/busybox/sh");
    expect(e.args.slice(0, 2)).toEqual(["/busybox/sh", "-euc"]);
    expect(e.args.slice(3)).toEqual(["image-exists", reference]);
    expect(e.args[2]).toContain('exec crane digest "$1"');
    expect(e.secretEnv).toEqual({ REGISTRY_PASSWORD: "ghcr-token" });
    expect(e.opts.expect).toBe("ANY");
    expect(e.env.OBSERVATORY_CI_RUN).toBeTruthy();
    expect(r.session.secretLeaks()).toEqual([]);
  });

  it("is false for a missing manifest or repository, an error for anything else", async () => {
    const missing = await start(imageScript({ crane: { exitCode: 1, stderr: "Error: fetching manifest: GET https://ghcr.io/v2/acme/x/manifests/9: MANIFEST_UNKNOWN: manifest unknown" } }));
    expect(await missing.call((ci) => ci.imageExists(reference))).toBe(false);
    expect(missing.session.exec("image-exists").secretEnv).toEqual({});
    await missing.session.stop();

    const denied = await start(imageScript({ crane: { exitCode: 1, stderr: "Error: GET https://ghcr.io/token: UNAUTHORIZED: authentication required" } }));
    const err = await failureOf(denied.call((ci) => ci.imageExists(reference)));
    expect(err.message).toContain(`imageExists: cannot tell whether ${reference} exists; the registry answered: crane exit 1: GET https://ghcr.io/token: UNAUTHORIZED`);
  });

  it("decides from crane's final error: the HEAD's logged 404 before a GET answered 401 is no \"false\"", async () => {
    // go-containerregistry v0.20.2 pkg/crane/digest.go logs the failed HEAD, then returns the GET's error (cobra prints `Error: ...`)
    const manifest = "https://ghcr.io/v2/acme/observatory/analytics-api/manifests/1.2.3";
    const stderr =
      `2025/06/02 10:00:00 HEAD request failed, falling back on GET: HEAD ${manifest}: unexpected status code 404 Not Found (HEAD responses have no body, use GET for details)\n` +
      `Error: GET ${manifest}: UNAUTHORIZED: authentication required`;
    const r = await start(imageScript({ crane: { exitCode: 1, stderr } }));
    const err = await failureOf(r.call((ci) => ci.imageExists(reference)));
    expect(err.message).toBe(`imageExists: cannot tell whether ${reference} exists; the registry answered: crane exit 1: GET ${manifest}: UNAUTHORIZED: authentication required`);
  });

  it("rejects a malformed reference before any container", async () => {
    const r = await start();
    expect((await failureOf(r.call((ci) => ci.imageExists("ghcr.io/Acme/App:1")))).message).toContain("must be lowercase");
    expect((await failureOf(r.call((ci) => ci.imageExists(reference, "octocat")))).message).toContain("imageExists --registry-password: is missing: --registry-username needs it");
    expect(r.session.execs).toEqual([]);
  });
});
