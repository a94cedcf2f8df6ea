/** What is wrong with a URL the pipeline will call (http or https, no credentials in it); null when fine. */
export function httpUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "is not a URL";
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return `must be http(s), got ${parsed.protocol}`;
  if (parsed.username || parsed.password) return "must not carry credentials";
  return null;
}
