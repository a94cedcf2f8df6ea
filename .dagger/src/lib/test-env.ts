/**
 * tests.env: plain variables for the test containers. The module owns the services' addresses, the
 * JWT secret and cargo's and the toolchain's variables, so tests.env cannot override them; a name that
 * looks like a credential is refused (a plain env var ends up in the engine's cache keys and logs: pass a
 * Dagger Secret instead). Values may point other names at the services: `${DATABASE_URL}`, `${REDIS_URL}`.
 */

/** Names the test containers get from the module. */
const OWNED = ["DATABASE_URL", "REDIS_URL", "JWT_SECRET", "MIGRATIONS_DIR", "PATH", "RUSTFLAGS", "RUSTDOCFLAGS", "RUSTUP_HOME"];
const SECRET_LOOKING = /SECRET|TOKEN|PASSWORD|KEY/;
/** The references a value may hold. */
const SERVICE_REFERENCES = ["DATABASE_URL", "REDIS_URL"] as const;

export function looksLikeCredential(name: string): boolean {
  return SECRET_LOOKING.test(name);
}

/** Why tests.env may not hold this name, or undefined when it may. */
export function forbiddenTestEnvName(name: string): string | undefined {
  if (OWNED.includes(name) || name.startsWith("CARGO_")) return `${name} is set by the module (the services' URLs, JWT_SECRET, cargo's and the toolchain's variables); tests.env cannot override it`;
  if (looksLikeCredential(name)) return `${name} looks like a credential: a plain variable is visible in logs and cache keys; pass it as a Dagger Secret instead`;
  return undefined;
}

/** Why the value cannot be used, or undefined: only ${DATABASE_URL} and ${REDIS_URL} are references. */
export function badTestEnvReference(value: string): string | undefined {
  const unknown = [...value.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]!).filter((ref) => !(SERVICE_REFERENCES as readonly string[]).includes(ref));
  return unknown.length ? `references ${unknown.map((r) => `\${${r}}`).join(", ")}; only ${SERVICE_REFERENCES.map((r) => `\${${r}}`).join(" and ")} are replaced` : undefined;
}

/** tests.env with the service references replaced by the lane's URLs. */
export function resolveTestEnv(env: Readonly<Record<string, string>>, services: Record<(typeof SERVICE_REFERENCES)[number], string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).map(([name, value]) => [name, value.replace(/\$\{(DATABASE_URL|REDIS_URL)\}/g, (_, ref: keyof typeof services) => services[ref])]),
  );
}
