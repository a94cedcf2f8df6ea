/**
 * Sessions started since the last take: the secret canary checks each after its test. Kept apart
 * from recording-session.ts so the per-test hook does not load the SDK into every test file.
 */
export interface LeakChecked {
  secretLeaks(): string[];
  /** What the argv check reads (secret-argv.ts): the execs that ran and the secrets created (name -> plaintext). */
  readonly execs: { args: string[]; secretEnv: Record<string, string> }[];
  readonly secrets: Map<string, string>;
}

const started: LeakChecked[] = [];

export function registerStartedSession(session: LeakChecked): void {
  started.push(session);
}

export function takeStartedSessions(): LeakChecked[] {
  return started.splice(0);
}
