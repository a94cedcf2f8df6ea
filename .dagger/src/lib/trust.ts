/**
 * Trust levels of a run, chosen by the caller (the CI system, from its event), never read from the
 * source under test: a pull request's files cannot raise the level of the run that tests them.
 */
// Member names equal the values but for case: the dagger CLI matches `--trust=trusted` to a member
// name case-insensitively (dagger v0.21.8 cmd/dagger/flags.go, enumValue.Set).
export enum Trust {
  /** Pull requests and other unreviewed revisions: the default, so a caller that says nothing gets the safe side. */
  Untrusted = "untrusted",
  /** Reviewed revisions: pushes to main and release/* branches, version tags, and the CD, rollback and scan jobs. */
  Trusted = "trusted",
}

export const TRUST_LEVELS: readonly Trust[] = [Trust.Untrusted, Trust.Trusted];

/** Every cache volume of the module is named `observatory-ci-<trust>-<purpose>`. */
export const CACHE_VOLUME_PREFIX = "observatory-ci-";

const PURPOSE = /^[a-z0-9][a-z0-9-]*$/;

/**
 * The cache volume name for `purpose` at `trust`. Volumes are shared by name on one engine, so runs
 * of pull requests write only `observatory-ci-untrusted-*`, and trusted runs read only
 * `observatory-ci-trusted-*`: a poisoned cargo registry, target dir or advisory database written by
 * a pull request's run never reaches a run of main.
 */
export function cacheVolumeName(trust: Trust, purpose: string): string {
  if (!TRUST_LEVELS.includes(trust)) {
    throw new Error(`unknown trust level ${JSON.stringify(trust)}: expected one of ${TRUST_LEVELS.join(", ")}`);
  }
  if (!PURPOSE.test(purpose)) {
    throw new Error(`cache volume purpose ${JSON.stringify(purpose)}: expected lower-case letters, digits and dashes`);
  }
  return `${CACHE_VOLUME_PREFIX}${trust}-${purpose}`;
}
