/**
 * The secret canary, for every test: after each test, no secret created in any recording session
 * (a canary a test passed, or a secret the module generated) may appear in a query other than
 * the one that created it — not in a command line, an env var, a file, a label; and no exec puts a
 * secret into a process's argv inside its container, not even through a shell expanding it.
 */
import { afterEach, expect } from "vitest";
import { takeStartedSessions } from "./session-registry";
import { secretArgvLeaks } from "./secret-argv";

afterEach(() => {
  for (const session of takeStartedSessions()) {
    expect(session.secretLeaks(), "a secret left the query that created it").toEqual([]);
    const canaries = [...session.secrets.values()].filter((plaintext) => plaintext.includes("CANARY-"));
    expect(secretArgvLeaks(session.execs, canaries), "a secret reaches a process's command line inside a container").toEqual([]);
  }
});
