import { describe, it, expect } from "vitest";
import {
  parseImageReference,
  formatImageReference,
  withTag,
  defaultImageRepository,
  imageRepository,
  validateRepositoryPath,
  validateRegistry,
} from "../../.dagger/src/lib/image-ref";

const DIGEST = `sha256:${"ab12".repeat(16)}`;

describe("parseImageReference", () => {
  it.each([
    ["ghcr.io/acme/observatory/analytics-api:1.2.3", { registry: "ghcr.io", repository: "acme/observatory/analytics-api", tag: "1.2.3" }],
    [`ghcr.io/acme/app@${DIGEST}`, { registry: "ghcr.io", repository: "acme/app", digest: DIGEST }],
    [`ghcr.io/acme/app:main@${DIGEST}`, { registry: "ghcr.io", repository: "acme/app", tag: "main", digest: DIGEST }],
    ["localhost:5000/app:dev", { registry: "localhost:5000", repository: "app", tag: "dev" }],
    ["localhost/app", { registry: "localhost", repository: "app" }],
    ["[::1]:5000/a/b:t", { registry: "[::1]:5000", repository: "a/b", tag: "t" }],
    ["alpine:3.20.3", { registry: "docker.io", repository: "library/alpine", tag: "3.20.3" }],
    ["aquasec/trivy:0.57.1", { registry: "docker.io", repository: "aquasec/trivy", tag: "0.57.1" }],
    ["index.docker.io/redis", { registry: "docker.io", repository: "library/redis" }],
    ["gcr.io/go-containerregistry/crane/debug:v0.20.2", { registry: "gcr.io", repository: "go-containerregistry/crane/debug", tag: "v0.20.2" }],
    ["registry.example.com/a__b/c.d-e---f:Feature-UPPER", { registry: "registry.example.com", repository: "a__b/c.d-e---f", tag: "Feature-UPPER" }],
  ])("%s", (text, expected) => {
    expect(parseImageReference(text)).toEqual(expected);
  });

  it("formats back what it parsed", () => {
    const text = `ghcr.io/acme/app:1.2@${DIGEST}`;
    expect(formatImageReference(parseImageReference(text))).toBe(text);
  });

  it.each([
    ["", /invalid image reference "": it is empty/],
    ["ghcr.io/Acme/App:1", /repository names must be lowercase \("Acme"; use "acme\/app"\)/],
    ["Acme/app", /must be lowercase/],
    ["ghcr.io/acme/app:-bad", /tag "-bad" must be 1 to 128/],
    [`ghcr.io/acme/app:${"a".repeat(129)}`, /must be 1 to 128/],
    ["ghcr.io/acme/app@sha256:abc", /digest "sha256:abc" is not sha256: followed by 64/],
    [`ghcr.io/acme/app@sha512:${"a".repeat(128)}`, /is not sha256/],
    [`ghcr.io/acme/app@sha256:${"AB12".repeat(16)}`, /lowercase hex/],
    ["ghcr.io/acme//app", /component "" must be lowercase letters/],
    ["ghcr.io/acme/-app", /component "-app"/],
    ["ghcr.io/acme/app_", /component "app_"/],
    ["ghcr.io/acme/app:", /tag "" must be/],
    [":tag", /the repository name is missing/],
    ["ghcr.io/acme/my app", /whitespace/],
    [`ghcr.io/${"a".repeat(250)}`, /longer than 255/],
    ["bad_host.io/app", /invalid registry "bad_host.io"/],
  ])("rejects %j", (text, message) => {
    expect(() => parseImageReference(text)).toThrow(message);
  });
});

describe("withTag", () => {
  it("appends a validated tag", () => {
    expect(withTag("ghcr.io/acme/app", "pr-42")).toBe("ghcr.io/acme/app:pr-42");
  });

  it("refuses a repository that already has a tag, or a bad tag", () => {
    expect(() => withTag("ghcr.io/acme/app:1", "2")).toThrow('expected a repository without tag or digest, got "ghcr.io/acme/app:1"');
    expect(() => withTag("ghcr.io/acme/app", "-0123456")).toThrow('invalid tag "-0123456"');
    expect(() => withTag("ghcr.io/Acme/app", "1")).toThrow(/lowercase/);
  });
});

describe("default repository", () => {
  it("lowercases GITHUB_REPOSITORY", () => {
    expect(defaultImageRepository("Globalbusinessadvisors/LLM-Observatory")).toBe(
      "ghcr.io/globalbusinessadvisors/llm-observatory/analytics-api",
    );
    expect(imageRepository({ registry: "ghcr.io", githubRepository: "Acme/Obs" })).toBe("ghcr.io/acme/obs/analytics-api");
  });

  it("uses the configured repository path verbatim", () => {
    expect(imageRepository({ registry: "registry.example.com:5000", repository: "team/api" })).toBe(
      "registry.example.com:5000/team/api",
    );
    expect(() => imageRepository({ registry: "ghcr.io", repository: "Team/api" })).toThrow(/must be lowercase/);
  });

  it("explains a missing or malformed GITHUB_REPOSITORY", () => {
    expect(() => imageRepository({ registry: "ghcr.io" })).toThrow("GITHUB_REPOSITORY is not set (set image.repository in the config)");
    expect(() => defaultImageRepository("just-a-name")).toThrow('GITHUB_REPOSITORY="just-a-name" is not owner/repo');
    expect(() => defaultImageRepository("acme/.hidden")).toThrow(/component ".hidden"/);
  });

  it("validates registries and paths directly", () => {
    expect(() => validateRegistry("ghcr.io:443")).not.toThrow();
    expect(() => validateRegistry("https://ghcr.io")).toThrow(/invalid registry/);
    expect(() => validateRepositoryPath("")).toThrow(/empty/);
  });
});
