import { describe, it, expect } from "vitest";
import { sizeVerdict, formatMegabytes, measureOciLayout } from "../../.dagger/src/lib/image-size";

describe("formatMegabytes", () => {
  it("keeps MB for gate rows", () => {
    expect(formatMegabytes(1_234_500_000)).toBe("1234.5 MB");
    expect(formatMegabytes(499_999_999)).toBe("499.9 MB");
    expect(formatMegabytes(500_000_001)).toBe("500.0 MB");
  });

  it.each([-1, Number.NaN, Infinity, 1.5])("rejects %s", (bytes) => {
    expect(() => formatMegabytes(bytes)).toThrow(/whole, non-negative number of bytes/);
  });
});

describe("sizeVerdict", () => {
  it("passes images under the limit", () => {
    const verdict = sizeVerdict([{ platform: "linux/amd64", bytes: 123_400_000 }], 500);
    expect(verdict).toEqual({
      passed: true,
      rows: [{ platform: "linux/amd64", bytes: 123_400_000, passed: true, size: "123.4 MB" }],
      summary: "linux/amd64 123.4 MB (limit 500 MB)",
      message: "image size OK: linux/amd64 123.4 MB (limit 500 MB)",
    });
  });

  it("fails and names the platform over the limit", () => {
    const verdict = sizeVerdict(
      [
        { platform: "linux/amd64", bytes: 480_000_000 },
        { platform: "linux/arm64/v8", bytes: 612_345_678 },
      ],
      500,
    );
    expect(verdict.passed).toBe(false);
    expect(verdict.rows.map((row) => row.passed)).toEqual([true, false]);
    expect(verdict.summary).toBe("linux/amd64 480.0 MB (limit 500 MB); linux/arm64/v8 612.3 MB (limit 500 MB)");
    expect(verdict.message).toBe("image too large: linux/arm64/v8 is 612.3 MB (612,345,678 bytes), not under the 500 MB limit");
  });

  it("treats the limit as exclusive, in decimal MB", () => {
    expect(sizeVerdict([{ platform: "linux/amd64", bytes: 499_999_999 }], 500).passed).toBe(true);
    expect(sizeVerdict([{ platform: "linux/amd64", bytes: 500_000_000 }], 500).passed).toBe(false);
    // 500 MiB is over 500 MB
    expect(sizeVerdict([{ platform: "linux/amd64", bytes: 500 * 1024 * 1024 }], 500).passed).toBe(false);
    expect(sizeVerdict([{ platform: "linux/amd64", bytes: 1_000_000 }], 1.5).summary).toBe("linux/amd64 1.0 MB (limit 1.5 MB)");
  });

  it.each([
    [[], 500, /no platform sizes were measured/],
    [[{ platform: "linux/amd64", bytes: -5 }], 500, /image size of linux\/amd64 must be a whole, non-negative number of bytes, got -5/],
    [[{ platform: "linux/amd64", bytes: Number.NaN }], 500, /got NaN/],
    [[{ platform: "linux/amd64", bytes: 0 }], 500, /0 bytes, which is a failed measurement/],
    [[{ platform: "amd64", bytes: 1 }], 500, /platform "amd64" is not os\/arch\[\/variant\]/],
    [[{ platform: "linux/amd64", bytes: 1 }, { platform: "linux/amd64", bytes: 2 }], 500, /listed twice/],
    [[{ platform: "linux/amd64", bytes: 1 }], 0, /limit must be a positive number of MB, got 0/],
    [[{ platform: "linux/amd64", bytes: 1 }], Number.NaN, /got NaN/],
  ] as const)("rejects bad input %#", (sizes, limit, message) => {
    expect(() => sizeVerdict(sizes as never, limit)).toThrow(message);
  });
});

const hex = (c: string) => c.repeat(64);
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

function layout(files: Record<string, unknown>) {
  return async (path: string) => {
    if (!(path in files)) throw new Error(`no such file ${path}`);
    const value = files[path];
    return typeof value === "string" ? value : JSON.stringify(value);
  };
}

const manifest = (configDigest: string, configSize: number, layerSizes: number[]) => ({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: configSize },
  layers: layerSizes.map((size, i) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: `sha256:${hex(String(i))}`, size })),
});

describe("measureOciLayout", () => {
  it("sums config and layers of a single-platform export, platform from the config", async () => {
    const read = layout({
      "index.json": { schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, digest: `sha256:${hex("a")}`, size: 500 }] },
      [`blobs/sha256/${hex("a")}`]: manifest(`sha256:${hex("c")}`, 1_500, [30_000_000, 2_000_000]),
      [`blobs/sha256/${hex("c")}`]: { os: "linux", architecture: "amd64", rootfs: { type: "layers", diff_ids: [] } },
    });
    expect(await measureOciLayout(read)).toEqual([{ platform: "linux/amd64", bytes: 32_001_500, manifestDigest: `sha256:${hex("a")}` }]);
  });

  it("follows a nested multi-platform index and skips attestation manifests", async () => {
    const read = layout({
      "index.json": { schemaVersion: 2, manifests: [{ mediaType: OCI_INDEX, digest: `sha256:${hex("1")}`, size: 900 }] },
      [`blobs/sha256/${hex("1")}`]: {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: `sha256:${hex("a")}`, size: 500, platform: { os: "linux", architecture: "amd64" } },
          { mediaType: OCI_MANIFEST, digest: `sha256:${hex("b")}`, size: 500, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
          {
            mediaType: OCI_MANIFEST,
            digest: `sha256:${hex("d")}`,
            size: 500,
            platform: { os: "unknown", architecture: "unknown" },
            annotations: { "vnd.docker.reference.type": "attestation-manifest" },
          },
        ],
      },
      [`blobs/sha256/${hex("a")}`]: manifest(`sha256:${hex("c")}`, 1_000, [100_000_000]),
      [`blobs/sha256/${hex("b")}`]: manifest(`sha256:${hex("e")}`, 2_000, [90_000_000, 10]),
    });
    const measured = await measureOciLayout(read);
    expect(measured.map(({ platform, bytes }) => ({ platform, bytes }))).toEqual([
      { platform: "linux/amd64", bytes: 100_001_000 },
      { platform: "linux/arm64/v8", bytes: 90_002_010 },
    ]);
    expect(sizeVerdict(measured, 500).summary).toBe("linux/amd64 100.0 MB (limit 500 MB); linux/arm64/v8 90.0 MB (limit 500 MB)");
  });

  it.each([
    ["missing index.json", {}, /cannot read index\.json: no such file index\.json/],
    ["truncated index.json", { "index.json": '{"schemaVersion": 2, "manif' }, /index\.json is not valid JSON/],
    ["index without manifests", { "index.json": { schemaVersion: 2 } }, /index\.json has no manifests array/],
    ["empty index", { "index.json": { schemaVersion: 2, manifests: [] } }, /lists no image manifest/],
    ["bad digest", { "index.json": { manifests: [{ digest: "sha256:../../etc", size: 1 }] } }, /digest "sha256:\.\.\/\.\.\/etc" is not/],
    ["negative size", { "index.json": { manifests: [{ digest: `sha256:${hex("a")}`, size: -1 }] } }, /manifests\[0\]\.size must be a whole/],
    [
      "missing manifest blob",
      { "index.json": { manifests: [{ mediaType: OCI_MANIFEST, digest: `sha256:${hex("a")}`, size: 1 }] } },
      /cannot read blobs\/sha256\/a{64}/,
    ],
    [
      "no platform anywhere",
      {
        "index.json": { manifests: [{ mediaType: OCI_MANIFEST, digest: `sha256:${hex("a")}`, size: 1 }] },
        [`blobs/sha256/${hex("a")}`]: manifest(`sha256:${hex("c")}`, 1, [1]),
        [`blobs/sha256/${hex("c")}`]: { rootfs: {} },
      },
      /cannot tell the platform of blobs\/sha256\/a{64}/,
    ],
    [
      "not an image",
      {
        "index.json": { manifests: [{ mediaType: "application/vnd.cncf.helm.config.v1+json", digest: `sha256:${hex("a")}`, size: 1 }] },
        [`blobs/sha256/${hex("a")}`]: {},
      },
      /has media type application\/vnd\.cncf\.helm\.config\.v1\+json, not an image manifest or index/,
    ],
  ])("fails on %s", async (_label, files, message) => {
    await expect(measureOciLayout(layout(files))).rejects.toThrow(message);
  });
});
