/** Every doctor check, in the order of the table. */
import type { PipelineConfig } from "../pipeline-config";
import { checkGitDependencies, checkLockfile, checkPaths, packageName, workspaceMembers } from "./cargo";
import { resolveScope, scopeSummary, SCOPED_GATES } from "../scope";
import { checkDenyConfig } from "./deny-config";
import { DEFAULT_DENY_CONFIG } from "../config/security";
import { checkDockerfile } from "./dockerfile";
import { checkMigrations } from "./migrations";
import type { DoctorFinding, SourceSnapshot } from "./model";
import { ok } from "./model";
import { checkTests } from "./tests-scan";

export interface DoctorInput {
  config: PipelineConfig;
  /** Where the config came from ("ci/pipeline.json", "--config <name>", "defaults"). */
  configOrigin: string;
  /** The config validation's message when the config was refused (the checks then use the defaults). */
  configError?: string;
}

function configFinding(input: DoctorInput): DoctorFinding {
  if (input.configError) {
    return { check: "config", verdict: "blocker", found: input.configError, fix: "fix each field named above (schema: ci/pipeline.schema.json); the other checks below used the defaults" };
  }
  return ok("config", input.configOrigin === "defaults" ? "no ci/pipeline.json: the plan's defaults" : `${input.configOrigin} is valid`);
}

function denyFindings(source: SourceSnapshot, input: DoctorInput): DoctorFinding[] {
  const path = input.config.security.denyConfig ?? DEFAULT_DENY_CONFIG;
  const text = source.read(path);
  if (text !== undefined) return checkDenyConfig(text, path);
  if (input.config.security.denyConfig !== undefined) {
    return [{ check: "deny.toml", verdict: "blocker", found: `security.denyConfig = "${path}" (${input.configOrigin}) does not exist in the source`, fix: "commit the file at that path or fix security.denyConfig; a configured policy never falls back to the module's default" }];
  }
  return [ok("deny.toml", `no ${path}: cargo deny runs with the module's default policy`)];
}

/** Each gate's resolved scope; a configured package that is no workspace member is a blocker (cargo: "did not match any packages"). */
function scopeFindings(packages: ReadonlyMap<string, string>, config: DoctorInput["config"]): DoctorFinding[] {
  const unknown = SCOPED_GATES.flatMap((gate) => {
    const scope = resolveScope(config, gate);
    return scope.workspace ? [] : scope.packages.filter((name) => !packages.has(name)).map((name) => `${gate}: ${name}`);
  });
  if (unknown.length && packages.size) {
    return [{ check: "scope", verdict: "blocker", found: `no workspace member is named ${unknown.join(", ")} (members: ${[...packages.keys()].join(", ")})`, fix: "fix scope.<gate> or paths.package in ci/pipeline.json" }];
  }
  return [ok("scope", scopeSummary(config))];
}

/** What the deployments' smoke test expects from /metrics, per environment (nothing doctor can see in the source). */
function smokeFinding(config: DoctorInput["config"]): DoctorFinding {
  const expectations = (["dev", "staging", "production"] as const).map((env) => `${env}: ${config.environments[env].smoke.metrics}`).join(", ");
  return ok(
    "smoke",
    `/metrics must answer 200 with Prometheus text; "samples" also needs at least one sample, "reachable" accepts an empty page from a service that records no metric yet (smoke.metrics: ${expectations})`,
  );
}

export function doctorFindings(source: SourceSnapshot, input: DoctorInput): DoctorFinding[] {
  const { config } = input;
  const members = workspaceMembers(source, config.paths.workspace);
  /** package name -> its folder */
  const packages = new Map(members.map((dir) => [packageName(source.read(`${dir}/Cargo.toml`) ?? "") ?? dir, dir] as const));
  const integration = resolveScope(config, "integrationTest");
  const testedCrates = integration.workspace ? members : integration.packages.map((name) => packages.get(name)).filter((dir): dir is string => dir !== undefined);
  return [
    configFinding(input),
    ...checkPaths(source, config.paths),
    ...scopeFindings(packages, config),
    ...checkLockfile(source, config.paths.workspace, config.image.dockerfile),
    ...checkMigrations(source, config.paths.migrations),
    ...denyFindings(source, input),
    ...checkDockerfile(source, config.image.dockerfile, config.image.context),
    ...checkTests(source, {
      crates: testedCrates.length ? testedCrates : [config.paths.service],
      configuredEnv: Object.keys(config.tests.env),
      includeIgnored: config.tests.includeIgnored,
    }),
    ...checkGitDependencies(source),
    smokeFinding(config),
  ];
}
