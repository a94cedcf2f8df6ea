/**
 * The secret canary, for every test: after each test, no secret created in any recording session
 * (a canary a test passed, or a secret the module generated) may appear in a query other than
 * the one that created it — not in a command line, an env var, a file, a label.
 */
import { afterEach, expect } from "vitest";
import { takeStartedSessions } from "./session-registry";

afterEach(() => {
  for (const session of takeStartedSessions()) {
    expect(session.secretLeaks(), "a secret left the query that created it").toEqual([]);
  }
});
