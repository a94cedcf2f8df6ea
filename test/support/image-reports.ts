/** Outputs for session tests of the image stage: an OCI layout to measure, Trivy image reports, Syft SBOMs. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const REPORTS = fileURLToPath(new URL("../fixtures/reports/", import.meta.url));
const reportFixture = (path: string): string => readFileSync(`${REPORTS}${path}`, "utf8");

/** Genuine Trivy image scan without results (every target skipped). */
export const TRIVY_IMAGE_CLEAN = reportFixture("trivy/image-alpine39-no-results.json");
/** Genuine Syft SPDX 2.3 document of an image source. */
export const SPDX_IMAGE = reportFixture("syft/spdx23-image-golden-redacted.json");
export const CYCLONEDX_IMAGE = JSON.stringify({
  bomFormat: "CycloneDX",
  specVersion: "1.5",
  metadata: { tools: { components: [{ name: "syft", version: "1.16.0" }] }, component: { name: "analytics-api" } },
  components: [{ name: "libc6", version: "2.36-9+deb12u9" }],
});

export interface LayoutImage {
  /** os/arch[/variant] */
  platform: string;
  /** Layer blob sizes in bytes; the config blob adds 1,500 bytes. */
  layers: number[];
}

/** index.json and manifest blobs (path inside the layout -> JSON) of an OCI layout holding these platform images. */
export function ociLayout(images: LayoutImage[]): Map<string, string> {
  const files = new Map<string, string>();
  const manifests = images.map((img, i) => {
    const [os, architecture, variant] = img.platform.split("/");
    const manifestHex = String.fromCharCode(97 + i).repeat(64);
    files.set(
      `blobs/sha256/${manifestHex}`,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${"c".repeat(64)}`, size: 1500 },
        layers: img.layers.map((size, l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${String(l % 10).repeat(64)}`, size })),
      }),
    );
    return {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: `sha256:${manifestHex}`,
      size: 400,
      platform: { os, architecture, ...(variant ? { variant } : {}) },
    };
  });
  files.set("index.json", JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
  return files;
}

/** A 123 MB linux/amd64 image. */
export const HEALTHY_LAYOUT = ociLayout([{ platform: "linux/amd64", layers: [80_000_000, 43_000_000] }]);

/** Files of a healthy image-stage run: a 123 MB image, a clean Trivy scan, a genuine SBOM. */
export function cleanImageFile(path: string): string | undefined {
  if (path.startsWith("/layout/")) return HEALTHY_LAYOUT.get(path.slice("/layout/".length));
  switch (path) {
    case "/reports/trivy-image.json":
      return TRIVY_IMAGE_CLEAN;
    case "/sbom/sbom.spdx.json":
      return SPDX_IMAGE;
    case "/sbom/sbom.cdx.json":
      return CYCLONEDX_IMAGE;
  }
  return undefined;
}
