/**
 * crane digest's outcomes. The stderr texts are built from the format strings of
 * github.com/google/go-containerregistry v0.20.2:
 * - pkg/crane/digest.go: `logs.Warn.Printf("HEAD request failed, falling back on GET: %v", err)` (log.LstdFlags
 *   date prefix, pkg/logs/logs.go), then the GET's error is returned;
 * - pkg/v1/remote/transport/error.go: `<METHOD> <url>: CODE: message` or `unexpected status code N Text[: body]`,
 *   HEAD: `(HEAD responses have no body, use GET for details)` (error_test.go has the same strings);
 * - cobra v1.7.0 command.go: `Error: <err>` on stderr, then cmd/crane/main.go exits 1.
 */
import { describe, expect, it } from "vitest";
import { finalCraneError, imageExistence, redactRegistryAnswer } from "../../.dagger/src/lib/deploy/image-existence";

const MANIFEST = "https://ghcr.io/v2/acme/observatory/analytics-api/manifests/1.4.0";
const HEAD_404 = `2025/06/02 10:00:00 HEAD request failed, falling back on GET: HEAD ${MANIFEST}: unexpected status code 404 Not Found (HEAD responses have no body, use GET for details)`;
const DIGEST = `sha256:${"ab12".repeat(16)}`;

describe("imageExistence (crane digest)", () => {
  it("exists: exit 0 and a digest", () => {
    expect(imageExistence({ exitCode: 0, stdout: `${DIGEST}\n`, stderr: "" })).toEqual({ outcome: "exists", digest: DIGEST });
  });

  it("exit 0 without a digest is unknown, not exists", () => {
    expect(imageExistence({ exitCode: 0, stdout: "", stderr: "" }).outcome).toBe("unknown");
  });

  it.each([
    ["MANIFEST_UNKNOWN after the HEAD's 404", `${HEAD_404}\nError: GET ${MANIFEST}: MANIFEST_UNKNOWN: manifest unknown; map[Tag:1.4.0]`],
    ["NAME_UNKNOWN (no such repository)", `Error: GET ${MANIFEST}: NAME_UNKNOWN: repository name not known to registry`],
    ["a bare 404 on the manifest GET", `${HEAD_404}\nError: GET ${MANIFEST}: unexpected status code 404 Not Found`],
  ])("absent: %s", (_, stderr) => {
    expect(imageExistence({ exitCode: 1, stdout: "", stderr })).toMatchObject({ outcome: "absent" });
  });

  it.each([
    ["401 on the GET after the HEAD's 404", `${HEAD_404}\nError: GET ${MANIFEST}: UNAUTHORIZED: authentication required`, "UNAUTHORIZED: authentication required"],
    ["403 on the GET after the HEAD's 404", `${HEAD_404}\nError: GET ${MANIFEST}: DENIED: permission_denied: read_package`, "DENIED"],
    ["429", `${HEAD_404}\nError: GET ${MANIFEST}: TOOMANYREQUESTS: rate limit exceeded`, "TOOMANYREQUESTS"],
    ["502 with an HTML body over several lines", `${HEAD_404}\nError: GET ${MANIFEST}: unexpected status code 502 Bad Gateway: <html>\n<body>bad gateway</body>\n</html>`, "502 Bad Gateway"],
    ["a 404 on the token endpoint, not the manifest", "Error: GET https://ghcr.io/token?scope=repository%3Aacme%3Apull&service=ghcr.io: unexpected status code 404 Not Found", "token"],
    ["a network error", 'Error: Get "https://ghcr.io/v2/": dial tcp: lookup ghcr.io on 10.0.0.10:53: no such host', "no such host"],
    ["both codes in one answer", `Error: GET ${MANIFEST}: multiple errors returned: UNAUTHORIZED: authentication required; MANIFEST_UNKNOWN: manifest unknown`, "multiple errors"],
  ])("unknown: %s", (_, stderr, expected) => {
    const result = imageExistence({ exitCode: 1, stdout: "", stderr });
    expect(result.outcome).toBe("unknown");
    expect(result.outcome !== "exists" && result.answer).toContain(expected);
    expect(result.outcome !== "exists" && result.answer).not.toContain("HEAD request failed");
  });

  it("a crash without crane's error line (or another exit status) is unknown", () => {
    expect(imageExistence({ exitCode: 137, stdout: "", stderr: "" })).toMatchObject({ outcome: "unknown", answer: "crane exited 137 without an error line" });
    expect(imageExistence({ exitCode: 2, stdout: "", stderr: `Error: GET ${MANIFEST}: MANIFEST_UNKNOWN: manifest unknown` }).outcome).toBe("unknown");
    expect(imageExistence({ exitCode: 1, stdout: "", stderr: HEAD_404 }).outcome).toBe("unknown");
  });

  it("the final error is the last Error: line to the end", () => {
    expect(finalCraneError(`${HEAD_404}\nError: GET x: a\nmore`)).toBe("GET x: a\nmore");
    expect(finalCraneError(HEAD_404)).toBeNull();
  });

  it("redacts credentials in the registry's answer", () => {
    const text = redactRegistryAnswer(
      'GET https://user:pw@ghcr.io/token?scope=repository%3Aacme%3Apull&service=ghcr.io&access_token=abc.def: Bearer eyJhbGciOi.x-y {"token":"s3cr3t"}',
    );
    expect(text).toBe('GET https://REDACTED@ghcr.io/token?scope=repository%3Aacme%3Apull&service=ghcr.io&access_token=REDACTED: Bearer REDACTED {"token":"REDACTED"}');
    expect(redactRegistryAnswer("x".repeat(2000))).toHaveLength(600);
  });
});
