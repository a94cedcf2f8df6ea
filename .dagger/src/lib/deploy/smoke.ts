/**
 * What a smoke test accepts, and the commit tag a deployment accepts. Pure: the Dagger glue in
 * deploy*.ts fetches the bodies.
 */

/**
 * A health body that says healthy: JSON with `status` (or `state`) ok/healthy/up/pass, or
 * `healthy: true`; or a plain-text body that is exactly "ok"/"healthy"/"up". Anything mentioning
 * unhealthy/degraded/down/fail is not healthy.
 */
export function isHealthyBody(body: string): boolean {
  const text = body.trim();
  if (text === "") return false;
  const good = /^(ok|healthy|up|pass|passing|green|serving)$/i;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === "string") return good.test(parsed.trim());
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return false;
    const record = parsed as Record<string, unknown>;
    if (record.healthy === true) return true;
    if (record.healthy === false) return false;
    for (const field of ["status", "state", "health"]) {
      const value = record[field];
      if (typeof value === "string") return good.test(value.trim());
    }
    return false;
  } catch {
    return good.test(text);
  }
}

const SAMPLE_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?\s+([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|NaN|[-+]?Inf)(\s+-?\d+)?$/;
const COMMENT_LINE = /^#(\s+(HELP|TYPE|UNIT)\s+[a-zA-Z_:][a-zA-Z0-9_:]*(\s.*)?|\s.*|)$/;

/** What /metrics must show: at least one sample (the default), or only a valid, possibly empty, exposition. */
export type MetricsExpectation = "samples" | "reachable";

/**
 * Prometheus text exposition format (0.0.4) / OpenMetrics text: every non-empty line is a comment
 * or a `name{labels} value [timestamp]` sample, and (expecting `samples`) there is at least one sample: a
 * service that records no metric yet serves an empty page, which `reachable` accepts.
 * Returns null when it is, else what is wrong.
 */
export function prometheusTextProblem(body: string, expectation: MetricsExpectation = "samples"): string | null {
  const lines = body.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "" && line !== "# EOF");
  let samples = 0;
  for (const [index, line] of lines.entries()) {
    if (line.startsWith("#")) {
      if (!COMMENT_LINE.test(line)) return `line ${index + 1} is not a valid comment: ${JSON.stringify(line.slice(0, 120))}`;
      continue;
    }
    if (!SAMPLE_LINE.test(line)) return `line ${index + 1} is not a metric sample: ${JSON.stringify(line.slice(0, 120))}`;
    samples++;
  }
  return samples === 0 && expectation === "samples" ? 'no metric samples (a service that records none yet: set smoke.metrics to "reachable")' : null;
}

/** Delay before retry `attempt` (0-based): 1s, 2s, 4s, 8s, then 15s, never past the deadline. */
export function backoffMs(attempt: number, remainingMs: number): number {
  return Math.max(0, Math.min(1000 * 2 ** Math.min(attempt, 4), 15_000, remainingMs));
}

/** The immutable commit tag `publish` pushes (docker/metadata-action `type=sha,prefix={{branch}}-`). */
export const COMMIT_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]*-[0-9a-f]{7}$/;

/** The sha256 digest in a container status imageID (`docker-pullable://repo@sha256:...`, `repo@sha256:...`). */
export function digestFromImageId(imageId: string): string | null {
  const match = /@(sha256:[a-f0-9]{64})$/.exec(imageId.trim());
  return match ? match[1] : null;
}

/** The health paths of a smoke configuration (production's pre-check only asks whether staging is healthy). */
export function healthPaths(paths: readonly string[]): string[] {
  const health = paths.filter((path) => /health/.test(path));
  return health.length > 0 ? health : ["/health"];
}
