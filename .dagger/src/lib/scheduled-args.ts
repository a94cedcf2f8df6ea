/** Argument schemas of the scheduled operations (benchmark, cleanup); lib/args.ts explains the parsing. */
import { z } from "zod";
import { conflicts, environmentName, githubRepository, pair, parseArgs, registryUsername, secret, type Rule } from "./args";
import { ENVIRONMENTS, type Environment } from "./deploy/environment";
import { registryAuth, REGISTRY_PAIR, type RegistryAuth } from "./function-args";

export interface BenchmarkRequest<D, F> {
  baseline?: D;
  baselineFile?: F;
}

export function parseBenchmarkArgs<D, F>(args: { baseline?: D; baselineFile?: F }): BenchmarkRequest<D, F> {
  const schema = z.object({ baseline: z.custom<D>().optional(), baselineFile: z.custom<F>().optional() });
  const rules: Rule<typeof args>[] = [conflicts("baseline", "baselineFile", "the baseline is a previous run's criterion directory or its benchmark.json")];
  return parseArgs("benchmark", schema, args, rules);
}

export interface CleanupRequest<S> {
  kubeconfig: S;
  githubToken: S;
  githubRepository: string;
  environments: Environment[];
  apply: boolean;
  registry?: RegistryAuth<S>;
}

export function parseCleanupArgs<S>(args: {
  kubeconfig: S;
  githubToken: S;
  githubRepository: string;
  environments?: string[];
  apply?: boolean;
  registryUsername?: string;
  registryPassword?: S;
}): CleanupRequest<S> {
  const schema = z.object({
    kubeconfig: secret<S>(),
    githubToken: secret<S>(),
    githubRepository,
    environments: z.array(environmentName).optional(),
    apply: z.boolean().optional(),
    registryUsername: registryUsername.optional(),
    registryPassword: secret<S>().optional(),
  });
  const parsed = parseArgs("cleanup", schema, args, [pair("registryUsername", "registryPassword", REGISTRY_PAIR)]);
  const registry = registryAuth(parsed.registryUsername, parsed.registryPassword);
  return {
    kubeconfig: parsed.kubeconfig,
    githubToken: parsed.githubToken,
    githubRepository: parsed.githubRepository,
    environments: parsed.environments?.length ? [...new Set(parsed.environments)] : [...ENVIRONMENTS],
    apply: parsed.apply ?? false,
    ...(registry ? { registry } : {}),
  };
}
