/**
 * Who may have signed an image that a deploy accepts, and how cosign is asked to check it.
 *
 * Keyless signatures carry a Fulcio certificate whose subject alternative name, for GitHub Actions, is
 * `https://github.com/` + the token's `job_workflow_ref` claim, i.e.
 * `https://github.com/<owner>/<repo>/.github/workflows/<file>@<ref>` (sigstore/fulcio v1.8.8,
 * config/identity/config.yaml: `subject-alternative-name-template: "{{ .url }}/{{ .job_workflow_ref }}"`).
 * The publish job of `.github/workflows/ci.yml` signs (it calls releaseImage), so the expected identity is that
 * file on the ref the environment deploys from: `refs/heads/main` (dev), a `refs/heads/release/*` branch
 * (staging), the release tag `refs/tags/vX.Y.Z` (production).
 */
import { Environment } from "./deploy/environment";
import { parseReleaseTag } from "./tags";

/** The workflow whose publish job signs the image (releaseImage), relative to the repository root. */
export const PUBLISH_WORKFLOW = ".github/workflows/ci.yml";
export const GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com";

/** cosign's `--type` for each SBOM format (cmd/cosign/cli/options/predicate.go at v2.4.1). */
export const ATTESTATION_TYPES = { "spdx-json": "spdxjson", "cyclonedx-json": "cyclonedx" } as const;
/**
 * The in-toto predicate type cosign v2.4.1 maps each `--type` to (PredicateTypeMap -> in-toto-golang v0.9.0
 * in_toto.PredicateSPDX / PredicateCycloneDX).
 */
export const PREDICATE_TYPES = { spdxjson: "https://spdx.dev/Document", cyclonedx: "https://cyclonedx.org/bom" } as const;
export type AttestationType = keyof typeof PREDICATE_TYPES;

/** The git ref a deploy's image must have been signed on. */
export interface ExpectedRef {
  /** `refs/heads/main`, `refs/heads/release/1.4`, `refs/tags/v1.4.0`; absent when only a pattern is known. */
  exact?: string;
  /** Go RE2 / JavaScript fragment (no anchors) matching the allowed refs when no exact ref is known. */
  pattern?: string;
  /** For messages: `refs/heads/main`, `a refs/heads/release/* branch`. */
  describe: string;
}

export interface ExpectedRefInput {
  environment: Environment;
  /** production: the release tag being deployed (vX.Y.Z). */
  releaseTag?: string;
  /** staging: the release branch being deployed (`release/1.4` or `refs/heads/release/1.4`), when known. */
  releaseBranch?: string;
}

const REGEXP_SPECIAL = /[\\^$.*+?()[\]{}|]/g;
export const escapeRegExp = (text: string): string => text.replace(REGEXP_SPECIAL, "\\$&");

/** The ref an environment's image is signed on: main for dev, release/* for staging, the exact tag for production. */
export function expectedSigningRef(input: ExpectedRefInput): ExpectedRef {
  switch (input.environment) {
    case Environment.Dev:
      return { exact: "refs/heads/main", describe: "refs/heads/main" };
    case Environment.Staging: {
      if (input.releaseBranch === undefined) {
        return { pattern: "refs/heads/release/.+", describe: "a refs/heads/release/* branch" };
      }
      const branch = input.releaseBranch.replace(/^refs\/heads\//, "");
      if (!/^release\/[A-Za-z0-9._/-]+$/.test(branch) || branch.split("/").some((part) => part === "" || part === "..")) {
        throw new Error(`staging images are signed on a release/* branch, got branch ${JSON.stringify(input.releaseBranch)}`);
      }
      return { exact: `refs/heads/${branch}`, describe: `refs/heads/${branch}` };
    }
    case Environment.Production: {
      const tag = input.releaseTag;
      if (tag === undefined) throw new Error("production images are signed on their release tag: the tag (vX.Y.Z) is required");
      parseReleaseTag(tag);
      return { exact: `refs/tags/${tag}`, describe: `refs/tags/${tag}` };
    }
    default:
      throw new Error(`unknown environment ${JSON.stringify(input.environment)}`);
  }
}

/** `https://github.com/<owner>/<repo>/.github/workflows/ci.yml@<ref>`: the certificate identity of a publish run. */
export function publishWorkflowIdentity(githubRepository: string, ref: string): string {
  return `https://github.com/${githubRepository}/${PUBLISH_WORKFLOW}@${ref}`;
}

/** Throws unless `value` is GitHub's `owner/repo` (GITHUB_REPOSITORY), the case GitHub reports it in. */
export function checkGithubRepository(value: string): void {
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/.test(value) || /\/\.\.?$/.test(value)) {
    throw new Error(`${JSON.stringify(value)} is not a GitHub owner/repo (GITHUB_REPOSITORY), e.g. acme/observatory`);
  }
}

/** What cosign must find in the keyless certificate. */
export interface KeylessIdentity {
  mode: "keyless";
  /** Exactly one of the two is set. */
  identity?: string;
  identityRegexp?: string;
  issuer: string;
  /** Where the identity came from, for messages. */
  source: "computed" | "image.sign.certificateIdentityRegexp";
  /**
   * The commit the signing run built, when the deploy names one (`deploy --commit`): the certificate's
   * GitHub workflow SHA must equal it, so an older build of the same branch re-tagged with a newer
   * commit's tag is refused (Fulcio's OID 1.3.6.1.4.1.57264.1.3; cosign's --certificate-github-workflow-sha).
   */
  workflowSha?: string;
}

export interface KeyIdentity {
  mode: "key";
}

export type SignerPolicy = KeylessIdentity | KeyIdentity;

export interface SignConfig {
  keyless: boolean;
  oidcIssuer: string;
  certificateIdentityRegexp?: string;
}

/** Identities a regexp must refuse: another repository, another workflow, refs nobody reviews. */
export function foreignIdentities(githubRepository: string, expected: ExpectedRef): { what: string; identity: string }[] {
  const ref = expected.exact ?? "refs/heads/release/observatory-ci-probe";
  const probes = [
    { what: "another repository's workflow", identity: `https://github.com/observatory-ci-probe/foreign/${PUBLISH_WORKFLOW}@${ref}` },
    {
      what: "another workflow of this repository",
      identity: `https://github.com/${githubRepository}/.github/workflows/observatory-ci-probe.yml@${ref}`,
    },
    { what: "an unreviewed branch", identity: publishWorkflowIdentity(githubRepository, "refs/heads/observatory-ci-probe") },
    { what: "a pull request ref", identity: publishWorkflowIdentity(githubRepository, "refs/pull/1/merge") },
    { what: "an arbitrary tag", identity: publishWorkflowIdentity(githubRepository, "refs/tags/observatory-ci-probe") },
  ];
  // main-x and v1.4.0-x are not deployable refs; release/1.4-x is another release branch, which staging accepts.
  if (expected.exact !== undefined && !expected.exact.startsWith("refs/heads/release/")) {
    probes.push({ what: "a ref that only starts like the expected one", identity: publishWorkflowIdentity(githubRepository, `${expected.exact}-observatory-ci-probe`) });
  }
  return probes;
}

/**
 * Checks a configured `image.sign.certificateIdentityRegexp` before cosign gets it. cosign matches the regexp
 * with Go's `regexp.MatchString`, which is unanchored (pkg/cosign/verify.go at v2.4.1, CheckCertificatePolicy),
 * so the pattern must be anchored with ^ and $; it must accept this deploy's expected identity and refuse
 * another repository, another workflow file and refs other than the expected one.
 */
export function checkIdentityRegexp(pattern: string, githubRepository: string, expected: ExpectedRef): void {
  const field = "image.sign.certificateIdentityRegexp";
  if (!pattern.startsWith("^") || !pattern.endsWith("$") || pattern.endsWith("\\$")) {
    throw new Error(`${field} ${JSON.stringify(pattern)} must be anchored (^...$): cosign matches it anywhere in the identity`);
  }
  let regexp: RegExp;
  try {
    regexp = new RegExp(pattern);
  } catch (e) {
    throw new Error(`${field} ${JSON.stringify(pattern)} is not a valid regular expression: ${(e as Error).message}`);
  }
  const sample = expected.exact ?? "refs/heads/release/1.0";
  const wanted = publishWorkflowIdentity(githubRepository, sample);
  if (!regexp.test(wanted)) {
    throw new Error(`${field} ${JSON.stringify(pattern)} does not accept this deploy's signer ${wanted} (expected ref ${expected.describe})`);
  }
  const accepted = foreignIdentities(githubRepository, expected).filter((probe) => regexp.test(probe.identity));
  if (accepted.length > 0) {
    throw new Error(
      `${field} ${JSON.stringify(pattern)} is too broad: it accepts ${accepted.map((p) => `${p.what} (${p.identity})`).join(", ")}; ` +
        `it must name this repository's ${PUBLISH_WORKFLOW} and the refs that are deployed (refs/heads/main, refs/heads/release/..., refs/tags/vX.Y.Z)`,
    );
  }
}

/**
 * The signer a deploy accepts: key-based when `image.sign.keyless` is false; else the configured identity regexp
 * (checked) or the exact identity of this repository's publish workflow on the expected ref (a regexp only for
 * staging without a known branch), and the configured OIDC issuer.
 */
export function signerPolicy(sign: SignConfig, githubRepository: string | undefined, expected: ExpectedRef): SignerPolicy {
  if (!sign.keyless) return { mode: "key" };
  if (githubRepository === undefined) {
    throw new Error("keyless verification needs the repository whose publish workflow signs: pass --github-repository owner/repo");
  }
  checkGithubRepository(githubRepository);
  const issuer = sign.oidcIssuer;
  if (sign.certificateIdentityRegexp !== undefined) {
    checkIdentityRegexp(sign.certificateIdentityRegexp, githubRepository, expected);
    return { mode: "keyless", identityRegexp: sign.certificateIdentityRegexp, issuer, source: "image.sign.certificateIdentityRegexp" };
  }
  if (expected.exact !== undefined) {
    return { mode: "keyless", identity: publishWorkflowIdentity(githubRepository, expected.exact), issuer, source: "computed" };
  }
  const prefix = escapeRegExp(`https://github.com/${githubRepository}/${PUBLISH_WORKFLOW}@`);
  return { mode: "keyless", identityRegexp: `^${prefix}${expected.pattern}$`, issuer, source: "computed" };
}

/**
 * cosign's verification flags for the policy (cmd/cosign/cli/options/certificate.go at v2.4.1:
 * --certificate-identity, --certificate-identity-regexp, --certificate-oidc-issuer,
 * --certificate-github-workflow-sha; options/verify.go: --key).
 */
export function cosignPolicyArgs(policy: SignerPolicy, publicKeyPath: string): string[] {
  if (policy.mode === "key") return ["--key", publicKeyPath];
  const identity = policy.identity !== undefined
    ? ["--certificate-identity", policy.identity]
    : ["--certificate-identity-regexp", policy.identityRegexp!];
  const commit = policy.workflowSha !== undefined ? ["--certificate-github-workflow-sha", policy.workflowSha] : [];
  return [...identity, "--certificate-oidc-issuer", policy.issuer, ...commit];
}

/** One line describing the accepted signer, for messages. */
export function describeSigner(policy: SignerPolicy): string {
  if (policy.mode === "key") return "the configured public key";
  const who = policy.identity ?? `identity matching ${policy.identityRegexp}`;
  return `${who} (issuer ${policy.issuer}${policy.workflowSha !== undefined ? `, commit ${policy.workflowSha}` : ""})`;
}

// ---------------------------------------------------------------------------------------------------------
// Reading what cosign printed: exit 0 is necessary, not sufficient

interface SimpleSigningPayload {
  critical?: { image?: { "docker-manifest-digest"?: unknown }; type?: unknown };
  optional?: Record<string, unknown> | null;
}

/**
 * The verified signatures in `cosign verify` stdout (`-o json`, the default): a JSON array of simple-signing
 * payloads printed after an empty line (cmd/cosign/cli/verify/verify.go PrintVerification at v2.4.1). It prints
 * "error decoding the payload" and still exits 0 when a payload does not parse, so anything but an array whose
 * every entry signs `digest` is a refusal. Returns the certificate subjects (empty with a key).
 */
export function verifiedSignatures(stdout: string, digest: string): string[] {
  const line = stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("[")).at(-1);
  if (line === undefined) throw new Error(`cosign verify printed no verified signature: ${JSON.stringify(stdout.trim().slice(0, 300))}`);
  let payloads: unknown;
  try {
    payloads = JSON.parse(line);
  } catch {
    throw new Error(`cosign verify printed an unreadable result: ${JSON.stringify(line.slice(0, 300))}`);
  }
  if (!Array.isArray(payloads) || payloads.length === 0) throw new Error("cosign verify printed no verified signature");
  const subjects: string[] = [];
  for (const payload of payloads as SimpleSigningPayload[]) {
    const signed = payload?.critical?.image?.["docker-manifest-digest"];
    if (payload?.critical?.type !== "cosign container image signature" || signed !== digest) {
      throw new Error(`cosign verify returned a signature for ${JSON.stringify(signed)}, not for ${digest}`);
    }
    const subject = payload.optional?.["Subject"];
    if (typeof subject === "string" && subject !== "") subjects.push(subject);
  }
  return [...new Set(subjects)];
}

/**
 * The verified attestations in `cosign verify-attestation` stdout: one DSSE envelope per line (PrintVerification
 * in "text" mode, cmd/cosign/cli/verify/verify_attestation.go at v2.4.1), whose base64 payload is an in-toto
 * statement. At least one must have the expected predicate type and `digest` as a subject.
 */
export function verifiedAttestations(stdout: string, digest: string, type: AttestationType): number {
  const predicateType = PREDICATE_TYPES[type];
  const hex = digest.replace(/^sha256:/, "");
  let matching = 0;
  for (const line of stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("{"))) {
    let statement: { predicateType?: unknown; subject?: { digest?: { sha256?: unknown } }[] };
    try {
      const envelope = JSON.parse(line) as { payload?: unknown };
      if (typeof envelope.payload !== "string") continue;
      statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8"));
    } catch {
      continue;
    }
    const subjects = Array.isArray(statement.subject) ? statement.subject : [];
    if (statement.predicateType === predicateType && subjects.some((s) => s?.digest?.sha256 === hex)) matching++;
  }
  if (matching === 0) {
    throw new Error(`cosign verify-attestation printed no ${type} attestation (${predicateType}) whose subject is ${digest}`);
  }
  return matching;
}

/**
 * Why cosign refused, from its stderr: the `error during command execution: ...` line (cmd/cosign/main.go at
 * v2.4.1), else the last lines. Exit codes there: 10 no signatures, 12 no matching signature (errors/exit_codes.go).
 */
export function cosignRefusal(exitCode: number, stderr: string, stdout: string): string {
  const text = stderr.trim() || stdout.trim();
  const lines = text.split("\n");
  const start = lines.findIndex((line) => /error during command execution: |^Error: /.test(line));
  const reason = (start === -1 ? lines.slice(-20) : lines.slice(start, start + 20))
    .map((line) => line.replace(/^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2} /, ""))
    .join("\n")
    .trim();
  const kind = exitCode === 10 ? "no signature found" : exitCode === 12 ? "no signature from the expected signer" : `cosign exit ${exitCode}`;
  return `${kind}: ${reason || "(cosign printed nothing)"}`;
}
