/**
 * Release notes from CHANGELOG.md: the body of the level-2 section whose heading names the version,
 * in the forms `## [1.2.3] - 2024-05-01` (Keep a Changelog), `## v1.2.3`, `## 1.2.3`, `## [v1.2.3]`.
 * `tag` may be `v1.2.3`, `1.2.3` or `refs/tags/v1.2.3`.
 */
import { githubCommitUrl } from "./slack";

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function normaliseVersion(tag: string): string {
  return tag.trim().replace(/^refs\/tags\//, "").replace(/^v(?=\d)/, "");
}

/** The section's text without its heading, trimmed; null when no section names the version. */
export function releaseNotesFromChangelog(changelogText: string, tag: string): string | null {
  const version = normaliseVersion(tag);
  if (!version) throw new Error(`invalid release tag ${JSON.stringify(tag)}`);
  const heading = new RegExp(`^##\\s+\\[?v?${escapeRegExp(version)}\\]?(?=\\s|$)`);
  const lines = changelogText.split(/\r?\n/);

  let inFence = false;
  let start = -1;
  let end = lines.length;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index];
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    if (inFence) continue;
    if (start === -1) {
      if (heading.test(line)) start = index + 1;
    } else if (/^#{1,2}\s/.test(line)) {
      end = index;
      break;
    }
  }
  if (start === -1) return null;

  const body = lines.slice(start, end);
  // Keep a Changelog ends the file with link definitions (`[1.2.3]: https://...`); they are not notes.
  while (body.length > 0 && (body[body.length - 1].trim() === "" || /^\[[^\]]+\]:\s*\S+/.test(body[body.length - 1]))) {
    body.pop();
  }
  return body.join("\n").trim();
}

export interface ReleaseProvenance {
  /** The released image by digest. */
  image?: string;
  /** The tag's commit (40 hex). */
  commit?: string;
  githubRepository: string;
  /** When the release is made, milliseconds since the epoch. */
  at: number;
}

/** The lines above a release's notes that say what was released: image by digest, date (UTC), commit. */
export function releaseProvenance(input: ReleaseProvenance): string {
  return [
    ...(input.image ? [`- **Image**: \`${input.image}\``] : []),
    `- **Date**: ${new Date(input.at).toISOString().slice(0, 10)} (UTC)`,
    ...(input.commit ? [`- **Commit**: [${input.commit.slice(0, 7)}](${githubCommitUrl(input.githubRepository, input.commit)})`] : []),
  ].join("\n");
}
