/**
 * Wall time and waiting for the deployment functions, passed to them the way runGates takes its `now`:
 * index.ts gives the real clock, tests a fake one that advances instantly. Waiting happens in TypeScript,
 * between execs that carry a nonce.
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
