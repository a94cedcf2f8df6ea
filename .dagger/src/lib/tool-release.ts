/**
 * Official prebuilt tool releases: where each archive is, which file in it is the binary, and the shell
 * script that downloads the archive for the container's architecture, checks its SHA-256 against the
 * pin in versions.ts and unpacks the binary. The architecture is read inside the container (`uname -m`),
 * so the same pipeline serves amd64 and arm64 engines without asking the engine first.
 */
import { TOOL_RELEASES } from "../versions";

export type ReleasedTool = keyof typeof TOOL_RELEASES;
export type ReleaseArch = "x86_64" | "aarch64";

interface ReleaseAsset {
  /** Name of the binary the pipeline puts on PATH. */
  binary: string;
  url(version: string, arch: ReleaseArch): string;
  /** Path of the binary inside the unpacked archive. */
  member(version: string, arch: ReleaseArch): string;
}

/**
 * Release asset names and layouts, as the projects' release workflows publish them and as
 * taiki-e/install-action v2.86.5 manifests/<tool>.json `template` records them (`bin` absent = the
 * binary at the archive's root).
 */
export const RELEASE_ASSETS: Record<ReleasedTool, ReleaseAsset> = {
  cargoDeny: {
    binary: "cargo-deny",
    url: (v, arch) => `https://github.com/EmbarkStudios/cargo-deny/releases/download/${v}/cargo-deny-${v}-${arch}-unknown-linux-musl.tar.gz`,
    member: (v, arch) => `cargo-deny-${v}-${arch}-unknown-linux-musl/cargo-deny`,
  },
  cargoTarpaulin: {
    binary: "cargo-tarpaulin",
    url: (v, arch) => `https://github.com/xd009642/tarpaulin/releases/download/${v}/cargo-tarpaulin-${arch}-unknown-linux-musl.tar.gz`,
    member: () => "cargo-tarpaulin",
  },
  cargoAudit: {
    binary: "cargo-audit",
    url: (v, arch) => `https://github.com/rustsec/rustsec/releases/download/cargo-audit/v${v}/cargo-audit-${auditTarget(arch)}-v${v}.tgz`,
    member: (v, arch) => `cargo-audit-${auditTarget(arch)}-v${v}/cargo-audit`,
  },
};

function auditTarget(arch: ReleaseArch): string {
  return arch === "x86_64" ? "x86_64-unknown-linux-musl" : "aarch64-unknown-linux-gnu";
}

/** Where the unpacked binary is left: `${TOOL_BIN_DIR}/<binary>`. */
export const TOOL_BIN_DIR = "/opt/tool/bin";

export interface PinnedRelease {
  version: string;
  sha256: Record<ReleaseArch, string>;
  /** Overrides the archive URLs (tests serve archives from file:// URLs). */
  url?: Record<ReleaseArch, string>;
}

/** The pin of `tool` in versions.ts, refusing a configured version that has no recorded digest. */
export function pinnedRelease(tool: ReleasedTool, configuredVersion: string): PinnedRelease {
  const pin = TOOL_RELEASES[tool];
  if (configuredVersion !== pin.version) {
    throw new Error(
      `tools.${tool}: version ${configuredVersion} has no SHA-256 in the module's versions.ts (TOOL_RELEASES.${tool} pins ${pin.version}); ` +
        `use ${pin.version}, or move the pin and its digests in versions.ts together`,
    );
  }
  return { version: pin.version, sha256: { x86_64: pin.x86_64.sha256, aarch64: pin.aarch64.sha256 } };
}

/**
 * `sh -euc` script: picks the archive for `uname -m`, downloads it, compares its SHA-256 with the
 * pin (a mismatch exits 1 naming both digests and the URL, before anything is unpacked), then leaves
 * the binary in `binDir`. Needs curl, sha256sum and tar (all in the official Rust image).
 */
export function releaseInstallScript(tool: ReleasedTool, release: PinnedRelease, binDir = TOOL_BIN_DIR): string {
  const asset = RELEASE_ASSETS[tool];
  const label = `${asset.binary} ${release.version}`;
  const archCase = (["x86_64", "aarch64"] as const).map((arch) =>
    [
      `  ${arch === "aarch64" ? "aarch64|arm64" : "x86_64|amd64"})`,
      `    url='${release.url?.[arch] ?? asset.url(release.version, arch)}'`,
      `    want='${release.sha256[arch]}'`,
      `    member='${asset.member(release.version, arch)}' ;;`,
    ].join("\n"),
  );
  return [
    'arch="$(uname -m)"',
    'case "$arch" in',
    ...archCase,
    `  *) echo "${label}: no official release binary is pinned for architecture $arch" >&2; exit 1 ;;`,
    "esac",
    "work=$(mktemp -d)",
    'curl --fail --silent --show-error --location --retry 3 --output "$work/archive" "$url"',
    `got="$(sha256sum "$work/archive" | cut -d ' ' -f 1)"`,
    'if [ "$got" != "$want" ]; then',
    `  echo "${label}: SHA-256 mismatch for $url: expected $want (versions.ts), got $got" >&2`,
    "  exit 1",
    "fi",
    'tar -xzf "$work/archive" -C "$work"',
    `mkdir -p ${binDir}`,
    `install -m 0755 "$work/$member" ${binDir}/${asset.binary}`,
    'rm -rf "$work"',
  ].join("\n");
}
