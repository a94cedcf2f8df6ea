/** The three deployment targets of the plan, in promotion order. */
export enum Environment {
  Dev = "dev",
  Staging = "staging",
  Production = "production",
}

export const ENVIRONMENTS: readonly Environment[] = [Environment.Dev, Environment.Staging, Environment.Production];
