/** ci/pipeline.schema.json, generated from the zod schema the module validates with. */
import { z } from "zod";
import { pipelineConfigSchema } from "../../.dagger/src/lib/pipeline-config";

export const SCHEMA_PATH = new URL("../../ci/pipeline.schema.json", import.meta.url);

export function pipelineJsonSchema(): string {
  // io "input": what a user may write (fields with defaults are optional), not the parsed result.
  const schema = z.toJSONSchema(pipelineConfigSchema, { io: "input", target: "draft-2020-12" }) as Record<string, unknown>;
  const ordered = {
    $schema: schema.$schema,
    $id: "https://github.com/llm-observatory/observatory-ci/ci/pipeline.schema.json",
    title: "observatory-ci pipeline configuration (ci/pipeline.json)",
    ...schema,
  };
  return JSON.stringify(ordered, null, 2) + "\n";
}
