/** The static check behind the secret canary's argv rule (test/support/secret-argv.ts). */
import { describe, expect, it } from "vitest";
import { secretArgvLeaks, secretsExpandedIntoArgv, type ExecLike } from "./support/secret-argv";
import { WRITE_DOCKER_CONFIG } from "../.dagger/src/registry";

describe("secrets expanded into a process's argv by a shell script", () => {
  it("flags a secret variable in the arguments of a program the shell starts", () => {
    // the shapes the module used before: Slack webhook, Prometheus bearer token, GitHub token
    expect(secretsExpandedIntoArgv('curl -sS --data @/payload.json "$SLACK_WEBHOOK_URL"', ["SLACK_WEBHOOK_URL"])).toHaveLength(1);
    expect(
      secretsExpandedIntoArgv('if [ -n "${PROM_TOKEN:-}" ]; then exec curl -sS -H "Authorization: Bearer $PROM_TOKEN" "$1"; else exec curl -sS "$1"; fi', ["PROM_TOKEN"]),
    ).toEqual([{ variable: "PROM_TOKEN", command: 'then exec curl -sS -H "Authorization: Bearer $PROM_TOKEN" "$1"' }]);
    expect(secretsExpandedIntoArgv('X=1 curl -H "Authorization: Bearer ${GITHUB_TOKEN}" "$1"', ["GITHUB_TOKEN"])).toHaveLength(1);
    expect(secretsExpandedIntoArgv('echo ok | wget --header "Authorization: $TOKEN" -', ["TOKEN"])).toHaveLength(1);
  });

  it("accepts builtins, variables that are not secret, and names that only share a prefix", () => {
    // the module's own docker-config script: the password only reaches printf (a builtin) and a pipe
    expect(secretsExpandedIntoArgv(WRITE_DOCKER_CONFIG, ["REGISTRY_PASSWORD"])).toEqual([]);
    expect(secretsExpandedIntoArgv('curl "$URL"', ["TOKEN"])).toEqual([]);
    expect(secretsExpandedIntoArgv('curl "$TOKEN_FILE"', ["TOKEN"])).toEqual([]);
  });

  it("flags a secret value in an argv, and only shell scripts are parsed", () => {
    const execs: ExecLike[] = [
      { args: ["curl", "-H", "Authorization: Bearer CANARY-x-1"], secretEnv: {} },
      { args: ["curl", "$TOKEN"], secretEnv: { TOKEN: "t" } },
      { args: ["sh", "-euc", 'gh api -H "X: $GH_TOKEN"'], secretEnv: { GH_TOKEN: "t" } },
    ];
    const problems = secretArgvLeaks(execs, ["CANARY-x-1"]);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain("a secret value in the argv");
    expect(problems[1]).toContain("secret variable GH_TOKEN expanded into the argv of `gh api");
  });
});
