/**
 * deployProduction's arguments, parsed once before any container starts. The rollout receives the parsed
 * request and never checks an argument again, so a bad argument can never surface mid-rollout.
 */
import { z } from "zod";
import { flagName, UsageError } from "../errors";
import { httpUrlProblem } from "./http-url";
import { releaseVersion } from "./smoke";

const FN = "deployProduction";

/** A registry user name as it goes into a docker config `auth` (`user:password`, base64): no ":" and no blanks. */
export const REGISTRY_USERNAME = /^[^\s\x00-\x1f\x7f:]+$/;
const USERNAME_EXPECTED = 'a registry user name without spaces, control characters or ":"';

/** A URL as it may appear in an error: as given, unless it carries user info or a query (credentials). */
function withoutCredentials(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.includes("@") ? "(an unparsable URL with user info)" : url;
  }
  if (!parsed.username && !parsed.password && !parsed.search) return url;
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

/** Secrets are engine objects: the schema only checks that one was given, never reads it. */
const secret = <S>() => z.custom<S>((value) => value !== undefined && value !== null);

const httpUrl = z.string().superRefine((url, ctx) => {
  const problem = httpUrlProblem(url);
  if (problem) ctx.addIssue({ code: "custom", message: problem, params: { expected: "an http(s) URL without credentials" } });
});

function schema<S>() {
  return z
    .object({
      tag: z.string().transform((tag, ctx) => {
        try {
          return releaseVersion(tag);
        } catch {
          ctx.addIssue({ code: "custom", message: "is not a release tag", params: { expected: "vX.Y.Z (optionally -prerelease), e.g. v1.4.0" } });
          return z.NEVER;
        }
      }),
      registryUsername: z
        .string()
        .refine((name) => REGISTRY_USERNAME.test(name), { message: "is not a valid registry user name", params: { expected: USERNAME_EXPECTED } })
        .optional(),
      registryPassword: secret<S>().optional(),
      prometheusUrl: httpUrl.optional(),
      prometheusToken: secret<S>().optional(),
      runUrl: httpUrl.optional(),
    })
    .superRefine((args, ctx) => {
      if ((args.registryUsername === undefined) !== (args.registryPassword === undefined)) {
        const missing = args.registryUsername === undefined ? "registryUsername" : "registryPassword";
        ctx.addIssue({
          code: "custom",
          path: [missing],
          message: `is missing: registry authentication needs both ${flagName("registryUsername")} and ${flagName("registryPassword")}`,
          params: { expected: "both or neither" },
        });
      }
      if (args.prometheusToken !== undefined && args.prometheusUrl === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["prometheusToken"],
          message: "needs --prometheus-url (or environments.production.prometheus.url); the API server proxy uses the kubeconfig's credentials",
        });
      }
      if (args.prometheusToken !== undefined && args.prometheusUrl !== undefined && !/^https:/i.test(args.prometheusUrl)) {
        ctx.addIssue({
          code: "custom",
          path: ["prometheusUrl"],
          message: `sends the --prometheus-token bearer token over plain http, refused (${withoutCredentials(args.prometheusUrl)})`,
          params: { expected: "an https URL, or no token" },
        });
      }
    });
}

export interface ProductionArgs<S> {
  tag: string;
  registryUsername?: string;
  registryPassword?: S;
  /** --prometheus-url, else environments.production.prometheus.url. */
  prometheusUrl?: string;
  prometheusToken?: S;
  runUrl?: string;
}

export interface ProductionRequest<S> {
  /** `1.4.0` for `v1.4.0`: the tag publish pushed. */
  version: string;
  tag: string;
  registry?: { username: string; password: S };
  prometheusUrl?: string;
  prometheusToken?: S;
  runUrl?: string;
}

const SECRET_FLAGS = new Set(["registryPassword", "prometheusToken"]);
/** URLs are shown without user info or query: they may carry credentials. */
const URL_FLAGS = new Set(["prometheusUrl", "runUrl"]);

/** Parses deployProduction's arguments; the first problem becomes a UsageError naming the flag and the value. */
export function parseProductionArgs<S>(args: ProductionArgs<S>): ProductionRequest<S> {
  const parsed = schema<S>().safeParse(args);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? "tag");
    const value = (args as unknown as Record<string, unknown>)[key];
    const params = (issue as { params?: { expected?: string } }).params;
    throw new UsageError({
      fn: FN,
      flag: flagName(key),
      problem: issue.message,
      ...(typeof value === "string" && !SECRET_FLAGS.has(key) ? { found: URL_FLAGS.has(key) ? withoutCredentials(value) : value } : {}),
      ...(params?.expected ? { expected: params.expected } : {}),
    });
  }
  const { tag, registryUsername, registryPassword, prometheusUrl, prometheusToken, runUrl } = parsed.data;
  return {
    version: tag,
    tag: args.tag.trim(),
    ...(registryUsername !== undefined && registryPassword !== undefined ? { registry: { username: registryUsername, password: registryPassword } } : {}),
    ...(prometheusUrl !== undefined ? { prometheusUrl: prometheusUrl.replace(/\/+$/, "") } : {}),
    ...(prometheusToken !== undefined ? { prometheusToken } : {}),
    ...(runUrl !== undefined ? { runUrl } : {}),
  };
}
