/** The three deployment targets of the plan, in promotion order. */
export enum Environment {
  Dev = "dev",
  Staging = "staging",
  Production = "production",
}

export const ENVIRONMENTS: readonly Environment[] = [Environment.Dev, Environment.Staging, Environment.Production];

/** Parses a user-supplied environment name (CLI argument, workflow input). */
export function parseEnvironment(value: string): Environment {
  const found = ENVIRONMENTS.find((environment) => environment === value.trim().toLowerCase());
  if (!found) {
    throw new Error(`unknown environment ${JSON.stringify(value)}: expected one of ${ENVIRONMENTS.join(", ")}`);
  }
  return found;
}
