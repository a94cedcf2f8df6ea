import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import {
  cleanupReport,
  expiredCiItems,
  splitManifests,
  indexChildren,
  manifestsToRead,
  planRetention,
  tagStream,
  type ImageVersion,
  type RetentionInput,
} from "../../.dagger/src/lib/retention";
import { ghcrPackage, parseArtifacts, parseCaches, parsePackageVersions } from "../../.dagger/src/lib/github-packages";

const digest = (seed: string) => `sha256:${createHash("sha256").update(seed).digest("hex")}`;
const NOW = new Date("2026-11-29T02:00:00Z");
const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000).toISOString();
const REPO = "ghcr.io/acme/observatory/analytics-api";

/**
 * A package listing as GitHub's API answers it (GET /orgs/{org}/packages/container/{package}/versions):
 * every push of publish is a multi-platform index (tagged) with two untagged platform manifests, and a cosign
 * signature tag; 25 commits on main, 3 pull requests, a release, plus old untagged leftovers.
 */
function listing() {
  const versions: object[] = [];
  const manifests = new Map<string, string[]>();
  let id = 1000;
  const push = (seed: string, tags: string[], age: number) => {
    const index = digest(`${seed}/index`);
    const children = [digest(`${seed}/amd64`), digest(`${seed}/arm64`)];
    manifests.set(index, children);
    for (const child of children) manifests.set(child, []);
    for (const child of children) versions.push(entry(id++, child, [], age));
    versions.push(entry(id++, index, tags, age));
    versions.push(entry(id++, digest(`${seed}/sig`), [`sha256-${index.slice(7)}.sig`], age));
    return { index, children };
  };
  const entry = (n: number, name: string, tags: string[], age: number) => ({
    id: n,
    name,
    url: `https://api.github.com/orgs/acme/packages/container/observatory%2Fanalytics-api/versions/${n}`,
    package_html_url: "https://github.com/orgs/acme/packages/container/package/observatory%2Fanalytics-api",
    created_at: daysAgo(age),
    updated_at: daysAgo(age),
    html_url: `https://github.com/orgs/acme/packages/container/observatory%2Fanalytics-api/${n}`,
    metadata: { package_type: "container", container: { tags } },
  });
  const main: Array<{ index: string; children: string[] }> = [];
  for (let i = 0; i < 25; i++) main.push(push(`main-${i}`, i === 0 ? ["main", `main-${i.toString(16).padStart(7, "a")}`] : [`main-${i.toString(16).padStart(7, "a")}`], i * 3));
  const release = push("release", ["1.4.2", "1.4"], 200);
  const oldRelease = push("old-release", ["1.3.0"], 400);
  const prs = [1, 2, 3].map((n) => push(`pr-${n}`, [`pr-${n}`], 30 + n));
  const stale = digest("stale-untagged");
  versions.push(entry(id++, stale, [], 90));
  const fresh = digest("fresh-untagged");
  versions.push(entry(id++, fresh, [], 2));
  return { text: JSON.stringify(versions), manifests, main, release, oldRelease, prs, stale, fresh };
}

function input(overrides: Partial<RetentionInput> = {}) {
  const l = listing();
  const versions = parsePackageVersions(l.text, "versions");
  const base: RetentionInput = {
    versions,
    deployed: [
      { environment: "dev", image: `${REPO}@${l.main[0]!.index}` },
      { environment: "staging", image: `${REPO}:main-0000014@${l.main[20]!.index}` },
      { environment: "production", image: `${REPO}@${l.main[24]!.children[0]}` },
    ],
    manifests: l.manifests,
    policy: { untaggedDays: 14, keepTagsPerStream: 10, now: NOW },
  };
  return { l, input: { ...base, ...overrides } };
}

const decisionOf = (plan: ReturnType<typeof planRetention>, d: string) => plan.find((x) => x.version.digest === d)!;

describe("image retention", () => {
  it("classifies publish's and cosign's tags", () => {
    expect(tagStream("1.4.2")).toEqual({ kind: "release" });
    expect(tagStream("v1.4.2")).toEqual({ kind: "release" });
    expect(tagStream("main-abc1234")).toEqual({ kind: "stream", stream: "main" });
    expect(tagStream("release-1.4-abc1234")).toEqual({ kind: "stream", stream: "release-1.4" });
    expect(tagStream("pr-42")).toEqual({ kind: "stream", stream: "pr" });
    expect(tagStream("latest")).toEqual({ kind: "moving" });
    expect(tagStream("1.4")).toEqual({ kind: "moving" });
    expect(tagStream(`sha256-${"a".repeat(64)}.att`)).toEqual({ kind: "signature", subject: `sha256:${"a".repeat(64)}` });
  });

  it("keeps every deployed, released or recent version and the platform manifests of kept indexes", () => {
    const { l, input: i } = input();
    const plan = planRetention(i);
    // deployed: dev by digest, staging by tag@digest (beyond the newest 10 of main), production by a platform manifest
    expect(decisionOf(plan, l.main[0]!.index).reasons).toContain("deployed in dev");
    expect(decisionOf(plan, l.main[20]!.index)).toMatchObject({ keep: true, reasons: ["deployed in staging"] });
    expect(decisionOf(plan, l.main[24]!.children[0]!)).toMatchObject({ keep: true, reasons: ["deployed in production"] });
    // the staging index's untagged platform images and its signature stay with it
    for (const child of l.main[20]!.children) expect(decisionOf(plan, child)).toMatchObject({ keep: true, reasons: [`listed by kept index ${l.main[20]!.index}`] });
    // releases, however old, with their platform manifests
    for (const r of [l.release, l.oldRelease]) {
      expect(decisionOf(plan, r.index).keep).toBe(true);
      for (const child of r.children) expect(decisionOf(plan, child).keep).toBe(true);
    }
    expect(decisionOf(plan, l.oldRelease.index).reasons).toEqual(["release tag 1.3.0"]);
    // the newest 10 of main: kept; the 11th: gone, with its children and its signature
    expect(decisionOf(plan, l.main[9]!.index).keep).toBe(true);
    expect(decisionOf(plan, l.main[10]!.index)).toMatchObject({ keep: false });
    for (const child of l.main[10]!.children) expect(decisionOf(plan, child)).toMatchObject({ keep: false });
    const sigOf10 = plan.find((d) => d.version.tags[0] === `sha256-${l.main[10]!.index.slice(7)}.sig`)!;
    expect(sigOf10.keep).toBe(false);
    const sigOf0 = plan.find((d) => d.version.tags[0] === `sha256-${l.main[0]!.index.slice(7)}.sig`)!;
    expect(sigOf0).toMatchObject({ keep: true, reasons: [`signature of kept ${l.main[0]!.index}`] });
    // untagged leftovers: old ones go, young ones stay
    expect(decisionOf(plan, l.stale)).toMatchObject({ keep: false, reasons: ["untagged, 90 day(s) old (>= 14), listed by no kept index"] });
    expect(decisionOf(plan, l.fresh)).toMatchObject({ keep: true, reasons: ["untagged, 2 day(s) old (< 14)"] });
    // pull requests are one stream: 3 < 10, all kept
    for (const pr of l.prs) expect(decisionOf(plan, pr.index).keep).toBe(true);
  });

  it("never deletes a deployed, released or kept-index digest, whatever the policy", () => {
    const { l, input: i } = input({ policy: { untaggedDays: 1, keepTagsPerStream: 1, now: NOW } });
    const plan = planRetention(i);
    const deleted = new Set(plan.filter((d) => !d.keep).map((d) => d.version.digest));
    const protectedDigests = [
      l.main[0]!.index, l.main[20]!.index, l.main[24]!.children[0]!, l.release.index, l.oldRelease.index,
      ...l.main[0]!.children, ...l.main[20]!.children, ...l.release.children, ...l.oldRelease.children,
    ];
    for (const d of protectedDigests) expect(deleted.has(d), d).toBe(false);
    expect(deleted.size).toBeGreaterThan(50);
  });

  it("asks for the manifest of every kept version and refuses to decide without one", () => {
    const { l, input: i } = input();
    const needed = manifestsToRead(i);
    expect(needed).toContain(l.release.index);
    expect(needed).toContain(l.main[20]!.index);
    expect(needed).not.toContain(l.stale);
    const missing = new Map(l.manifests);
    missing.delete(l.release.index);
    expect(() => planRetention({ ...i, manifests: missing })).toThrow(`the manifest of kept version ${l.release.index} was not read`);
  });

  it("rejects a bad policy and a listing without digests", () => {
    const { input: i } = input();
    expect(() => planRetention({ ...i, policy: { ...i.policy, keepTagsPerStream: 0 } })).toThrow(/keepTagsPerStream must be a whole number >= 1, found 0/);
    const broken: ImageVersion = { id: "1", digest: "latest", tags: [], createdAt: NOW };
    expect(() => planRetention({ ...i, versions: [broken] })).toThrow(/version 1 has no sha256 digest/);
  });
});

describe("manifests as crane prints them", () => {
  it("lists an OCI index's platform manifests, none for an image manifest", () => {
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: digest("a"), size: 1, platform: { architecture: "amd64", os: "linux" } },
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: digest("b"), size: 1, platform: { architecture: "unknown", os: "unknown" } },
      ],
    });
    expect(indexChildren(index, "x")).toEqual([digest("a"), digest("b")]);
    const image = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { digest: digest("c") }, layers: [] });
    expect(indexChildren(image, "x")).toEqual([]);
    expect(() => indexChildren("unauthorized", "crane manifest repo@sha256:1")).toThrow(/crane manifest repo@sha256:1: the manifest is not JSON/);
  });
});

describe("GitHub listings", () => {
  it("reads artifacts and caches, leaving expired artifacts out", () => {
    const artifacts = parseArtifacts(
      JSON.stringify({
        total_count: 3,
        artifacts: [
          { id: 11, node_id: "x", name: "benchmark-baseline", size_in_bytes: 5120, expired: false, created_at: daysAgo(70), expires_at: daysAgo(-20), workflow_run: { id: 1, head_branch: "main" } },
          { id: 12, node_id: "y", name: "sbom-and-references", size_in_bytes: 9000, expired: false, created_at: daysAgo(40) },
          { id: 13, node_id: "z", name: "sbom-and-references", size_in_bytes: 9000, expired: true, created_at: daysAgo(100) },
        ],
      }),
      "artifacts",
    );
    expect(artifacts.items.map((a) => a.id)).toEqual(["11", "12"]);
    const caches = parseCaches(
      JSON.stringify({ total_count: 1, actions_caches: [{ id: 5, ref: "refs/heads/main", key: "cargo-abc", version: "v", last_accessed_at: daysAgo(9), created_at: daysAgo(30), size_in_bytes: 1 }] }),
      "caches",
    );
    expect(caches.items[0]).toMatchObject({ id: "5", name: "cargo-abc" });
    expect(expiredCiItems(caches.items, 7, NOW).map((c) => c.id)).toEqual(["5"]);
    // the newest benchmark baseline survives its age; other old artifacts go
    expect(expiredCiItems(artifacts.items, 30, NOW, ["benchmark-baseline"]).map((a) => a.id)).toEqual(["12"]);
    expect(() => parseArtifacts('{"message":"Bad credentials"}', "GET artifacts")).toThrow(/GET artifacts: expected \{ total_count, artifacts \}/);
  });

  it("names the package of a ghcr.io repository", () => {
    expect(ghcrPackage(REPO)).toEqual({ owner: "acme", packageName: "observatory/analytics-api" });
    expect(() => ghcrPackage("docker.io/acme/api")).toThrow(/not a ghcr\.io image repository/);
  });
});

describe("cleanup report and crane output", () => {
  it("splits the crane script's output by digest and fails on a missing manifest", () => {
    const image = JSON.stringify({ schemaVersion: 2, config: { digest: digest("c") }, layers: [] });
    const index = JSON.stringify({ schemaVersion: 2, manifests: [{ digest: digest("a") }] });
    const out = `=== manifest ${digest("i")}\n${index}\n=== manifest ${digest("a")}\n${image}`;
    expect(splitManifests(out, [digest("i"), digest("a")])).toEqual(new Map([[digest("i"), [digest("a")]], [digest("a"), []]]));
    expect(() => splitManifests(out, [digest("z")])).toThrow(`crane printed no manifest for ${digest("z")}`);
  });

  it("says what a dry run would delete and why each kept version stays", () => {
    const { l, input: i } = input();
    const report = cleanupReport({
      repository: REPO,
      applied: false,
      images: planRetention(i),
      artifacts: [],
      caches: [],
      policy: { untaggedDays: 14, keepTagsPerStream: 10, artifactDays: 30, cacheDays: 7 },
    });
    expect(report).toContain("would be deleted (dry run: call with --apply to delete)");
    expect(report).toContain(`| \`${l.oldRelease.index.slice(0, 19)}\` | \`1.3.0\` |`);
    expect(report).toContain("release tag 1.3.0");
    expect(report).toContain("deployed in staging");
  });
});
