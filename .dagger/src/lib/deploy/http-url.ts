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

/** The URL without trailing slashes; throws `<what> ...` when httpUrlProblem finds something. */
export function validateHttpUrl(url: string, what: string): string {
  const problem = httpUrlProblem(url);
  if (problem === "is not a URL") throw new Error(`${what} ${JSON.stringify(url)} is not a URL: expected http(s)://host[/path]`);
  if (problem) throw new Error(`${what} ${problem}`);
  return url.replace(/\/+$/, "");
}
