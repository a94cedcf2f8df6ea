/** Every doctor check, in the order of the table. */
import type { PipelineConfig } from "../pipeline-config";
import { checkGitDependencies, checkLockfile, checkPaths, workspaceMembers } from "./cargo";
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

export function doctorFindings(source: SourceSnapshot, input: DoctorInput): DoctorFinding[] {
  const { config } = input;
  const members = workspaceMembers(source, config.paths.workspace);
  return [
    configFinding(input),
    ...checkPaths(source, config.paths),
    ...checkLockfile(source, config.paths.workspace, config.image.dockerfile),
    ...checkMigrations(source, config.paths.migrations),
    ...denyFindings(source, input),
    ...checkDockerfile(source, config.image.dockerfile, config.image.context),
    ...checkTests(source, {
      crates: members.length ? members : [config.paths.service],
      configuredEnv: Object.keys(config.tests.env),
    }),
    ...checkGitDependencies(source),
  ];
}
