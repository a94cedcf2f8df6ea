import { describe, expect, it } from "vitest";
import { UsageError } from "../../.dagger/src/lib/errors";
import { parseProductionArgs } from "../../.dagger/src/lib/deploy/production-request";

const SECRET = { secret: "registry" };

function problem(args: Parameters<typeof parseProductionArgs>[0]): UsageError {
  try {
    parseProductionArgs(args);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error("expected a UsageError");
}

describe("parseProductionArgs", () => {
  it("parses a full request", () => {
    expect(
      parseProductionArgs({ tag: "v1.4.0", registryUsername: "ci-bot", registryPassword: SECRET, prometheusUrl: "https://prom.example/", prometheusToken: SECRET, runUrl: "https://ci.example/7" }),
    ).toEqual({ version: "1.4.0", tag: "v1.4.0", registry: { username: "ci-bot", password: SECRET }, prometheusUrl: "https://prom.example", prometheusToken: SECRET, runUrl: "https://ci.example/7" });
    expect(parseProductionArgs({ tag: "v2.0.0-rc.1" })).toEqual({ version: "2.0.0-rc.1", tag: "v2.0.0-rc.1" });
  });

  it.each([
    [{ tag: "1.4" }, 'deployProduction --tag: is not a release tag (found "1.4"; expected vX.Y.Z (optionally -prerelease), e.g. v1.4.0)'],
    [
      { tag: "v1.4.0", registryUsername: "ci bot", registryPassword: SECRET },
      'deployProduction --registry-username: is not a valid registry user name (found "ci bot"; expected a registry user name without spaces, control characters or ":")',
    ],
    [{ tag: "v1.4.0", registryUsername: "", registryPassword: SECRET }, 'deployProduction --registry-username: is not a valid registry user name (found ""; expected'],
    [{ tag: "v1.4.0", registryUsername: "ci:bot", registryPassword: SECRET }, 'found "ci:bot"'],
    [{ tag: "v1.4.0", registryUsername: "ci-bot" }, "deployProduction --registry-password: is missing: registry authentication needs both --registry-username and --registry-password (expected both or neither)"],
    [{ tag: "v1.4.0", registryPassword: SECRET }, "deployProduction --registry-username: is missing"],
    [{ tag: "v1.4.0", prometheusUrl: "ftp://prom" }, 'deployProduction --prometheus-url: must be http(s), got ftp: (found "ftp://prom"; expected an http(s) URL without credentials)'],
    [{ tag: "v1.4.0", runUrl: "not a url" }, 'deployProduction --run-url: is not a URL (found "not a url"'],
    [{ tag: "v1.4.0", prometheusToken: SECRET }, "deployProduction --prometheus-token: needs --prometheus-url"],
  ])("%j", (args, message) => {
    const error = problem(args as Parameters<typeof parseProductionArgs>[0]);
    expect(error.message).toContain(message);
    expect(error.message).toMatch(/^deployProduction --[a-z-]+: /);
    expect(error.fn).toBe("deployProduction");
  });

  it("never prints a secret's value", () => {
    const error = problem({ tag: "v1.4.0", prometheusToken: "token-value" });
    expect(error.message).not.toContain("token-value");
  });
});
