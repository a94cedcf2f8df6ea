/**
 * What `crane digest <ref>` says about an image: it exists, it is absent, or the registry did not say.
 *
 * crane v0.20.2 (the pinned crane image), github.com/google/go-containerregistry at that tag:
 * - pkg/crane/digest.go `Digest`: a HEAD of the manifest first; when it fails, the HEAD's error is logged
 *   (`logs.Warn.Printf("HEAD request failed, falling back on GET: %v", err)`) and a GET is made. Only the
 *   GET's error is returned. cmd/crane/main.go sends logs.Warn to stderr, with the standard log date prefix.
 *   So stderr can carry the HEAD's `unexpected status code 404 Not Found (HEAD responses have no body ...)`
 *   above a GET that failed with 401, 403 or 5xx: only the final error decides.
 * - cmd/crane/main.go: any error exits 1. cobra v1.7.0 (crane's go.mod) prints it as `Error: <err>`
 *   (command.go, `c.PrintErrln("Error:", err.Error())`), the last thing written to stderr.
 * - pkg/v1/remote/transport/error.go `(*Error).Error`: `<METHOD> <url>: <answer>`, the answer being the
 *   registry's diagnostic `CODE: message[; detail]` (distribution spec codes such as MANIFEST_UNKNOWN,
 *   NAME_UNKNOWN, UNAUTHORIZED, DENIED, TOOMANYREQUESTS), `multiple errors returned: ...`, or
 *   `unexpected status code <n> <text>[: <body>]`. The URL's query is already redacted there
 *   (internal/redact/redact.go keeps only scope, service, mount, from, digest, n, last).
 */

export type ImageExistence =
  | { outcome: "exists"; digest: string }
  | { outcome: "absent"; answer: string }
  | { outcome: "unknown"; answer: string };

export interface CraneRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;
/** The manifest or the repository is not there (distribution spec error codes). */
const ABSENT_CODES = /\b(MANIFEST_UNKNOWN|NAME_UNKNOWN)\b/;
/** Codes that say the registry refused or could not answer: whatever else the message says, existence is unknown. */
const REFUSED_CODES = /\b(UNAUTHORIZED|DENIED|TOOMANYREQUESTS|UNAVAILABLE|UNKNOWN|UNSUPPORTED)\b/;
/** A bare 404 on a manifest request: `GET https://host/v2/<name>/manifests/<ref>: unexpected status code 404 Not Found`. */
const MANIFEST_404 = /^(GET|HEAD) \S+\/v2\/\S+\/manifests\/\S+: unexpected status code 404\b/;
const MAX_ANSWER = 600;

/** The text of crane's final error: from the last `Error: ` line to the end (a raw body may span lines). */
export function finalCraneError(stderr: string): string | null {
  const lines = stderr.replace(/\r\n/g, "\n").split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]!.startsWith("Error: ")) return lines.slice(i).join("\n").slice("Error: ".length).trim();
  }
  return null;
}

/**
 * A registry answer fit for an error message or Slack: user info and query values in URLs replaced
 * (crane redacts most query values already; a token may still come back in a body), bearer/basic
 * credentials cut out, and the whole bounded.
 */
export function redactRegistryAnswer(text: string): string {
  const redacted = text
    .replace(/\b(https?:\/\/)[^/\s@]+@/g, "$1REDACTED@")
    .replace(/([?&][A-Za-z0-9_.-]+=)(?:[^&\s"':]|:(?!\s|$))+/g, (match, key: string) =>
      /^[?&](scope|service|mount|from|digest|n|last)=$/.test(key) ? match : `${key}REDACTED`,
    )
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, "$1 REDACTED")
    .replace(/("(?:token|access_token|refresh_token|password)"\s*:\s*")[^"]*"/gi, '$1REDACTED"');
  return redacted.length > MAX_ANSWER ? `${redacted.slice(0, MAX_ANSWER - 1)}…` : redacted;
}

/**
 * Exists: exit 0 and a digest on stdout. Absent: exit 1 and a final error naming MANIFEST_UNKNOWN or
 * NAME_UNKNOWN (and no refusal code), or a bare 404 on the manifest request. Anything else (401, 403,
 * 429, 5xx, a network error, a crash, no final error) is unknown: never read as "absent".
 */
export function imageExistence(run: CraneRun): ImageExistence {
  if (run.exitCode === 0) {
    const digest = run.stdout.trim();
    if (DIGEST.test(digest)) return { outcome: "exists", digest };
    return { outcome: "unknown", answer: `crane digest exited 0 but printed no digest: ${JSON.stringify(redactRegistryAnswer(run.stdout.trim()))}` };
  }
  const final = finalCraneError(run.stderr);
  if (final === null) {
    const last = (run.stderr || run.stdout).trim().split("\n").slice(-3).join("\n");
    return { outcome: "unknown", answer: `crane exited ${run.exitCode} without an error line${last ? `: ${redactRegistryAnswer(last)}` : ""}` };
  }
  const answer = redactRegistryAnswer(final);
  if (run.exitCode === 1 && !REFUSED_CODES.test(final) && (ABSENT_CODES.test(final) || MANIFEST_404.test(final))) {
    return { outcome: "absent", answer };
  }
  return { outcome: "unknown", answer: `crane exit ${run.exitCode}: ${answer}` };
}
