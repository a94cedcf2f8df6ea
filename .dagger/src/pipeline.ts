/**
 * What every stage receives: the caller's source directory and the validated configuration.
 * Loaded once per function call; the module object itself only holds `source` and `config`
 * (its state is serialised between calls, so it cannot carry the parsed config).
 */
import type { Directory, File } from "@dagger.io/dagger";
import { DEFAULT_CONFIG_PATH, parseConfig, type PipelineConfig } from "./lib/pipeline-config";
import { Trust } from "./lib/trust";
import { ConfigError } from "./lib/errors";
import { allowlistDayProblems } from "./lib/findings/allowlist";

export interface Pipeline {
  source: Directory;
  config: PipelineConfig;
  /** Where the config came from, for error messages: "ci/pipeline.json", "--config", or "defaults". */
  configOrigin: string;
  /** The run's trust level, from the caller (--trust): names the cache volumes the run may use. */
  trust: Trust;
}

export async function loadPipeline(source: Directory, configFile?: File, trust: Trust = Trust.Untrusted): Promise<Pipeline> {
  if (configFile) {
    const name = await configFile.name();
    const origin = `--config ${name}`;
    return { source, config: parseConfig(await configFile.contents(), origin), configOrigin: origin, trust };
  }
  if (await source.exists(DEFAULT_CONFIG_PATH)) {
    const text = await source.file(DEFAULT_CONFIG_PATH).contents();
    return { source, config: parseConfig(text, DEFAULT_CONFIG_PATH), configOrigin: DEFAULT_CONFIG_PATH, trust };
  }
  return { source, config: parseConfig(undefined, "defaults"), configOrigin: "defaults", trust };
}

/**
 * The pipeline of a function that runs scanners: an allowlist entry that cannot accept anything today
 * (expired, or added after today) is one error naming every such entry, before any scanner starts.
 */
export function withCurrentAllowlist(pipeline: Pipeline, today: Date): Pipeline {
  const problems = allowlistDayProblems(pipeline.config.security.allowlist, today);
  if (problems.length > 0) {
    throw new ConfigError(`${pipeline.configOrigin}: the security allowlist is out of date:\n${problems.map((line) => `  - ${line}`).join("\n")}`);
  }
  return pipeline;
}
