/**
 * What cosign v2.4.1 prints when it verifies: `cosign verify` stdout is the genuine guac output
 * (test/fixtures/reports/cosign/verify-guac-v0.1.2.stdout) with its repository, digest and certificate subject
 * replaced; `cosign verify-attestation` prints one DSSE envelope per line whose payload is an in-toto statement.
 */
import { readFileSync } from "node:fs";

export const GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com";
/** The repository and digest the verify tests use by default. */
export const VERIFY_REPO = "ghcr.io/acme/observatory/analytics-api";
export const VERIFY_DIGEST = `sha256:${"d".repeat(64)}`;

/** `cosign verify` stdout: `digest` of `repository` signed by the certificate subject `subject`. */
export function verifyStdout(subject: string, digest = VERIFY_DIGEST, repository = VERIFY_REPO): string {
  const genuine = readFileSync(new URL("../fixtures/reports/cosign/verify-guac-v0.1.2.stdout", import.meta.url), "utf8");
  return genuine
    .replaceAll("ghcr.io/guacsec/guac", repository)
    .replaceAll("sha256:de50517b5a527f031395ba11de5576462bc4db6fa0eef5073f82fab052c2b07e", digest)
    .replace("https://github.com/guacsec/guac/.github/workflows/release.yaml@refs/tags/v0.1.2", subject);
}

/** `cosign verify-attestation` stdout: one DSSE envelope whose in-toto statement is about `digest` of `repository`. */
export function attestationStdout(predicateType = "https://spdx.dev/Document", digest = VERIFY_DIGEST, repository = VERIFY_REPO): string {
  const statement = { _type: "https://in-toto.io/Statement/v0.1", predicateType, subject: [{ name: repository, digest: { sha256: digest.slice(7) } }], predicate: {} };
  return `${JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: Buffer.from(JSON.stringify(statement)).toString("base64"), signatures: [{ keyid: "", sig: "MEUC" }] })}\n`;
}

/** cosign's stderr when the digest has no signature at all (exit 10, errors/exit_codes.go NoSignaturesFound). */
export const NO_SIGNATURES = "Error: no signatures found\n2025/06/02 10:00:00 error during command execution: no signatures found\n";

/** cosign's stderr when the certificate names another signer (exit 12, NoMatchingSignature). */
export function identityMismatch(subject: string, issuer = GITHUB_ACTIONS_ISSUER): string {
  const message = `no matching signatures: none of the expected identities matched what was in the certificate, got subjects [${subject}] with issuer ${issuer}`;
  return `Error: ${message}\n2025/06/02 10:00:00 error during command execution: ${message}\n`;
}

/** `cosign verify --key` stdout: the simple-signing payload without a certificate. */
export function keyVerifyStdout(repository = VERIFY_REPO, digest = VERIFY_DIGEST): string {
  return `\n${JSON.stringify([{ critical: { identity: { "docker-reference": repository }, image: { "docker-manifest-digest": digest }, type: "cosign container image signature" }, optional: null }])}\n`;
}
