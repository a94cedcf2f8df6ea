/**
 * The pipeline's configuration: `ci/pipeline.json` in the source (or `--config`), validated by zod.
 * Every knob has a default equal to the plan's value, so an absent file means "the plan as written".
 * The JSON schema published as `ci/pipeline.schema.json` is generated from `pipelineConfigSchema`.
 */
import { z } from "zod";
import { IMAGES, TOOL_RELEASES, TOOLS } from "../versions";
import { ConfigError } from "./errors";
import { securityConfigSchema } from "./config/security";
import { imageConfigSchema } from "./config/image";
import { environmentsConfigSchema } from "./config/environments";
import { benchmarksConfigSchema, cleanupConfigSchema } from "./config/scheduled";
import { badTestEnvReference, forbiddenTestEnvName, looksLikeCredential } from "./test-env";

export const DEFAULT_CONFIG_PATH = "ci/pipeline.json";

/**
 * A tag that names one release: major.minor.patch (an optional leading v, any suffix such as -bookworm or
 * -pg15). Tags that merely look pinned move: `7`, `7-alpine`, `1-bookworm` follow every 7.x release, and
 * `stable`, `lts`, `latest-pg15` follow the channel.
 */
const EXACT_TAG = /^v?\d+\.\d+\.\d+(?:[-.+_][\w.-]*)?$/;

/** The tag of a reference without digest (after the last `/`, so a registry port is not a tag). */
function tagOf(ref: string): string | undefined {
  const name = ref.slice(ref.lastIndexOf("/") + 1);
  return name.includes(":") ? name.slice(name.indexOf(":") + 1) : undefined;
}

/** An image reference pinned to an exact version tag or a digest: never untagged, never a moving tag. */
export const pinnedImage = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._\-/:]*(:[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})$/, {
    message: "expected an image reference with an exact tag or digest (e.g. rust:1.95.0-bookworm)",
  })
  .refine((ref) => !/:latest$/.test(ref), { message: 'expected an exact version, not the moving tag "latest"' })
  .refine((ref) => /@sha256:[a-f0-9]{64}$/.test(ref) || /:latest$/.test(ref) || tagOf(ref) === undefined || EXACT_TAG.test(tagOf(ref)!), {
    message: "expected an exact version tag major.minor.patch (a suffix such as -bookworm is fine) or a digest @sha256:...: this tag moves with new releases",
  });

const exactVersion = z
  .string()
  .regex(/^\d+\.\d+\.\d+$/, { message: "expected an exact version x.y.z (no ranges, no 'latest')" });

const relativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), {
    message: "expected a path relative to the source directory, inside it",
  });

const imagesSchema = z
  .strictObject(
    Object.fromEntries(
      Object.entries(IMAGES).map(([name, ref]) => [name, pinnedImage.default(ref).describe(`Image for ${name} (pinned).`)]),
    ) as { [K in keyof typeof IMAGES]: z.ZodDefault<typeof pinnedImage> },
  )
  .prefault({})
  .describe("Container images, each pinned to an exact version. Defaults come from the module's versions file.");

/** A released tool (versions.ts TOOL_RELEASES) runs only at the version whose archive digests are pinned. */
function toolVersion(name: string) {
  const pin = (TOOL_RELEASES as Record<string, { version: string }>)[name];
  if (!pin) return exactVersion;
  return exactVersion.refine((v) => v === pin.version, {
    message: `only ${pin.version} has a pinned SHA-256 for its release binary (versions.ts TOOL_RELEASES.${name}); move the version and its digests there`,
  });
}

const toolsSchema = z
  .strictObject(
    Object.fromEntries(
      Object.entries(TOOLS).map(([name, version]) => [name, toolVersion(name).default(version).describe(`Exact version of ${name}.`)]),
    ) as { [K in keyof typeof TOOLS]: z.ZodDefault<typeof exactVersion> },
  )
  .prefault({})
  .describe("Tool versions: cargo-tarpaulin, cargo-audit and cargo-deny are official release binaries verified against the SHA-256 the module pins for that version; the others are installed in cached layers (cargo install --locked, pip).");

/** A Cargo package name (letters, digits, `-`, `_`), as `--package` takes it. */
const cargoPackage = z.string().regex(/^[A-Za-z0-9_-]+$/, { message: "expected a Cargo package name" });

const gateScope = (gate: string, plan: "workspace" | "package") =>
  z
    .union([z.enum(["workspace", "package"]), z.array(cargoPackage).min(1)])
    .default(plan)
    .describe(`Packages ${gate} covers: "workspace" (every member), "package" (paths.package) or a list of package names. Default "${plan}", as the plan runs it.`);

export const coreConfigSchema = {
  $schema: z.string().optional().describe("Path or URL of pipeline.schema.json, for editors."),
  paths: z
    .strictObject({
      workspace: relativePath.default(".").describe("Cargo workspace root, relative to the source."),
      service: relativePath.default("services/analytics-api").describe("The service's crate directory."),
      package: z.string().min(1).default("analytics-api").describe("The service's Cargo package name."),
      migrations: relativePath.default("crates/storage/migrations").describe("sqlx migrations directory."),
    })
    .prefault({})
    .describe("Where things are in the service's repository."),
  scope: z
    .strictObject({
      fmt: gateScope("cargo fmt", "workspace"),
      clippy: gateScope("cargo clippy", "package"),
      doc: gateScope("cargo doc", "package"),
      unitTest: gateScope("the unit tests with coverage (tarpaulin)", "workspace"),
      integrationTest: gateScope("the integration tests", "package"),
      trivyFs: z
        .enum(["workspace", "service"])
        .default("service")
        .describe(
          'What Trivy fs scans: "service" (the default, as the plan runs it: paths.service, plus the workspace\'s Cargo.lock so the service\'s dependencies are still scanned; paths stay repository-relative in the SARIF) or "workspace" (the whole source).',
        ),
      deny: z
        .enum(["workspace", "package"])
        .default("package")
        .describe(
          'Crate graph cargo deny checks: "package" (the default, as the plan runs it in the service\'s directory: `--manifest-path <paths.service>/Cargo.toml`, the service\'s crate as the only root) or "workspace" (every member a root).',
        ),
    })
    .prefault({})
    .describe("Which packages each Rust gate covers; the defaults follow the plan."),
  images: imagesSchema,
  tools: toolsSchema,
  cargo: z
    .strictObject({
      buildJobs: z
        .number()
        .int()
        .positive()
        .optional()
        .describe("CARGO_BUILD_JOBS; containers see every host CPU, so a shared runner may want a cap."),
    })
    .prefault({})
    .describe("Cargo settings shared by every Rust gate."),
  coverage: z
    .strictObject({
      threshold: z
        .number()
        .min(0)
        .max(100)
        .refine((value) => !(value > 0 && value <= 1), {
          error: (issue) => `is a percentage, not a fraction: did you mean ${Math.round(Number(issue.input) * 10000) / 100}?`,
        })
        .default(90)
        .describe("Minimum line coverage in percent, 0-100 (the plan: > 90 %); 0.9 is refused as a fraction."),
      timeoutSeconds: z
        .number()
        .int()
        .positive()
        .default(1800)
        .describe(
          "Time limit for the whole unit-test run (build and tests, after the migrations), enforced with coreutils timeout; a run stopped by it fails as timed out. tarpaulin's own --timeout is not enforced under --engine llvm.",
        ),
      exclude: z.array(z.string()).default([]).describe("Globs passed to tarpaulin --exclude-files."),
    })
    .prefault({})
    .describe("Unit tests with coverage (cargo-tarpaulin, llvm engine, Cobertura XML)."),
  tests: z
    .strictObject({
      database: z.string().regex(/^[a-z_][a-z0-9_]*$/).default("analytics_test").describe("Database created in the TimescaleDB service."),
      env: z
        .record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string())
        .superRefine((env, ctx) => {
          for (const [name, value] of Object.entries(env)) {
            const why = forbiddenTestEnvName(name) ?? badTestEnvReference(value);
            // the value of a credential-looking name is never echoed
            if (why) ctx.addIssue({ code: "custom", path: [name], message: why, input: looksLikeCredential(name) ? "(value not shown)" : value });
          }
        })
        .default({})
        .transform((env) => ({ RUST_LOG: "info", ...env }))
        .describe(
          "Plain environment of the test containers; RUST_LOG=info unless set here. Values may reference ${DATABASE_URL} and ${REDIS_URL} (e.g. TEST_DATABASE_URL: \"${DATABASE_URL}\"). Refused: names the module sets (DATABASE_URL, REDIS_URL, JWT_SECRET, MIGRATIONS_DIR, CARGO_*, PATH, RUSTFLAGS...) and names that look like credentials (*SECRET*, *TOKEN*, *PASSWORD*, *KEY*).",
        ),
      integrationThreads: z.number().int().positive().default(1).describe("--test-threads for integration tests."),
      includeIgnored: z
        .boolean()
        .default(false)
        .describe("Run #[ignore]d integration tests too (libtest --include-ignored). When false and every integration test is ignored, integrationTest fails: it tested nothing."),
    })
    .prefault({})
    .describe("Test services and environment."),
};

export const pipelineConfigSchema = z
  .strictObject({
    ...coreConfigSchema,
    security: securityConfigSchema,
    image: imageConfigSchema,
    environments: environmentsConfigSchema,
    benchmarks: benchmarksConfigSchema,
    cleanup: cleanupConfigSchema,
  })
  .describe("observatory-ci pipeline configuration");

export type PipelineConfig = z.infer<typeof pipelineConfigSchema>;

/**
 * Parses the configuration file's text. `source` names the file in every error, with each bad
 * field's path, what was found and what was expected.
 */
export function parseConfig(text: string | undefined, source = DEFAULT_CONFIG_PATH): PipelineConfig {
  let data: unknown = {};
  if (text !== undefined) {
    // A UTF-8 BOM (editors on Windows write one) is not JSON, and JSON.parse rejects it.
    const json = text.replace(/^\uFEFF/, "");
    try {
      data = JSON.parse(json);
    } catch (e) {
      throw new ConfigError(`${source} is not valid JSON${jsonErrorLocation(json, (e as Error).message)}: ${(e as Error).message.replace(/\s*\(line \d+ column \d+\)/, "")}`);
    }
  }
  const result = pipelineConfigSchema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  - ${describeIssue(issue)}`);
  throw new ConfigError(`${source} is invalid:\n${lines.join("\n")}`);
}

/** ` at line L, column C` from JSON.parse's "at position N" (or its end of input), else nothing. */
function jsonErrorLocation(text: string, message: string): string {
  const position = /at position (\d+)/.exec(message)?.[1];
  const offset = position !== undefined ? Number(position) : /end of JSON input/.test(message) ? text.length : undefined;
  if (offset === undefined) return "";
  const before = text.slice(0, offset).split("\n");
  return ` at line ${before.length}, column ${before[before.length - 1]!.length + 1}`;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.map(String).join(".") : "(root)";
  if (issue.code === "unrecognized_keys") {
    return `${path}: unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(", ")} (check the spelling against ci/pipeline.schema.json)`;
  }
  const found = "input" in issue ? (issue.input === undefined ? "nothing" : JSON.stringify(issue.input)) : "?";
  return `${path}: ${issue.message}; found ${found}`;
}
