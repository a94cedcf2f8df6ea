import { describe, expect, it } from "vitest";
import { dag } from "@dagger.io/dagger";
import { IMAGES } from "../../.dagger/src/versions";
import { VERIFY_ATTESTATION, VERIFY_SIGNATURE } from "../../.dagger/src/verify";
import { Environment } from "../../.dagger/src/lib/deploy/environment";
import { canarySecret, type ExecView, type Script } from "../support/recording-session";
import { failureOf, GOOD, healthyScript, sourceWithConfig, startPerTest, type ModuleRun } from "../support/module";
import { attestationStdout, keyVerifyStdout, VERIFY_DIGEST, VERIFY_REPO, verifyStdout } from "../support/cosign-output";

const REPO = VERIFY_REPO;
const DIGEST = VERIFY_DIGEST;
const IMAGE = `${REPO}@${DIGEST}`;
const GITHUB_REPOSITORY = "Acme/observatory";
const IDENTITY_V140 = "https://github.com/Acme/observatory/.github/workflows/ci.yml@refs/tags/v1.4.0";
const IDENTITY_MAIN = "https://github.com/Acme/observatory/.github/workflows/ci.yml@refs/heads/main";
const ISSUER = "https://token.actions.githubusercontent.com";

interface Outcome {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
}

function cosignScript(signature: Outcome, attestation: Outcome = { stdout: attestationStdout() }): Script {
  return healthyScript({
    exec: (e: ExecView) => {
      if (e.args[3] === VERIFY_SIGNATURE) return signature;
      if (e.args[3] === VERIFY_ATTESTATION) return attestation;
      return undefined;
    },
  });
}

const startRun = startPerTest();
const start = (script: Script, source = GOOD): Promise<ModuleRun> => startRun(script, source);

const cosignExecs = (r: ModuleRun, marker: string) => r.session.execs.filter((e) => e.args[3] === marker);

describe("verifyImage", () => {
  it("runs the pinned cosign verify and verify-attestation with the exact production identity; secrets stay out of argv", async () => {
    const r = await start(cosignScript({ stdout: verifyStdout(IDENTITY_V140) }));
    const out = await r.call((ci) =>
      ci.verifyImage(IMAGE, Environment.Production, GITHUB_REPOSITORY, "v1.4.0", undefined, "octocat", dag.setSecret("ghcr-token", canarySecret("ghcr"))),
    );
    expect(out).toBe(`verified ${IMAGE}: signed by ${IDENTITY_V140} (issuer ${ISSUER}), 1 signed spdxjson SBOM attestation(s)`);

    const [signature] = cosignExecs(r, VERIFY_SIGNATURE);
    const [attestation] = cosignExecs(r, VERIFY_ATTESTATION);
    expect(signature!.image).toBe(IMAGES.alpine);
    expect(signature!.mounts["/usr/local/bin/cosign"]).toContain(`from(address: "${IMAGES.cosign}").file(path: "/ko-app/cosign")`);
    expect(signature!.args.slice(0, 2)).toEqual(["sh", "-euc"]);
    expect(signature!.args[2]).toMatch(/exec cosign "\$@"$/);
    expect(signature!.args.slice(3)).toEqual([
      "cosign-verify", "verify", "--certificate-identity", IDENTITY_V140, "--certificate-oidc-issuer", ISSUER, IMAGE,
    ]);
    expect(attestation!.args.slice(3)).toEqual([
      "cosign-verify-attestation", "verify-attestation", "--type", "spdxjson",
      "--certificate-identity", IDENTITY_V140, "--certificate-oidc-issuer", ISSUER, IMAGE,
    ]);
    for (const e of [signature!, attestation!]) {
      expect(e.secretEnv).toEqual({ REGISTRY_PASSWORD: "ghcr-token" });
      expect(e.env).toMatchObject({ DOCKER_CONFIG: "/run/observatory-ci/docker", REGISTRY_KEY: "ghcr.io", REGISTRY_USERNAME: "octocat" });
      expect(e.env.OBSERVATORY_CI_RUN, "a run nonce: a verdict is never replayed from cache").toBeTruthy();
      for (const arg of e.args) expect(arg).not.toMatch(/CANARY/);
    }
    expect(r.session.secretLeaks([out])).toEqual([]);
  });

  it("dev: ci.yml on main; staging: any release/* branch by an anchored regexp, or the exact branch", async () => {
    const r = await start(cosignScript({ stdout: verifyStdout(IDENTITY_MAIN) }));
    await r.call((ci) => ci.verifyImage(`${REPO}:main-0123456@${DIGEST}`, Environment.Dev, GITHUB_REPOSITORY));
    expect(cosignExecs(r, VERIFY_SIGNATURE)[0]!.args.slice(4)).toEqual(["verify", "--certificate-identity", IDENTITY_MAIN, "--certificate-oidc-issuer", ISSUER, IMAGE]);

    const release = "https://github.com/Acme/observatory/.github/workflows/ci.yml@refs/heads/release/1.4";
    const s = await start(cosignScript({ stdout: verifyStdout(release) }));
    await s.call((ci) => ci.verifyImage(IMAGE, Environment.Staging, GITHUB_REPOSITORY));
    expect(cosignExecs(s, VERIFY_SIGNATURE)[0]!.args.slice(5, 7)).toEqual([
      "--certificate-identity-regexp", "^https://github\\.com/Acme/observatory/\\.github/workflows/ci\\.yml@refs/heads/release/.+$",
    ]);
    const b = await start(cosignScript({ stdout: verifyStdout(release) }));
    await b.call((ci) => ci.verifyImage(IMAGE, Environment.Staging, GITHUB_REPOSITORY, undefined, "release/1.4"));
    expect(cosignExecs(b, VERIFY_SIGNATURE)[0]!.args.slice(5, 7)).toEqual(["--certificate-identity", release]);
  });

  it("uses the configured issuer, identity regexp and SBOM format", async () => {
    const pattern = "^https://github\\.com/Acme/observatory/\\.github/workflows/ci\\.yml@refs/(heads/main|tags/v[0-9]+\\.[0-9]+\\.[0-9]+)$";
    const config = { image: { repository: "acme/observatory/analytics-api", sbomFormat: "cyclonedx-json", sign: { oidcIssuer: "https://issuer.example", certificateIdentityRegexp: pattern } } };
    const r = await start(cosignScript({ stdout: verifyStdout(IDENTITY_MAIN) }, { stdout: attestationStdout("https://cyclonedx.org/bom") }), sourceWithConfig(config));
    await r.call((ci) => ci.verifyImage(IMAGE, Environment.Dev, GITHUB_REPOSITORY));
    expect(cosignExecs(r, VERIFY_ATTESTATION)[0]!.args.slice(4)).toEqual([
      "verify-attestation", "--type", "cyclonedx", "--certificate-identity-regexp", pattern, "--certificate-oidc-issuer", "https://issuer.example", IMAGE,
    ]);
  });

  it("key-based: verifies with the public key mounted as a secret file", async () => {
    const r = await start(cosignScript({ stdout: keyVerifyStdout() }), sourceWithConfig({ image: { repository: "acme/observatory/analytics-api", sign: { keyless: false } } }));
    const out = await r.call((ci) => ci.verifyImage(IMAGE, Environment.Dev, undefined, undefined, undefined, undefined, undefined, dag.setSecret("cosign-pub", canarySecret("pub"))));
    const [e] = cosignExecs(r, VERIFY_SIGNATURE);
    expect(e!.args.slice(4)).toEqual(["verify", "--key", "/run/secrets/cosign.pub", IMAGE]);
    expect(e!.secretFiles["/run/secrets/cosign.pub"]).toBe("cosign-pub");
    expect(out).toContain("signed by the configured public key");
  });

  it("refuses an unsigned digest with cosign's reason (exit 10, no signatures found)", async () => {
    const r = await start(cosignScript({ exitCode: 10, stderr: "Error: no signatures found\n2024/11/05 10:00:00 error during command execution: no signatures found\n" }));
    const err = await failureOf(r.call((ci) => ci.verifyImage(IMAGE, Environment.Production, GITHUB_REPOSITORY, "v1.4.0")));
    expect(err.message).toBe(
      `verifyImage: refusing ${IMAGE}: cosign verify: no signature found: Error: no signatures found\nerror during command execution: no signatures found; ` +
        `expected a signature by ${IDENTITY_V140} (issuer ${ISSUER})`,
    );
    expect(cosignExecs(r, VERIFY_ATTESTATION)).toEqual([]);
  });

  it("refuses a digest signed by another ref (exit 12, identity mismatch), naming both identities", async () => {
    const evil = "https://github.com/Acme/observatory/.github/workflows/ci.yml@refs/heads/v1.4.0";
    const mismatch = `no matching signatures: none of the expected identities matched what was in the certificate, got subjects [${evil}] with issuer ${ISSUER}`;
    const r = await start(cosignScript({ exitCode: 12, stderr: `Error: ${mismatch}\n2024/11/05 10:00:00 error during command execution: ${mismatch}\n` }));
    const err = await failureOf(r.call((ci) => ci.verifyImage(IMAGE, Environment.Production, GITHUB_REPOSITORY, "v1.4.0")));
    expect(err.name).toBe("ImageRefused");
    expect(err.message).toContain("cosign verify: no signature from the expected signer: Error: no matching signatures");
    expect(err.message).toContain(`got subjects [${evil}]`);
    expect(err.message).toContain(`expected a signature by ${IDENTITY_V140}`);
  });

  it("fails closed when cosign exits 0 without a checkable result, or vouches for another digest or subject", async () => {
    const cases: [Outcome, Outcome | undefined, string][] = [
      [{ stdout: "error decoding the payload: unexpected end of JSON input\n" }, undefined, "cosign verify printed no verified signature"],
      [{ stdout: verifyStdout(IDENTITY_V140, `sha256:${"e".repeat(64)}`) }, undefined, "not for sha256:dddd"],
      [{ stdout: verifyStdout(IDENTITY_MAIN) }, undefined, `certificate subject(s) [${IDENTITY_MAIN}] that the policy does not name`],
      [{ stdout: verifyStdout(IDENTITY_V140) }, { exitCode: 1, stderr: "Error: none of the attestations matched the predicate type: https://spdx.dev/Document, found: https://slsa.dev/provenance/v0.2\n" }, "cosign verify-attestation --type spdxjson (the SBOM): cosign exit 1: Error: none of the attestations matched"],
      [{ stdout: verifyStdout(IDENTITY_V140) }, { stdout: attestationStdout("https://spdx.dev/Document", `sha256:${"e".repeat(64)}`) }, "no spdxjson attestation (https://spdx.dev/Document) whose subject is"],
      [{ exitCode: 139, stderr: "" }, undefined, "cosign verify: cosign exit 139: (cosign printed nothing)"],
    ];
    for (const [signature, attestation, message] of cases) {
      const r = await start(cosignScript(signature, attestation));
      const err = await failureOf(r.call((ci) => ci.verifyImage(IMAGE, Environment.Production, GITHUB_REPOSITORY, "v1.4.0")));
      expect(err.message).toContain(message);
      expect(err.message).toMatch(/^verifyImage: refusing /);
    }
  });

  it("refuses a tag, another registry or repository, a bad tag or branch and half credentials before any container", async () => {
    const r = await start(cosignScript({}));
    const s = (name: string) => dag.setSecret(name, canarySecret(name));
    const cases: [Parameters<typeof r.call>[0], string][] = [
      [(ci) => ci.verifyImage(`${REPO}:1.4.0`, Environment.Production, GITHUB_REPOSITORY, "v1.4.0"), `verifyImage --image: names a tag, not a digest; a tag can be moved after it was signed (found "${REPO}:1.4.0"`],
      [(ci) => ci.verifyImage(`docker.io/acme/analytics-api@${DIGEST}`, Environment.Dev, GITHUB_REPOSITORY), `is not from the configured repository ${REPO}`],
      [(ci) => ci.verifyImage(`ghcr.io/evil/observatory/analytics-api@${DIGEST}`, Environment.Dev, GITHUB_REPOSITORY), "is not from the configured repository"],
      [(ci) => ci.verifyImage(IMAGE, Environment.Production, GITHUB_REPOSITORY), "verifyImage --tag: is required for production: its images are signed on their release tag (expected vX.Y.Z)"],
      [(ci) => ci.verifyImage(IMAGE, Environment.Production, GITHUB_REPOSITORY, "1.4.0"), 'verifyImage --tag: is not a release tag (found "1.4.0"'],
      [(ci) => ci.verifyImage(IMAGE, Environment.Staging, GITHUB_REPOSITORY, undefined, "feature/x"), 'verifyImage --branch: is not a release/* branch: staging images are signed by the publish job of one (found "feature/x"'],
      [(ci) => ci.verifyImage(IMAGE, Environment.Dev, GITHUB_REPOSITORY, undefined, undefined, "octocat"), "verifyImage --registry-password: is missing: --registry-username needs it"],
      [(ci) => ci.verifyImage(IMAGE, Environment.Dev, GITHUB_REPOSITORY, undefined, undefined, undefined, undefined, s("pub")), "verifyImage --public-key: is for key-based signing (image.sign.keyless false)"],
      [(ci) => ci.verifyImage(IMAGE, Environment.Dev), "verifyImage --github-repository: is required when image.repository does not name the image repository"],
    ];
    for (const [fn, message] of cases) expect((await failureOf(r.call(fn))).message).toContain(message);
    expect(r.session.execs).toEqual([]);
  });

  it("refuses a configured identity regexp that accepts any workflow on any ref, before any container", async () => {
    const config = { image: { sign: { certificateIdentityRegexp: "^https://github.com/Acme/observatory/.github/workflows/.*$" } } };
    const r = await start(cosignScript({}), sourceWithConfig(config));
    const err = await failureOf(r.call((ci) => ci.verifyImage(IMAGE, Environment.Dev, GITHUB_REPOSITORY)));
    expect(err.message).toContain("verifyImage: image.sign.certificateIdentityRegexp");
    expect(err.message).toContain("is too broad: it accepts another workflow of this repository");
    expect(err.message).toContain("(config from ci/pipeline.json)");
    expect(r.session.execs).toEqual([]);
  });

  it("key-based signing without --public-key is a usage error", async () => {
    const r = await start(cosignScript({}), sourceWithConfig({ image: { repository: "acme/observatory/analytics-api", sign: { keyless: false } } }));
    const err = await failureOf(r.call((ci) => ci.verifyImage(IMAGE, Environment.Dev)));
    expect(err.message).toBe("verifyImage --public-key: is required: image.sign.keyless is false, so the signature is checked with the cosign public key (expected the cosign public key (PEM))");
    expect(r.session.execs).toEqual([]);
  });
});
