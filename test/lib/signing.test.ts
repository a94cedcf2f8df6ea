import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { Environment } from "../../.dagger/src/lib/deploy/environment";
import {
  checkIdentityRegexp,
  cosignPolicyArgs,
  cosignRefusal,
  expectedSigningRef,
  foreignIdentities,
  publishWorkflowIdentity,
  signerPolicy,
  verifiedAttestations,
  verifiedSignatures,
} from "../../.dagger/src/lib/signing";

const REPO = "Acme/observatory";
const SIGN = { keyless: true, oidcIssuer: "https://token.actions.githubusercontent.com" };
/** A genuine keyless `cosign verify` stdout (test/fixtures/reports/SOURCES.md, section cosign). */
const GUAC_VERIFY = readFileSync(new URL("../fixtures/reports/cosign/verify-guac-v0.1.2.stdout", import.meta.url), "utf8");
const GUAC_DIGEST = "sha256:de50517b5a527f031395ba11de5576462bc4db6fa0eef5073f82fab052c2b07e";

describe("expectedSigningRef", () => {
  it("dev: main; staging: a release branch (exact when known); production: the exact release tag", () => {
    expect(expectedSigningRef({ environment: Environment.Dev })).toEqual({ exact: "refs/heads/main", describe: "refs/heads/main" });
    expect(expectedSigningRef({ environment: Environment.Staging }).pattern).toBe("refs/heads/release/.+");
    expect(expectedSigningRef({ environment: Environment.Staging, releaseBranch: "release/1.4" }).exact).toBe("refs/heads/release/1.4");
    expect(expectedSigningRef({ environment: Environment.Staging, releaseBranch: "refs/heads/release/1.4" }).exact).toBe("refs/heads/release/1.4");
    expect(expectedSigningRef({ environment: Environment.Production, releaseTag: "v1.4.0" }).exact).toBe("refs/tags/v1.4.0");
  });

  it("refuses a production deploy without a strict vX.Y.Z tag and a staging branch outside release/", () => {
    expect(() => expectedSigningRef({ environment: Environment.Production })).toThrow("the tag (vX.Y.Z) is required");
    expect(() => expectedSigningRef({ environment: Environment.Production, releaseTag: "1.4.0" })).toThrow('release tag "1.4.0" is not vX.Y.Z');
    expect(() => expectedSigningRef({ environment: Environment.Production, releaseTag: "v01.4.0" })).toThrow("is not vX.Y.Z");
    expect(() => expectedSigningRef({ environment: Environment.Staging, releaseBranch: "feature/x" })).toThrow('got branch "feature/x"');
    expect(() => expectedSigningRef({ environment: Environment.Staging, releaseBranch: "release/../main" })).toThrow("release/* branch");
  });
});

describe("signerPolicy", () => {
  it("computes the exact identity of this repository's ci.yml on the expected ref, with the configured issuer", () => {
    const policy = signerPolicy(SIGN, REPO, expectedSigningRef({ environment: Environment.Production, releaseTag: "v1.4.0" }));
    expect(policy).toEqual({
      mode: "keyless",
      identity: "https://github.com/Acme/observatory/.github/workflows/ci.yml@refs/tags/v1.4.0",
      issuer: "https://token.actions.githubusercontent.com",
      source: "computed",
    });
    expect(cosignPolicyArgs(policy, "/k")).toEqual([
      "--certificate-identity", "https://github.com/Acme/observatory/.github/workflows/ci.yml@refs/tags/v1.4.0",
      "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com",
    ]);
  });

  it("pins the building commit when the deploy names one (--certificate-github-workflow-sha)", () => {
    const policy = signerPolicy(SIGN, REPO, expectedSigningRef({ environment: Environment.Production, releaseTag: "v1.4.0" }));
    const sha = "1a2b3c4d5e6f70811223344556677889900aabbc";
    expect(cosignPolicyArgs({ ...policy, workflowSha: sha } as typeof policy, "/k").slice(-2)).toEqual(["--certificate-github-workflow-sha", sha]);
  });

  it("staging without a known branch: an anchored regexp over release/* branches of ci.yml only", () => {
    const policy = signerPolicy(SIGN, REPO, expectedSigningRef({ environment: Environment.Staging }));
    expect(policy.mode === "keyless" && policy.identityRegexp).toBe(
      "^https://github\\.com/Acme/observatory/\\.github/workflows/ci\\.yml@refs/heads/release/.+$",
    );
    const regexp = new RegExp((policy as { identityRegexp: string }).identityRegexp);
    expect(regexp.test(publishWorkflowIdentity(REPO, "refs/heads/release/1.4"))).toBe(true);
    for (const probe of foreignIdentities(REPO, expectedSigningRef({ environment: Environment.Staging }))) {
      expect(regexp.test(probe.identity), probe.what).toBe(false);
    }
    expect(regexp.test(publishWorkflowIdentity(REPO, "refs/heads/main"))).toBe(false);
    expect(cosignPolicyArgs(policy, "/k").slice(0, 1)).toEqual(["--certificate-identity-regexp"]);
  });

  it("uses a configured regexp that passes the self-check, and a custom issuer", () => {
    const pattern = "^https://github\\.com/Acme/observatory/\\.github/workflows/ci\\.yml@refs/(heads/main|heads/release/[0-9.]+|tags/v[0-9]+\\.[0-9]+\\.[0-9]+)$";
    const policy = signerPolicy({ ...SIGN, oidcIssuer: "https://issuer.example", certificateIdentityRegexp: pattern }, REPO, expectedSigningRef({ environment: Environment.Dev }));
    expect(policy).toEqual({ mode: "keyless", identityRegexp: pattern, issuer: "https://issuer.example", source: "image.sign.certificateIdentityRegexp" });
  });

  it("key-based signing verifies with the public key, no identity", () => {
    const policy = signerPolicy({ ...SIGN, keyless: false }, undefined, expectedSigningRef({ environment: Environment.Dev }));
    expect(policy).toEqual({ mode: "key" });
    expect(cosignPolicyArgs(policy, "/run/secrets/cosign.pub")).toEqual(["--key", "/run/secrets/cosign.pub"]);
  });

  it("keyless needs a valid owner/repo", () => {
    const dev = expectedSigningRef({ environment: Environment.Dev });
    expect(() => signerPolicy(SIGN, undefined, dev)).toThrow("pass --github-repository owner/repo");
    expect(() => signerPolicy(SIGN, "acme", dev)).toThrow('"acme" is not a GitHub owner/repo');
    expect(() => signerPolicy(SIGN, "acme/obs/x", dev)).toThrow("is not a GitHub owner/repo");
  });
});

describe("checkIdentityRegexp", () => {
  const dev = expectedSigningRef({ environment: Environment.Dev });
  const prod = expectedSigningRef({ environment: Environment.Production, releaseTag: "v1.4.0" });

  it("refuses an unanchored regexp (cosign matches anywhere)", () => {
    expect(() => checkIdentityRegexp("https://github\\.com/Acme/observatory/\\.github/workflows/ci\\.yml@refs/heads/main", REPO, dev)).toThrow("must be anchored (^...$)");
    expect(() => checkIdentityRegexp("^https://github\\.com/Acme/observatory/.*", REPO, dev)).toThrow("must be anchored");
    expect(() => checkIdentityRegexp("^https://github\\.com/Acme/observatory/\\.github/workflows/ci\\.yml@refs/heads/main\\$", REPO, dev)).toThrow("must be anchored");
  });

  it("refuses the README's old any-workflow-any-ref pattern, naming what it would accept", () => {
    const err = (() => {
      try {
        checkIdentityRegexp("^https://github.com/Acme/observatory/.github/workflows/.*$", REPO, dev);
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    })();
    expect(err).toContain("is too broad");
    expect(err).toContain("another workflow of this repository (https://github.com/Acme/observatory/.github/workflows/observatory-ci-probe.yml@refs/heads/main)");
    expect(err).toContain("an unreviewed branch");
    expect(err).toContain("a pull request ref");
  });

  it("refuses a regexp accepting another repository, any ref, or a prefix of the expected ref", () => {
    expect(() => checkIdentityRegexp("^https://github\\.com/.+/\\.github/workflows/ci\\.yml@refs/heads/main$", REPO, dev)).toThrow("another repository's workflow");
    expect(() => checkIdentityRegexp("^https://github\\.com/Acme/observatory/\\.github/workflows/ci\\.yml@refs/.+$", REPO, dev)).toThrow("an unreviewed branch");
    expect(() => checkIdentityRegexp("^https://github\\.com/Acme/observatory/\\.github/workflows/ci\\.yml@refs/heads/main.*$", REPO, dev)).toThrow("a ref that only starts like the expected one");
    expect(() => checkIdentityRegexp("^https://github\\.com/Acme/observatory/\\.github/workflows/ci\\.yml@refs/tags/v.*$", REPO, prod)).toThrow("a ref that only starts like the expected one");
  });

  it("refuses a regexp that does not accept this deploy's signer", () => {
    expect(() => checkIdentityRegexp("^https://github\\.com/Acme/observatory/\\.github/workflows/ci\\.yml@refs/heads/main$", REPO, prod)).toThrow(
      "does not accept this deploy's signer https://github.com/Acme/observatory/.github/workflows/ci.yml@refs/tags/v1.4.0",
    );
  });
});

describe("verifiedSignatures (cosign verify stdout)", () => {
  it("reads the subjects of a genuine keyless verification of the expected digest", () => {
    expect(verifiedSignatures(GUAC_VERIFY, GUAC_DIGEST)).toEqual(["https://github.com/guacsec/guac/.github/workflows/release.yaml@refs/tags/v0.1.2"]);
  });

  it("fails closed: another digest, no output, the decode-error line cosign prints with exit 0, an empty array", () => {
    expect(() => verifiedSignatures(GUAC_VERIFY, `sha256:${"a".repeat(64)}`)).toThrow("not for sha256:aaaa");
    expect(() => verifiedSignatures("", GUAC_DIGEST)).toThrow("printed no verified signature");
    expect(() => verifiedSignatures("error decoding the payload: unexpected end of JSON input\n", GUAC_DIGEST)).toThrow("printed no verified signature");
    expect(() => verifiedSignatures("\n[]\n", GUAC_DIGEST)).toThrow("printed no verified signature");
    expect(() => verifiedSignatures("\n[{\"critical\":\n", GUAC_DIGEST)).toThrow("unreadable result");
  });
});

describe("verifiedAttestations (cosign verify-attestation stdout)", () => {
  // One DSSE envelope per line, payload = base64 in-toto statement (cosign v2.4.1 verify_attestation.go prints
  // the verified envelopes with PrintVerification "text"); the statement shape is in-toto's Statement v0.1.
  const envelope = (predicateType: string, sha256: string) =>
    JSON.stringify({
      payloadType: "application/vnd.in-toto+json",
      payload: Buffer.from(JSON.stringify({ _type: "https://in-toto.io/Statement/v0.1", predicateType, subject: [{ name: "ghcr.io/guacsec/guac", digest: { sha256 } }], predicate: {} })).toString("base64"),
      signatures: [{ keyid: "", sig: "MEUC" }],
    });
  const hex = GUAC_DIGEST.slice("sha256:".length);

  it("counts the attestations of the expected type for the digest", () => {
    expect(verifiedAttestations(`${envelope("https://spdx.dev/Document", hex)}\n`, GUAC_DIGEST, "spdxjson")).toBe(1);
    expect(verifiedAttestations(`${envelope("https://cyclonedx.org/bom", hex)}\n`, GUAC_DIGEST, "cyclonedx")).toBe(1);
  });

  it("refuses another type, another subject, garbage and nothing", () => {
    expect(() => verifiedAttestations(envelope("https://cyclonedx.org/bom", hex), GUAC_DIGEST, "spdxjson")).toThrow("no spdxjson attestation (https://spdx.dev/Document)");
    expect(() => verifiedAttestations(envelope("https://spdx.dev/Document", "b".repeat(64)), GUAC_DIGEST, "spdxjson")).toThrow(`whose subject is ${GUAC_DIGEST}`);
    expect(() => verifiedAttestations("{not json", GUAC_DIGEST, "spdxjson")).toThrow("no spdxjson attestation");
    expect(() => verifiedAttestations("", GUAC_DIGEST, "spdxjson")).toThrow("no spdxjson attestation");
  });
});

describe("cosignRefusal", () => {
  it("names cosign's reason from its log line (main.go log.Printf / log.Fatalf format) and the exit-code meaning", () => {
    const stderr = "2024/11/05 10:00:00 error during command execution: no signatures found\n";
    expect(cosignRefusal(10, stderr, "")).toBe("no signature found: error during command execution: no signatures found");
    const mismatch =
      "Error: no matching signatures: none of the expected identities matched what was in the certificate, got subjects [https://github.com/Acme/observatory/.github/workflows/ci.yml@refs/heads/evil] with issuer https://token.actions.githubusercontent.com\n" +
      "2024/11/05 10:00:00 error during command execution: no matching signatures: none of the expected identities matched what was in the certificate, got subjects [https://github.com/Acme/observatory/.github/workflows/ci.yml@refs/heads/evil] with issuer https://token.actions.githubusercontent.com\n";
    const reason = cosignRefusal(12, mismatch, "");
    expect(reason).toMatch(/^no signature from the expected signer: Error: no matching signatures: none of the expected identities/);
    expect(reason).toContain("refs/heads/evil");
    expect(cosignRefusal(139, "", "")).toBe("cosign exit 139: (cosign printed nothing)");
  });
});
