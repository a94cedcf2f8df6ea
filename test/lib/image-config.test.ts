import { describe, it, expect } from "vitest";
import { z } from "zod";
import { imageConfigSchema, type ImageConfig } from "../../.dagger/src/lib/config/image";

describe("imageConfigSchema", () => {
  it("fills the plan's defaults from nothing", () => {
    const expected: ImageConfig = {
      dockerfile: "services/analytics-api/Dockerfile",
      context: ".",
      buildArgs: {},
      platforms: ["linux/amd64"],
      maxSizeMb: 500,
      registry: "ghcr.io",
      sbomFormat: "spdx-json",
      sign: { keyless: true, oidcIssuer: "https://token.actions.githubusercontent.com" },
    };
    expect(imageConfigSchema.parse(undefined)).toEqual(expected);
    expect(imageConfigSchema.parse({})).toEqual(expected);
    expect(imageConfigSchema.parse({ sign: {} }).sign).toEqual(expected.sign);
  });

  it("fills nested defaults inside a composed parent", () => {
    const parent = z.strictObject({ image: imageConfigSchema });
    expect(parent.parse({}).image.maxSizeMb).toBe(500);
    expect(parent.parse({ image: { sign: { keyless: false } } }).image.sign).toEqual({
      keyless: false,
      oidcIssuer: "https://token.actions.githubusercontent.com",
    });
  });

  it("accepts a full configuration", () => {
    const config = {
      dockerfile: "docker/Dockerfile.api",
      context: "services",
      target: "runtime",
      buildArgs: { RUST_VERSION: "1.95.0", BUILD_PROFILE: "release" },
      platforms: ["linux/amd64", "linux/arm64/v8"],
      maxSizeMb: 250.5,
      registry: "registry.example.com:5000",
      repository: "acme/observatory/analytics-api",
      sbomFormat: "cyclonedx-json" as const,
      sign: {
        keyless: true,
        certificateIdentityRegexp: "^https://github\\.com/acme/observatory/\\.github/workflows/",
        oidcIssuer: "https://token.actions.githubusercontent.com",
      },
    };
    expect(imageConfigSchema.parse(config)).toEqual(config);
  });

  it.each([
    [{ maxSizeMb: 0 }, ["maxSizeMb"]],
    [{ maxSizeMb: "500" }, ["maxSizeMb"]],
    [{ platforms: ["linux"] }, ["platforms", 0], /os\/arch\[\/variant\]/],
    [{ platforms: ["linux/amd64", "Linux/arm64"] }, ["platforms", 1]],
    [{ platforms: [] }, ["platforms"]],
    [{ platforms: ["linux/amd64", "linux/amd64"] }, ["platforms"], /must not repeat/],
    [{ dockerfile: "/etc/Dockerfile" }, ["dockerfile"], /inside the source directory/],
    [{ context: "../other" }, ["context"]],
    [{ target: "" }, ["target"]],
    [{ buildArgs: { "BAD-NAME": "x" } }, ["buildArgs", "BAD-NAME"]],
    [{ buildArgs: { OK: 1 } }, ["buildArgs", "OK"]],
    [{ registry: "https://ghcr.io" }, ["registry"], /invalid registry "https:\/\/ghcr.io"/],
    [{ repository: "Acme/App" }, ["repository"], /must be lowercase/],
    [{ sbomFormat: "syft-json" }, ["sbomFormat"]],
    [{ sign: { keyless: "yes" } }, ["sign", "keyless"]],
    [{ sign: { oidcIssuer: "http://insecure.example" } }, ["sign", "oidcIssuer"]],
    [{ sign: { certificateIdentityRegexp: "([" } }, ["sign", "certificateIdentityRegexp"], /not a valid regular expression/],
    [{ sign: { key: "cosign.key" } }, ["sign"], /key/],
    [{ tags: ["latest"] }, [], /tags/],
  ])("rejects %j at its path", (input, path, message?: RegExp) => {
    const result = imageConfigSchema.safeParse(input);
    expect(result.success).toBe(false);
    const issue = result.error!.issues[0]!;
    expect(issue.path).toEqual(path);
    if (message) expect(issue.message + JSON.stringify(issue)).toMatch(message);
  });

  it("describes every field for the published JSON schema", () => {
    const schema = z.toJSONSchema(imageConfigSchema, { io: "input" }) as {
      description?: string;
      properties: Record<string, { description?: string; properties?: Record<string, { description?: string }> }>;
    };
    expect(schema.description).toMatch(/Container image/);
    for (const [name, property] of Object.entries(schema.properties)) {
      expect(property.description, name).toBeTruthy();
    }
    for (const [name, property] of Object.entries(schema.properties.sign!.properties!)) {
      expect(property.description, `sign.${name}`).toBeTruthy();
    }
  });
});
