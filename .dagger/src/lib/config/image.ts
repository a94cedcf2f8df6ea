import { z } from "zod";
import { validateRegistry, validateRepositoryPath } from "../image-ref";

/** `os/arch[/variant]` as OCI and buildx spell platforms: `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`. */
export const PLATFORM_PATTERN = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/;

/** zod issue from a validator that throws an explanatory Error. */
function checkedBy(validate: (value: string) => void) {
  return (value: string, context: z.core.$RefinementCtx<string>) => {
    try {
      validate(value);
    } catch (error) {
      context.addIssue({ code: "custom", message: (error as Error).message });
    }
  };
}

const relativePath = (what: string) =>
  z
    .string()
    .min(1)
    .refine((path) => !path.startsWith("/") && !path.split("/").includes(".."), {
      message: `${what} must be a path inside the source directory (relative, without "..")`,
    });

const signSchema = z
  .strictObject({
    keyless: z
      .boolean()
      .default(true)
      .describe(
        "Sign with cosign keyless (Sigstore Fulcio certificate from the CI OIDC token) instead of a key pair; when false, " +
          "verifyImage checks signatures with the public key passed as --public-key.",
      ),
    certificateIdentityRegexp: z
      .string()
      .min(1)
      .refine(
        (pattern) => {
          try {
            new RegExp(pattern);
            return true;
          } catch {
            return false;
          }
        },
        { message: "certificateIdentityRegexp is not a valid regular expression" },
      )
      .optional()
      .describe(
        "Regexp (Go RE2 syntax, anchored ^...$) the keyless signing certificate identity must match when verifyImage " +
          "checks an image before a deploy (cosign --certificate-identity-regexp), for every environment. It must accept " +
          "the deploy's expected identity and is refused when it also accepts another repository, another workflow file " +
          "or an unreviewed ref. Default (unset): the exact identity of this repository's publish workflow on the " +
          "environment's ref, https://github.com/<owner>/<repo>/.github/workflows/ci.yml@<ref> with refs/heads/main (dev), " +
          "refs/heads/release/<x> (staging) or refs/tags/vX.Y.Z (production).",
      ),
    oidcIssuer: z
      .url({ protocol: /^https$/ })
      .default("https://token.actions.githubusercontent.com")
      .describe(
        "OIDC issuer the keyless signing certificate must come from when verifyImage checks an image before a deploy " +
          "(cosign --certificate-oidc-issuer).",
      ),
  })
  .prefault({})
  .describe("Image signing with cosign.");

export const imageConfigSchema = z
  .strictObject({
    dockerfile: relativePath("dockerfile")
      .default("services/analytics-api/Dockerfile")
      .describe("Dockerfile of the Analytics API image, relative to the source directory."),
    context: relativePath("context").default(".").describe("Build context directory, relative to the source directory."),
    target: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, "target must be a build stage name from the Dockerfile (FROM ... AS <name>)")
      .optional()
      .describe("Build stage to stop at (docker build --target); default: the Dockerfile's last stage."),
    buildArgs: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "build-arg names are letters, digits and _"), z.string())
      .default({})
      .describe("Build arguments (ARG values). Not for secrets: build args are recorded in the image history."),
    platforms: z
      .array(z.string().regex(PLATFORM_PATTERN, "a platform is os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8"))
      .min(1)
      .refine((platforms) => new Set(platforms).size === platforms.length, { message: "platforms must not repeat" })
      .default(["linux/amd64"])
      .describe("Platforms to build; several make a multi-platform image index."),
    maxSizeMb: z
      .number()
      .positive()
      .default(500)
      .describe("Size gate: each platform's image must be smaller than this many MB (1 MB = 1,000,000 bytes)."),
    registry: z
      .string()
      .superRefine(checkedBy(validateRegistry))
      .default("ghcr.io")
      .describe("Registry host[:port] to push to and log in at."),
    repository: z
      .string()
      .superRefine(checkedBy(validateRepositoryPath))
      .optional()
      .describe(
        "Repository path inside the registry, lowercase, e.g. acme/observatory/analytics-api. Default, computed at " +
          "run time: <GITHUB_REPOSITORY, lowercased>/analytics-api.",
      ),
    sbomFormat: z
      .enum(["spdx-json", "cyclonedx-json"])
      .default("spdx-json")
      .describe("SBOM format Syft writes for the image."),
    sign: signSchema,
  })
  .prefault({})
  .describe("Container image: build, size gate, SBOM, signing and push.");

export type ImageConfig = z.output<typeof imageConfigSchema>;
