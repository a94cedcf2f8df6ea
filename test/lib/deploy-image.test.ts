import { describe, expect, it } from "vitest";
import { deployableImage, digestFromPublished } from "../../.dagger/src/lib/deploy-image";

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
    expect(() => deployableImage(`${REPO}:1.4.0`, REPO, AT)).toThrow(`deploy --image: "${REPO}:1.4.0" names a tag, not a digest`);
    expect(() => deployableImage(`docker.io/acme/observatory/analytics-api@${D1}`, REPO, AT)).toThrow(
      `deploy --image: "docker.io/acme/observatory/analytics-api@${D1}" is not from the configured repository ${REPO}`,
    );
    expect(() => deployableImage(`ghcr.io/evil/observatory/analytics-api@${D1}`, REPO, AT)).toThrow("is not from the configured repository");
    expect(() => deployableImage(`analytics-api@${D1}`, REPO, AT)).toThrow("is not from the configured repository");
    expect(() => deployableImage(`${REPO}@sha256:abc`, REPO, AT)).toThrow("deploy --image: invalid image reference");
  });
});

describe("digestFromPublished", () => {
  const record = `${REPO}:1.4.0@${D1}\n${REPO}:1.4@${D1}\n${REPO}:main-0123456@${D1}\n`;

  it("resolves the digest publish recorded, optionally for a given tag", () => {
    expect(digestFromPublished(record, REPO, AT)).toEqual({ reference: `${REPO}@${D1}`, repository: REPO, digest: D1, tag: "1.4.0" });
    expect(digestFromPublished(record, REPO, AT, "main-0123456").reference).toBe(`${REPO}@${D1}`);
  });

  it("refuses an empty record, a missing tag, two digests, a foreign line and a line without a tag", () => {
    expect(() => digestFromPublished("\n", REPO, AT)).toThrow("the publish record is empty");
    expect(() => digestFromPublished(record, REPO, AT, "2.0.0")).toThrow('tag "2.0.0" is not in the publish record (recorded: 1.4.0, 1.4, main-0123456)');
    expect(() => digestFromPublished(`${REPO}:1.4.0@${D1}\n${REPO}:1.4@${D2}`, REPO, AT)).toThrow("names 2 different digests");
    expect(() => digestFromPublished(`ghcr.io/evil/app:1.4.0@${D1}`, REPO, AT)).toThrow("is not from the configured repository");
    expect(() => digestFromPublished(`${REPO}@${D1}`, REPO, AT)).toThrow("is not a publish record line");
  });
});
