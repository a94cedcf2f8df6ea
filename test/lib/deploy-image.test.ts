import { describe, expect, it } from "vitest";
import { deployableImage, pinnedDigest, requestedImage, resolvedDigest, scaleUpImage } from "../../.dagger/src/lib/deploy-image";
import { COMMIT_TAG } from "../../.dagger/src/lib/deploy/smoke";
import { UsageError } from "../../.dagger/src/lib/errors";

const REPO = "ghcr.io/acme/observatory/analytics-api";
const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const AT = { fn: "deploy", flag: "--image" };

describe("deployableImage", () => {
  it("accepts the configured repository by digest, dropping a tag beside the digest", () => {
    expect(deployableImage(`${REPO}@${D1}`, REPO, AT)).toEqual({ reference: `${REPO}@${D1}`, repository: REPO, digest: D1 });
    expect(deployableImage(`${REPO}:1.4.0@${D1}`, REPO, AT).reference).toBe(`${REPO}@${D1}`);
  });

  it("refuses a tag, another registry, another repository and garbage, naming the flag and the value", () => {
    expect(() => deployableImage(`${REPO}:1.4.0`, REPO, AT)).toThrow(`deploy --image: names a tag, not a digest; a tag can be moved after it was signed (found "${REPO}:1.4.0"`);
    expect(() => deployableImage(`docker.io/acme/observatory/analytics-api@${D1}`, REPO, AT)).toThrow(
      `deploy --image: is not from the configured repository ${REPO} (image.registry / image.repository); only images this repository's publish job pushed are deployed (found "docker.io/acme/observatory/analytics-api@${D1}"`,
    );
    expect(() => deployableImage(`${REPO}:1.4.0`, REPO, AT)).toThrow(UsageError);
    expect(() => deployableImage(`ghcr.io/evil/observatory/analytics-api@${D1}`, REPO, AT)).toThrow("is not from the configured repository");
    expect(() => deployableImage(`analytics-api@${D1}`, REPO, AT)).toThrow("is not from the configured repository");
    expect(() => deployableImage(`${REPO}@sha256:abc`, REPO, AT)).toThrow("deploy --image: is not an image reference: invalid image reference");
  });
});

describe("requestedImage (deploy --image)", () => {
  it("a digest is taken as is (a tag beside it kept for messages); a commit tag becomes a lookup in the configured repository", () => {
    expect(requestedImage(`${REPO}:main-0123456@${D1}`, REPO, AT, COMMIT_TAG)).toEqual({
      kind: "digest",
      image: { reference: `${REPO}@${D1}`, repository: REPO, digest: D1 },
      tag: "main-0123456",
    });
    expect(requestedImage(`${REPO}:release-1.4-0123456`, REPO, AT, COMMIT_TAG)).toEqual({
      kind: "commit-tag",
      reference: `${REPO}:release-1.4-0123456`,
      repository: REPO,
      tag: "release-1.4-0123456",
    });
  });

  it("refuses moving tags, a name without tag or digest, another registry or repository, naming the flag", () => {
    for (const tag of ["latest", "main", "1.4.0", "v1.4.0", "main-012345"]) {
      expect(() => requestedImage(`${REPO}:${tag}`, REPO, AT, COMMIT_TAG)).toThrow(`deploy --image: is not a commit tag: deploy accepts only what publish pushed for one commit; moving tags such as latest, main or a version move to other builds (found "${REPO}:${tag}"`);
    }
    expect(() => requestedImage(REPO, REPO, AT, COMMIT_TAG)).toThrow("has neither a tag nor a digest");
    expect(() => requestedImage("docker.io/acme/observatory/analytics-api:main-0123456", REPO, AT, COMMIT_TAG)).toThrow("is not from the configured repository");
    expect(() => requestedImage(`ghcr.io/evil/analytics-api@${D1}`, REPO, AT, COMMIT_TAG)).toThrow("is not from the configured repository");
  });
});

describe("scaleUpImage (a rollback's scale-up pulls what the spec names)", () => {
  it("a digest is scaled up as it is", () => {
    expect(pinnedDigest(`${REPO}@${D1}`)).toBe(D1);
    expect(scaleUpImage(`${REPO}@${D1}`, undefined, undefined)).toEqual({ kind: "pinned", image: `${REPO}@${D1}` });
  });

  it("a tag is re-pinned to the digest recorded for that very image at the switch", () => {
    expect(scaleUpImage(`${REPO}:1.3.0`, `${REPO}:1.3.0`, D2)).toEqual({ kind: "re-pin", image: `${REPO}@${D2}`, from: `${REPO}:1.3.0` });
  });

  it("refuses a tag with no record, a record about another image, or a malformed digest", () => {
    expect(pinnedDigest(`${REPO}:1.3.0`)).toBeUndefined();
    for (const [recordedImage, recordedDigest] of [
      [undefined, undefined],
      [`${REPO}:1.3.0`, ""],
      [`${REPO}:1.2.0`, D2],
      [`${REPO}:1.3.0`, "sha256:abc"],
    ] as const) {
      const decision = scaleUpImage(`${REPO}:1.3.0`, recordedImage, recordedDigest);
      expect(decision.kind).toBe("refuse");
      expect(decision.kind === "refuse" && decision.reason).toContain(`its Deployment names ${REPO}:1.3.0, a tag, not a digest`);
    }
  });
});

describe("resolvedDigest", () => {
  it("drops the tag and keeps the repository the registry resolved it in", () => {
    const digest = `sha256:${"ef".repeat(32)}`;
    expect(resolvedDigest("ghcr.io/acme/observatory/analytics-api:main-1a2b3c4", digest)).toEqual({
      reference: `ghcr.io/acme/observatory/analytics-api@${digest}`,
      repository: "ghcr.io/acme/observatory/analytics-api",
      digest,
    });
  });
});
