import { severityFromScore, type Severity } from "./model";

/**
 * CVSS v3.0/v3.1 base score from a vector string (`CVSS:3.1/AV:N/AC:L/...`), per the FIRST
 * specification (section 7 and Appendix A "Roundup"). Returns undefined for anything that is not a
 * complete, well-formed v3 vector: CVSS 4.0 is not scored here (its score needs the macro-vector
 * lookup tables of the v4 specification), callers decide what an unscored vector means.
 */
export function cvss3BaseScore(vector: string): number | undefined {
  const parts = vector.trim().split("/");
  const version = parts.shift();
  if (version !== "CVSS:3.0" && version !== "CVSS:3.1") return undefined;
  const metrics = new Map<string, string>();
  for (const part of parts) {
    const [name, value, ...rest] = part.split(":");
    if (!name || !value || rest.length > 0 || metrics.has(name)) return undefined;
    metrics.set(name, value);
  }

  const scopeChanged = pick(metrics.get("S"), { U: false, C: true });
  const attackVector = pick(metrics.get("AV"), { N: 0.85, A: 0.62, L: 0.55, P: 0.2 });
  const attackComplexity = pick(metrics.get("AC"), { L: 0.77, H: 0.44 });
  const privileges =
    scopeChanged === undefined
      ? undefined
      : pick(metrics.get("PR"), scopeChanged ? { N: 0.85, L: 0.68, H: 0.5 } : { N: 0.85, L: 0.62, H: 0.27 });
  const userInteraction = pick(metrics.get("UI"), { N: 0.85, R: 0.62 });
  const impactWeights = { H: 0.56, L: 0.22, N: 0 };
  const confidentiality = pick(metrics.get("C"), impactWeights);
  const integrity = pick(metrics.get("I"), impactWeights);
  const availability = pick(metrics.get("A"), impactWeights);
  if (
    scopeChanged === undefined ||
    attackVector === undefined ||
    attackComplexity === undefined ||
    privileges === undefined ||
    userInteraction === undefined ||
    confidentiality === undefined ||
    integrity === undefined ||
    availability === undefined
  ) {
    return undefined;
  }

  const iss = 1 - (1 - confidentiality) * (1 - integrity) * (1 - availability);
  const impact = scopeChanged ? 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15) : 6.42 * iss;
  if (impact <= 0) return 0;
  const exploitability = 8.22 * attackVector * attackComplexity * privileges * userInteraction;
  return roundUp(Math.min(scopeChanged ? 1.08 * (impact + exploitability) : impact + exploitability, 10));
}

/** Severity of a CVSS vector, or undefined when it cannot be scored (absent, v4, malformed). */
export function severityFromCvssVector(vector: string | null | undefined): Severity | undefined {
  if (!vector) return undefined;
  const score = cvss3BaseScore(vector);
  return score === undefined ? undefined : severityFromScore(score);
}

function pick<T>(value: string | undefined, table: Record<string, T>): T | undefined {
  return value !== undefined && Object.hasOwn(table, value) ? table[value] : undefined;
}

/** CVSS 3.1 Appendix A: round up to one decimal, robust to floating-point error. */
function roundUp(value: number): number {
  const scaled = Math.round(value * 100000);
  return scaled % 10000 === 0 ? scaled / 100000 : (Math.floor(scaled / 10000) + 1) / 10;
}
