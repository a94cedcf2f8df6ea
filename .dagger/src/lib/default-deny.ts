/**
 * The deny.toml used when the repository has none at `security.denyConfig` (default
 * `.cargo/deny.toml`). A copy for humans lives in ci/deny.toml; keep both equal.
 */
export const DEFAULT_DENY_TOML = `# observatory-ci default cargo-deny configuration (cargo-deny 0.18, v2 config format).
# Used only when the repository has no deny.toml at security.denyConfig (default .cargo/deny.toml).

[graph]
all-features = true

[output]
feature-depth = 1

[advisories]
version = 2
# Version 2: every advisory (vulnerability, unmaintained, unsound, notice) is an error; list accepted ids in "ignore".
yanked = "deny"
ignore = []

[licenses]
version = 2
# Permissive licenses common in the Rust ecosystem; anything else is an error until reviewed.
allow = [
  "MIT",
  "Apache-2.0",
  "Apache-2.0 WITH LLVM-exception",
  "BSD-2-Clause",
  "BSD-3-Clause",
  "ISC",
  "Zlib",
  "CC0-1.0",
  "Unicode-3.0",
  "Unicode-DFS-2016",
  "MPL-2.0",
]
confidence-threshold = 0.93
# Workspace crates with publish = false are the service itself, not third-party code.
private = { ignore = true }

[bans]
multiple-versions = "warn"
wildcards = "deny"
allow-wildcard-paths = true
deny = []

[sources]
unknown-registry = "deny"
unknown-git = "deny"
allow-registry = ["https://github.com/rust-lang/crates.io-index"]
allow-git = []
`;
