/** `npm run schema`: regenerates ci/pipeline.schema.json from the zod schema. */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { pipelineJsonSchema, SCHEMA_PATH } from "./pipeline-schema";

writeFileSync(SCHEMA_PATH, pipelineJsonSchema());
console.log(`wrote ${fileURLToPath(SCHEMA_PATH)}`);
