/**
 * Telling people: Slack notifications through an incoming webhook, and the GitHub release of a tag (gh CLI,
 * pinned, checked against its release checksums). Both are `cache: "never"` in index.ts and carry a run nonce.
 */
import { dag, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { sendSlack } from "./deploy-support";
import { tail } from "./lib/errors";
import type { NotifyRequest, ReleaseRequest } from "./lib/function-args";
import { releaseNotesFromChangelog, releaseProvenance } from "./lib/deploy/changelog";
import type { Clock } from "./lib/clock";
import { Environment, ENVIRONMENTS } from "./lib/deploy/environment";

// ---------------------------------------------------------------------------------------------
// notify

/** The configured URL of a module environment id, or of the plan's GitHub environment name for dev. */
function environmentUrl(p: Pipeline, environment: string): string | undefined {
  const id = environment === "development" ? Environment.Dev : environment;
  return ENVIRONMENTS.find((e) => e === id) ? p.config.environments[id as Environment].url : undefined;
}

export async function notify(p: Pipeline, request: NotifyRequest<Secret>): Promise<string> {
  const url = environmentUrl(p, request.environment);
  return sendSlack(p, request.slackWebhook, {
    status: request.status,
    environment: request.environment,
    version: request.version,
    ...(url ? { environmentUrl: url } : {}),
    ...(request.runUrl ? { runUrl: request.runUrl } : {}),
    ...(request.reason ? { reason: request.reason } : {}),
    ...(request.author ? { author: request.author } : {}),
    ...(request.commit ? { commit: request.commit } : {}),
    ...(request.githubRepository ? { githubRepository: request.githubRepository } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// release

const GH_INSTALL = [
  'v="$1"',
  'case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;; esac',
  'name="gh_${v}_linux_${arch}"',
  "cd /tmp",
  'wget -q "https://github.com/cli/cli/releases/download/v${v}/${name}.tar.gz"',
  'wget -q "https://github.com/cli/cli/releases/download/v${v}/gh_${v}_checksums.txt"',
  'grep " ${name}.tar.gz\\$" "gh_${v}_checksums.txt" | sha256sum -c -',
  'tar -xzf "${name}.tar.gz"',
  'install -m 0755 "${name}/bin/gh" /usr/local/bin/gh',
  'rm -rf "${name}" "${name}.tar.gz" "gh_${v}_checksums.txt"',
  "gh --version",
].join("\n");

const GH_RELEASE = [
  'tag="$1"; repo="$2"; notes="$3"; prerelease="$4"',
  'extra=""; if [ "$prerelease" = yes ]; then extra="--prerelease"; fi',
  'if gh release view "$tag" --repo "$repo" >/dev/null 2>&1; then',
  '  if [ "$notes" = file ]; then gh release edit "$tag" --repo "$repo" --notes-file /release/notes.md >/dev/null; fi',
  '  gh release view "$tag" --repo "$repo" --json url --jq .url',
  'elif [ "$notes" = file ]; then',
  '  gh release create "$tag" --repo "$repo" --verify-tag --title "$tag" $extra --notes-file /release/notes.md',
  "else",
  '  gh release create "$tag" --repo "$repo" --verify-tag --title "$tag" $extra --notes-file /release/notes.md --generate-notes',
  "fi",
].join("\n");

// The notes file always starts with what was released (image by digest, date, commit). Without a CHANGELOG.md
// section GitHub generates the rest: gh appends its generated notes to --notes-file's text
// (cli/cli pkg/cmd/release/create/create.go, `fmt.Sprintf("%s\n%s", opts.Body, generatedNotes.Body)`, read at
// v2.60.0, the newest tag of the mirror; the pinned gh is TOOLS.gh).
export async function release(p: Pipeline, request: ReleaseRequest<Secret>, clock: Clock): Promise<string> {
  const { tag } = request.tag;
  const repository = request.githubRepository;
  let notes: string | null = null;
  if (await p.source.exists("CHANGELOG.md")) {
    notes = releaseNotesFromChangelog(await p.source.file("CHANGELOG.md").contents(), tag);
  }
  const useFile = notes !== null && notes.trim() !== "";
  const provenance = releaseProvenance({
    githubRepository: repository,
    at: clock.now(),
    ...(request.image ? { image: request.image } : {}),
    ...(request.commit ? { commit: request.commit } : {}),
  });
  // gh is TOOLS.gh from its GitHub release, checked against the release's checksums, in a cached layer.
  let ctr = dag
    .container()
    .from(p.config.images.alpine)
    .withExec(["sh", "-euc", GH_INSTALL, "install-gh", p.config.tools.gh]);
  ctr = ctr.withNewFile("/release/notes.md", useFile ? `${provenance}\n\n${notes}\n` : `${provenance}\n`);
  ctr = ctr.withSecretVariable("GH_TOKEN", request.githubToken);
  const { exitCode, stdout, stderr } = await outcomeOf(
    runAllowingFailure(withRunNonce(ctr), ["sh", "-euc", GH_RELEASE, "gh-release", tag, repository, useFile ? "file" : "generate", request.tag.prerelease ? "yes" : "no"]),
  );
  if (exitCode !== 0) throw new Error(`release: gh release for ${tag} in ${repository} failed (exit ${exitCode}):\n${tail(stderr || stdout, 15)}`);
  const url = stdout.trim().split("\n").pop() ?? "";
  return `release ${tag} of ${repository}: ${url} (notes: ${useFile ? "CHANGELOG.md section" : "generated by GitHub"})`;
}
