/**
 * What cosign verify and verify-attestation print for an image of this module's repository: the genuine
 * guac output (test/fixtures/reports/cosign/verify-guac-v0.1.2.stdout) with its reference, digest and subject
 * replaced, and a DSSE envelope line as verify-attestation prints it.
 */
import { readFileSync } from "node:fs";

export const VERIFY_REPO = "ghcr.io/acme/observatory/analytics-api";
export const VERIFY_DIGEST = `sha256:${"d".repeat(64)}`;

/** `cosign verify` stdout for `digest`, signed by the certificate subject `subject`. */
export function verifyStdout(subject: string, digest = VERIFY_DIGEST): string {
  const genuine = readFileSync(new URL("../fixtures/reports/cosign/verify-guac-v0.1.2.stdout", import.meta.url), "utf8");
  return genuine
    .replaceAll("ghcr.io/guacsec/guac", VERIFY_REPO)
    .replaceAll("sha256:de50517b5a527f031395ba11de5576462bc4db6fa0eef5073f82fab052c2b07e", digest)
    .replace("https://github.com/guacsec/guac/.github/workflows/release.yaml@refs/tags/v0.1.2", subject);
}

/** A DSSE envelope line as verify-attestation prints it: base64 in-toto statement about `digest`. */
export function attestationStdout(predicateType = "https://spdx.dev/Document", digest = VERIFY_DIGEST): string {
  const statement = { _type: "https://in-toto.io/Statement/v0.1", predicateType, subject: [{ name: VERIFY_REPO, digest: { sha256: digest.slice(7) } }], predicate: {} };
  return `${JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: Buffer.from(JSON.stringify(statement)).toString("base64"), signatures: [{ keyid: "", sig: "MEUC" }] })}\n`;
}

/** `cosign verify --key` stdout: the simple-signing payload without a certificate. */
export function keyVerifyStdout(digest = VERIFY_DIGEST): string {
  return `\n${JSON.stringify([{ critical: { identity: { "docker-reference": VERIFY_REPO }, image: { "docker-manifest-digest": digest }, type: "cosign container image signature" }, optional: null }])}\n`;
}
