/** Configuration of the scheduled operations: the benchmark regression gate and the retention cleanup. */
import { z } from "zod";

const wholeDays = z.number().int().min(1);

export const benchmarksConfigSchema = z
  .strictObject({
    regressionPercent: z
      .number()
      .gt(0)
      .max(1000)
      .default(10)
      .describe("A benchmark whose mean got slower by more than this, with a 95 % interval that excludes no change, fails the run."),
    package: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, "must be a Cargo package name")
      .optional()
      .describe("Cargo package whose benches run (cargo bench -p); default the whole workspace."),
    filter: z
      .string()
      .min(1)
      .optional()
      .describe("criterion's benchmark filter (a regular expression on benchmark ids), after `--`; default every benchmark."),
    timeoutSeconds: z.number().int().positive().default(3600).describe("Time limit for the whole cargo bench run (build and measurements)."),
  })
  .prefault({})
  .describe("Criterion benchmarks and their regression gate (the weekly performance workflow).");

export const cleanupConfigSchema = z
  .strictObject({
    untaggedDays: wholeDays.default(14).describe("Untagged image versions older than this many days are deleted (unless a kept index lists them)."),
    keepTagsPerStream: wholeDays
      .default(10)
      .describe("Newest <branch>-<sha> tags kept per branch, and newest pr-N tags kept; release tags, moving tags and deployed images are always kept."),
    artifactDays: wholeDays.default(30).describe("Workflow artifacts older than this many days are deleted."),
    cacheDays: wholeDays.default(7).describe("Actions caches not used for this many days are deleted."),
    keepLatestArtifacts: z
      .array(z.string().min(1))
      .default(["benchmark-baseline"])
      .describe("Artifact names whose newest artifact is kept whatever its age (the benchmark baseline)."),
  })
  .prefault({})
  .describe("Retention of container images, workflow artifacts and caches (the weekly cleanup workflow).");
