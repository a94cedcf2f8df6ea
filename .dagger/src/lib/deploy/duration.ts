/**
 * Durations as kubectl (`--timeout=5m`) and k6 (`duration: "1m30s"`) write them: one or more
 * `<integer><unit>` groups in decreasing unit order, units h, m, s, ms. No bare numbers: "300"
 * is ambiguous between tools (kubectl reads seconds, k6 reads milliseconds).
 */
const DURATION = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

export function parseDurationSeconds(text: string): number {
  const match = DURATION.exec(text);
  if (!match || text === "" || match.slice(1).every((group) => group === undefined)) {
    throw new Error(
      `invalid duration ${JSON.stringify(text)}: expected e.g. "90s", "5m", "1h30m" (units h, m, s, ms)`,
    );
  }
  const [hours, minutes, seconds, milliseconds] = match.slice(1).map((group) => Number(group ?? 0));
  return hours * 3600 + minutes * 60 + seconds + milliseconds / 1000;
}

export function isDuration(text: string): boolean {
  try {
    parseDurationSeconds(text);
    return true;
  } catch {
    return false;
  }
}
