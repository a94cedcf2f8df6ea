/**
 * A recording Dagger session: an HTTP server that speaks the TypeScript SDK's session protocol
 * (GraphQL over HTTP, POST /query, basic auth with the session token as user name; see
 * node_modules/@dagger.io/dagger/dist/src/common/graphql/{connect,client,compute_query}.js).
 *
 * The SDK builds lazy query chains and resolves an object argument to its `id` first. The server
 * hands out ids that remember the chain that produced them, so every recorded query is expanded to
 * its full pipeline (`container.from(...).withExec(...)...`) with object arguments resolved to the
 * chains behind them. Host directories are served from disk; exec results and files produced in
 * containers come from per-test scripts. Nothing here runs a container: it answers what a test says.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, relative, posix } from "node:path";
import { randomBytes } from "node:crypto";
import { parse, Kind, type ValueNode, type SelectionSetNode, type FieldNode } from "graphql";
import { connection } from "@dagger.io/dagger";
import { registerStartedSession } from "./session-registry";

export interface Step {
  field: string;
  args: Record<string, unknown>;
}

/** An object argument, resolved to the chain that produced it. */
export interface Ref {
  $ref: Step[];
}

export function isRef(value: unknown): value is Ref {
  return typeof value === "object" && value !== null && "$ref" in value;
}

export interface ExecResult {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  /** Milliseconds the exec "runs": lets tests observe concurrency. */
  delayMs?: number;
}

export interface ExecView {
  args: string[];
  image?: string;
  /** Plain environment variables (name -> value) in effect for this exec. */
  env: Record<string, string>;
  /** Secret environment variables (name -> secret name). */
  secretEnv: Record<string, string>;
  /** Secret files (path -> secret name). */
  secretFiles: Record<string, string>;
  /** Cache volume mounts (path -> cache key). */
  caches: Record<string, string>;
  cacheSharing: Record<string, string | undefined>;
  /** Directory/file mounts and copies (path -> description of the source). */
  mounts: Record<string, string>;
  /** Service bindings (alias -> the service's ExecView-like description). */
  services: Record<string, ServiceView>;
  /** Registry credentials (address -> {username, secret name}). */
  registryAuth: Record<string, { username: string; secret: string }>;
  workdir?: string;
  user?: string;
  opts: Record<string, unknown>;
  /** Index of this exec among the execs of its chain (0 = first). */
  position: number;
  chain: Step[];
}

export interface ServiceView {
  image?: string;
  env: Record<string, string>;
  secretEnv: Record<string, string>;
  exposedPorts: number[];
  healthcheck?: string[];
  labels: Record<string, string>;
  chain: Step[];
}

export interface Script {
  /** Result of an exec; undefined = success with empty output. */
  exec?: (exec: ExecView) => ExecResult | undefined;
  /** Contents of a file read from a container (`container.file(path).contents()`), or undefined = missing. */
  file?: (path: string, exec: ExecView | undefined, chain: Step[]) => string | undefined;
  /** Answer for a leaf the session does not know; throw to make the query fail. */
  leaf?: (field: string, chain: Step[]) => unknown;
}

export interface RecordedQuery {
  text: string;
  chain: Step[];
  leaf: string;
  /** Execs this query caused to run (not cached by an earlier identical chain). */
  ran: ExecView[];
  error?: string;
}

const ID_PREFIX = "rec-id:";

export class RecordingSession {
  readonly queries: RecordedQuery[] = [];
  /** Every exec evaluated, in the order they ran (deduplicated like the engine's cache). */
  readonly execs: ExecView[] = [];
  /** Secrets created through setSecret: name -> plaintext. */
  readonly secrets = new Map<string, string>();
  maxConcurrentExecQueries = 0;
  private inFlight = 0;
  private readonly ids = new Map<string, Step[]>();
  private readonly ran = new Set<string>();
  private server?: Server;
  private port = 0;
  private readonly token = "recording-session-token";
  script: Script;

  constructor(script: Script = {}) {
    this.script = script;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    // Node closes an idle keep-alive socket after 5 s by default; a client that reuses it at that moment
    // gets "socket hang up" (ECONNRESET). The SDK's client idles that long while the registration run
    // compiles the module on a loaded machine, so idle sockets stay open until stop() closes them.
    this.server.keepAliveTimeout = 10 * 60_000;
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("recording session: no port");
    this.port = address.port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Runs `fn` with the global `dag` connected to this session, like a module function under the engine. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const saved = { port: process.env.DAGGER_SESSION_PORT, token: process.env.DAGGER_SESSION_TOKEN };
    process.env.DAGGER_SESSION_PORT = String(this.port);
    process.env.DAGGER_SESSION_TOKEN = this.token;
    let result: T | undefined;
    let failure: unknown;
    let failed = false;
    try {
      await connection(async () => {
        try {
          result = await fn();
        } catch (e) {
          failed = true;
          failure = e;
        }
      });
    } finally {
      restoreEnv("DAGGER_SESSION_PORT", saved.port);
      restoreEnv("DAGGER_SESSION_TOKEN", saved.token);
    }
    if (failed) throw failure;
    return result as T;
  }

  /** Runs `fn` with the session's env vars set, for code that opens its own connection (the SDK's entrypoint). */
  async withSessionEnv<T>(fn: () => Promise<T>): Promise<T> {
    const saved = { port: process.env.DAGGER_SESSION_PORT, token: process.env.DAGGER_SESSION_TOKEN };
    process.env.DAGGER_SESSION_PORT = String(this.port);
    process.env.DAGGER_SESSION_TOKEN = this.token;
    try {
      return await fn();
    } finally {
      restoreEnv("DAGGER_SESSION_PORT", saved.port);
      restoreEnv("DAGGER_SESSION_TOKEN", saved.token);
    }
  }

  /** Execs whose command line contains every given word, in order of first run. */
  execsMatching(...words: string[]): ExecView[] {
    return this.execs.filter((e) => words.every((w) => e.args.join(" ").includes(w)));
  }

  /** The single exec matching the words; throws when there is none or several. */
  exec(...words: string[]): ExecView {
    const found = this.execsMatching(...words);
    if (found.length !== 1) {
      throw new Error(
        `expected exactly one exec matching ${JSON.stringify(words)}, found ${found.length}:\n` +
          this.execs.map((e) => "  " + e.args.join(" ")).join("\n"),
      );
    }
    return found[0];
  }

  /**
   * Raw query texts that contain a secret's plaintext, other than the query creating that secret.
   * Checked for secrets whose value is a marker no query could contain by chance: the tests'
   * canaries and the secrets the module generates itself; a test's throwaway value ("x") is not.
   */
  secretLeaks(extraTexts: string[] = []): string[] {
    const leaks: string[] = [];
    for (const [name, plaintext] of this.secrets) {
      if (!isMarkedSecret(name, plaintext)) continue;
      for (const q of this.queries) {
        const creates = q.chain.some((s) => s.field === "setSecret" && s.args.name === name);
        if (!creates && q.text.includes(plaintext)) leaks.push(`secret ${name} in query: ${q.text.slice(0, 300)}`);
      }
      for (const text of extraTexts) {
        if (text.includes(plaintext)) leaks.push(`secret ${name} in: ${text.slice(0, 300)}`);
      }
    }
    return leaks;
  }

  // ---------------------------------------------------------------- protocol

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const expected = "Basic " + Buffer.from(this.token + ":").toString("base64");
    if (req.headers.authorization !== expected) {
      res.writeHead(401).end("unauthorized");
      return;
    }
    let text = "";
    try {
      text = (JSON.parse(body) as { query: string }).query;
      const { data, delayMs } = this.answer(text);
      if (delayMs > 0) {
        this.inFlight++;
        this.maxConcurrentExecQueries = Math.max(this.maxConcurrentExecQueries, this.inFlight);
        await new Promise((r) => setTimeout(r, delayMs));
        this.inFlight--;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data }));
    } catch (e) {
      const err = e as Error & { extensions?: Record<string, unknown> };
      const last = this.queries[this.queries.length - 1];
      if (last && last.text === text) last.error = err.message;
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ data: null, errors: [{ message: err.message, extensions: err.extensions }] }));
    }
  }

  private answer(text: string): { data: unknown; delayMs: number } {
    const doc = parse(text);
    const op = doc.definitions[0];
    if (op.kind !== Kind.OPERATION_DEFINITION) throw new Error("recording session: not an operation");
    const { steps, path } = flattenSelection(op.selectionSet);
    const chain = this.expand(steps);
    const leaf = chain[chain.length - 1].field;
    const recorded: RecordedQuery = { text, chain, leaf, ran: [] };
    this.queries.push(recorded);

    const value = this.evaluate(chain, recorded);
    const delayMs = recorded.ran.reduce((sum, e) => sum + (this.script.exec?.(e)?.delayMs ?? 0), 0);
    return { data: nest(path, value), delayMs };
  }

  /** Replaces `node(id:)` / `loadXFromID(id:)` by the chain behind the id, and id arguments by refs. */
  private expand(steps: Step[]): Step[] {
    const out: Step[] = [];
    for (const step of steps) {
      const id = step.args.id;
      if ((step.field === "node" || /^load.*FromID$/.test(step.field)) && typeof id === "string") {
        out.push(...this.chainOf(id));
        continue;
      }
      out.push({ field: step.field, args: this.resolveArgs(step.args) });
    }
    return out;
  }

  private resolveArgs(args: Record<string, unknown>): Record<string, unknown> {
    const resolve = (v: unknown): unknown => {
      if (typeof v === "string" && v.startsWith(ID_PREFIX)) return { $ref: this.chainOf(v) } satisfies Ref;
      if (Array.isArray(v)) return v.map(resolve);
      if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
      return v;
    };
    return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, resolve(v)]));
  }

  private chainOf(id: string): Step[] {
    const chain = this.ids.get(id);
    if (!chain) throw new Error(`recording session: unknown id ${id}`);
    return chain;
  }

  private newId(chain: Step[]): string {
    const id = `${ID_PREFIX}${this.ids.size + 1}`;
    this.ids.set(id, chain);
    return id;
  }

  // ---------------------------------------------------------------- evaluation

  private evaluate(chain: Step[], recorded: RecordedQuery): unknown {
    const leaf = chain[chain.length - 1];
    const parent = chain.slice(0, -1);
    switch (leaf.field) {
      case "id":
        if (parent.length && parent[parent.length - 1].field === "setSecret") {
          const s = parent[parent.length - 1].args;
          this.secrets.set(String(s.name), String(s.plaintext));
        }
        return this.newId(parent);
      case "sync":
        this.runExecs(parent, recorded);
        return this.newId(parent);
      case "version":
        return "v0.21.9";
      case "defaultPlatform":
      case "platform":
        return "linux/amd64";
      case "stdout":
      case "stderr":
      case "exitCode":
      case "combinedOutput": {
        const last = this.runExecs(parent, recorded);
        if (!last) throw new Error(`recording session: ${leaf.field} of a container that ran no exec`);
        if (leaf.field === "exitCode") return last.exitCode ?? 0;
        if (leaf.field === "combinedOutput") return (last.stdout ?? "") + (last.stderr ?? "");
        return last[leaf.field] ?? "";
      }
      case "contents":
        return this.fileContents(parent, recorded);
      case "size":
        return Buffer.byteLength(this.fileContents(parent, recorded));
      case "entries":
        return this.directoryEntries(parent, String(leaf.args.path ?? "."), recorded);
      case "exists":
        return this.exists(parent, String(leaf.args.path), recorded);
      case "glob":
        return this.glob(parent, String(leaf.args.pattern), recorded);
      case "name":
        if (parent.length === 1 && parent[0].field === "currentModule") return "observatory-ci";
        if (parent[parent.length - 1]?.field === "file") return posix.basename(String(parent[parent.length - 1].args.path));
        break;
      case "start":
      case "stop":
        return this.newId(parent);
      case "publish": {
        this.runExecs(parent, recorded);
        const address = String(leaf.args.address);
        const digest = "sha256:" + hashOf(JSON.stringify(parent)).padEnd(64, "0").slice(0, 64);
        return `${address.replace(/:[^/:]+$/, "")}@${digest}`;
      }
      case "export":
        this.runExecs(parent, recorded);
        return String(leaf.args.path);
    }
    const answer = this.script.leaf?.(leaf.field, chain);
    if (answer !== undefined) return answer;
    throw new Error(`recording session: no answer scripted for leaf '${leaf.field}' of ${describeChain(parent)}`);
  }

  /** Runs (records) the execs of a container chain, returns the last exec's scripted result; throws an exec error. */
  private runExecs(chain: Step[], recorded: RecordedQuery): (ExecResult & { view: ExecView }) | undefined {
    const containerStart = findContainerStart(chain);
    let last: (ExecResult & { view: ExecView }) | undefined;
    let position = 0;
    for (let i = containerStart; i < chain.length; i++) {
      if (chain[i].field !== "withExec") continue;
      // the inputs of an exec run before it: a mounted directory produced by another container, a service
      for (const dep of refsIn(chain[i - 0].args)) this.runDependencies(dep, recorded);
      const prefix = chain.slice(0, i + 1);
      for (const step of prefix.slice(containerStart, i)) for (const dep of refsIn(step.args)) this.runDependencies(dep, recorded);
      const view = execView(prefix, position++);
      const key = JSON.stringify(prefix);
      const result = this.script.exec?.(view) ?? {};
      if (!this.ran.has(key)) {
        this.ran.add(key);
        this.execs.push(view);
        recorded.ran.push(view);
      }
      const code = result.exitCode ?? 0;
      const expect = String(view.opts.expect ?? "SUCCESS");
      const ok = expect === "ANY" || (expect === "SUCCESS" ? code === 0 : code !== 0);
      if (!ok) {
        const err = new Error(`process "${view.args.join(" ")}" did not complete successfully: exit code: ${code}`);
        (err as Error & { extensions: unknown }).extensions = {
          _type: "EXEC_ERROR",
          cmd: view.args,
          exitCode: code,
          stdout: result.stdout ?? "",
          stderr: result.stderr ?? "",
        };
        throw err;
      }
      last = { ...result, view };
    }
    return last;
  }

  /** An object argument (a directory from another container, a service, a file) is evaluated when used. */
  private runDependencies(ref: Ref, recorded: RecordedQuery): void {
    const chain = ref.$ref;
    if (chain.some((s) => s.field === "withExec")) {
      const end = chain.map((s) => s.field).lastIndexOf("withExec");
      this.runExecs(chain.slice(0, end + 1), recorded);
    }
  }

  private fileContents(fileChain: Step[], recorded: RecordedQuery): string {
    const fileStep = fileChain[fileChain.length - 1];
    const fromContainer = fileChain.slice(0, -1);
    if (fileStep.field === "file" && isContainerChain(fromContainer)) {
      const last = this.runExecs(fromContainer, recorded);
      const path = containerPath(fromContainer, String(fileStep.args.path));
      const contents = this.script.file?.(path, last?.view, fileChain);
      if (contents === undefined) throw new Error(`${path}: no such file or directory`);
      return contents;
    }
    if (fileStep.field === "file" && fromContainer.length === 1 && fromContainer[0].field === "host") {
      const path = String(fileStep.args.path);
      if (!existsSync(path)) throw new Error(`${path}: no such file or directory`);
      return readFileSync(path, "utf8");
    }
    if (fileStep.field === "file") {
      const tree = this.directoryTree(fromContainer, recorded);
      const path = posix.normalize(String(fileStep.args.path)).replace(/^\.?\//, "");
      const contents = tree.get(path);
      if (contents === undefined) throw new Error(`${fileStep.args.path}: no such file or directory`);
      return contents();
    }
    const answer = this.script.file?.(`<${fileStep.field}>`, undefined, fileChain);
    if (answer !== undefined) return answer;
    throw new Error(`recording session: cannot read file from ${describeChain(fileChain)}`);
  }

  private directoryEntries(dirChain: Step[], sub: string, recorded: RecordedQuery): string[] {
    const tree = this.directoryTree(dirChain, recorded);
    const prefix = sub === "." || sub === "" ? "" : sub.replace(/\/$/, "") + "/";
    const names = new Set<string>();
    for (const path of tree.keys()) if (path.startsWith(prefix)) names.add(path.slice(prefix.length).split("/")[0]);
    return [...names].sort();
  }

  private exists(chain: Step[], path: string, recorded: RecordedQuery): boolean {
    const tree = this.directoryTree(chain, recorded);
    const p = posix.normalize(path).replace(/^\.?\//, "").replace(/\/$/, "");
    for (const key of tree.keys()) if (key === p || key.startsWith(p + "/")) return true;
    return false;
  }

  /**
   * Directory.glob: matching files, and matching directories with a trailing "/" (dagger v0.21.8
   * core/directory.go `Glob`, a WalkDir that appends the separator to directories).
   */
  private glob(chain: Step[], pattern: string, recorded: RecordedQuery): string[] {
    const files = [...this.directoryTree(chain, recorded).keys()];
    const dirs = [...new Set(files.flatMap((f) => f.split("/").slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join("/"))))];
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*\/?/g, "\u0000").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]").replace(/\u0000/g, "(?:.*/)?")}$`);
    return [...files.filter((f) => re.test(f)), ...dirs.filter((d) => re.test(d)).map((d) => `${d}/`)].sort();
  }

  /** A directory chain as a map of relative path -> lazy contents. */
  private directoryTree(chain: Step[], recorded: RecordedQuery): Map<string, () => string> {
    const last = chain[chain.length - 1];
    const below = chain.slice(0, -1);
    switch (last?.field) {
      case "directory": {
        if (below.length === 1 && below[0].field === "host") return hostTree(String(last.args.path), (last.args.exclude as string[] | undefined) ?? []);
        if (below.length === 0) return new Map();
        if (isContainerChain(below)) {
          this.runExecs(below, recorded);
          const path = containerPath(below, String(last.args.path));
          const listing = this.script.file?.(`${path}/`, undefined, chain);
          const tree = new Map<string, () => string>();
          if (listing !== undefined) for (const name of JSON.parse(listing) as string[]) tree.set(name, () => this.fileContents([...below, { field: "file", args: { path: `${path}/${name}` } }], recorded));
          return tree;
        }
        return subTree(this.directoryTree(below, recorded), String(last.args.path));
      }
      case "withNewFile": {
        const tree = new Map(this.directoryTree(below, recorded));
        tree.set(clean(String(last.args.path)), () => String(last.args.contents));
        return tree;
      }
      case "withFile": {
        const tree = new Map(this.directoryTree(below, recorded));
        const source = last.args.source as Ref;
        tree.set(clean(String(last.args.path)), () => this.fileContents(source.$ref, recorded));
        return tree;
      }
      case "withDirectory": {
        const tree = new Map(this.directoryTree(below, recorded));
        const inner = this.directoryTree((last.args.source as Ref).$ref, recorded);
        const base = clean(String(last.args.path));
        for (const [p, c] of inner) tree.set(base ? `${base}/${p}` : p, c);
        return tree;
      }
      case "withoutDirectory":
      case "withoutFile": {
        const tree = new Map(this.directoryTree(below, recorded));
        const p = clean(String(last.args.path));
        for (const key of [...tree.keys()]) if (key === p || key.startsWith(p + "/")) tree.delete(key);
        return tree;
      }
      case "filter": {
        const tree = this.directoryTree(below, recorded);
        const include = (last.args.include as string[] | undefined) ?? [];
        const exclude = (last.args.exclude as string[] | undefined) ?? [];
        return new Map(
          [...tree].filter(([p]) => (!include.length || include.some((g) => globMatch(g, p))) && !exclude.some((g) => globMatch(g, p))),
        );
      }
    }
    throw new Error(`recording session: cannot list directory ${describeChain(chain)}`);
  }
}

// ------------------------------------------------------------------ views

function findContainerStart(chain: Step[]): number {
  // the last `container` or `from` that starts the container pipeline this chain ends in
  for (let i = chain.length - 1; i >= 0; i--) if (chain[i].field === "container") return i;
  return 0;
}

function isContainerChain(chain: Step[]): boolean {
  const fields = chain.map((s) => s.field);
  const start = fields.lastIndexOf("container");
  if (start < 0) return false;
  // a chain that left the container (`.directory(...)`, `.file(...)`) is not a container any more
  return !fields.slice(start + 1).some((f) => ["directory", "file", "asService", "asTarball"].includes(f));
}

function containerPath(chain: Step[], path: string): string {
  if (path.startsWith("/")) return posix.normalize(path);
  const view = execView(chain, 0);
  return posix.join(view.workdir ?? "/", path);
}

function refsIn(args: Record<string, unknown>): Ref[] {
  const out: Ref[] = [];
  const walk = (v: unknown) => {
    if (isRef(v)) out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(args);
  return out;
}

/** The state of a container at the end of `chain` (its last step usually `withExec`). */
export function execView(chain: Step[], position: number): ExecView {
  const start = findContainerStart(chain);
  const view: ExecView = {
    args: [],
    env: {},
    secretEnv: {},
    secretFiles: {},
    caches: {},
    cacheSharing: {},
    mounts: {},
    services: {},
    registryAuth: {},
    opts: {},
    position,
    chain,
  };
  for (const step of chain.slice(start)) {
    const a = step.args;
    switch (step.field) {
      case "from":
        view.image = String(a.address);
        break;
      case "withEnvVariable":
        view.env[String(a.name)] = String(a.value);
        break;
      case "withoutEnvVariable":
        delete view.env[String(a.name)];
        break;
      case "withSecretVariable":
        view.secretEnv[String(a.name)] = secretName(a.secret);
        break;
      case "withMountedSecret":
        view.secretFiles[String(a.path)] = secretName(a.source);
        break;
      case "withMountedCache":
        view.caches[String(a.path)] = cacheKey(a.cache);
        view.cacheSharing[String(a.path)] = a.sharing as string | undefined;
        break;
      case "withMountedDirectory":
      case "withDirectory":
      case "withMountedFile":
      case "withFile":
        view.mounts[String(a.path)] = isRef(a.source) ? describeSource(a.source.$ref) : String(a.source);
        break;
      case "withNewFile":
        view.mounts[String(a.path)] = `<new file>`;
        break;
      case "withServiceBinding":
        view.services[String(a.alias)] = serviceView((a.service as Ref).$ref);
        break;
      case "withRegistryAuth":
        view.registryAuth[String(a.address)] = { username: String(a.username), secret: secretName(a.secret) };
        break;
      case "withWorkdir":
        view.workdir = String(a.path);
        break;
      case "withUser":
        view.user = String(a.name);
        break;
      case "withExec": {
        const { args, ...opts } = a;
        view.args = (args as unknown[]).map(String);
        view.opts = opts;
        break;
      }
    }
  }
  return view;
}

export function serviceView(chain: Step[]): ServiceView {
  const start = findContainerStart(chain);
  const view: ServiceView = { env: {}, secretEnv: {}, exposedPorts: [], labels: {}, chain };
  for (const step of chain.slice(start)) {
    const a = step.args;
    if (step.field === "from") view.image = String(a.address);
    if (step.field === "withEnvVariable") view.env[String(a.name)] = String(a.value);
    if (step.field === "withSecretVariable") view.secretEnv[String(a.name)] = secretName(a.secret);
    if (step.field === "withExposedPort") view.exposedPorts.push(Number(a.port));
    if (step.field === "withDockerHealthcheck") view.healthcheck = (a.args as unknown[]).map(String);
    if (step.field === "withLabel") view.labels[String(a.name)] = String(a.value);
  }
  return view;
}

function secretName(ref: unknown): string {
  if (!isRef(ref)) return String(ref);
  const step = ref.$ref.find((s) => s.field === "setSecret" || s.field === "secret");
  return step ? String(step.args.name ?? step.args.uri) : describeChain(ref.$ref);
}

function cacheKey(ref: unknown): string {
  if (!isRef(ref)) return String(ref);
  const step = ref.$ref.find((s) => s.field === "cacheVolume");
  return step ? String(step.args.key) : describeChain(ref.$ref);
}

/** Where a mounted file or directory comes from: the host, or a path produced by an exec. */
function describeSource(chain: Step[]): string {
  const execs = chain.filter((s) => s.field === "withExec");
  if (!execs.length) return describeChain(chain);
  const last = chain[chain.length - 1];
  return `${last.field}(${JSON.stringify(last.args.path ?? "")}) after \`${(execs[execs.length - 1].args.args as unknown[]).join(" ")}\``;
}

/** A chain as readable text: `container.from("rust").withExec(["cargo","fmt"])`. */
export function describeChain(chain: Step[]): string {
  return chain
    .map((s) => {
      const args = Object.entries(s.args);
      if (!args.length) return s.field;
      return `${s.field}(${args.map(([k, v]) => `${k}: ${describeValue(v)}`).join(", ")})`;
    })
    .join(".");
}

function describeValue(v: unknown): string {
  if (isRef(v)) {
    const secret = v.$ref.find((s) => s.field === "setSecret");
    if (secret) return `secret(${JSON.stringify(secret.args.name)})`;
    const cache = v.$ref.find((s) => s.field === "cacheVolume");
    if (cache) return `cacheVolume(${JSON.stringify(cache.args.key)})`;
    return `<${describeChain(v.$ref)}>`;
  }
  if (Array.isArray(v)) return `[${v.map(describeValue).join(", ")}]`;
  if (v && typeof v === "object") return `{${Object.entries(v).map(([k, x]) => `${k}: ${describeValue(x)}`).join(", ")}}`;
  return JSON.stringify(v);
}

// ------------------------------------------------------------------ helpers

function flattenSelection(set: SelectionSetNode | undefined): { steps: Step[]; path: string[] } {
  const steps: Step[] = [];
  const path: string[] = [];
  let current = set;
  while (current && current.selections.length) {
    let sel = current.selections[0];
    while (sel.kind === Kind.INLINE_FRAGMENT) sel = sel.selectionSet.selections[0];
    if (sel.kind !== Kind.FIELD) throw new Error("recording session: unsupported selection");
    const field = sel as FieldNode;
    const args: Record<string, unknown> = {};
    for (const a of field.arguments ?? []) args[a.name.value] = valueOf(a.value);
    steps.push({ field: field.name.value, args });
    path.push(field.alias?.value ?? field.name.value);
    current = field.selectionSet;
  }
  return { steps, path };
}

function valueOf(node: ValueNode): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.ENUM:
      return node.value;
    case Kind.INT:
      return Number.parseInt(node.value, 10);
    case Kind.FLOAT:
      return Number.parseFloat(node.value);
    case Kind.BOOLEAN:
      return node.value;
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map(valueOf);
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, valueOf(f.value)]));
    default:
      throw new Error(`recording session: variables are not supported`);
  }
}

function nest(path: string[], value: unknown): unknown {
  return path.reduceRight<unknown>((acc, key) => ({ [key]: acc }), value);
}

/** A host directory's files; `exclude` (Host.directory's option) is applied before a path is read, as the engine does. */
function hostTree(root: string, exclude: readonly string[] = []): Map<string, () => string> {
  const tree = new Map<string, () => string>();
  if (!existsSync(root)) throw new Error(`recording session: host directory ${root} does not exist`);
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (exclude.some((glob) => globMatch(glob, relative(root, full).split("\\").join("/")))) continue;
      if (statSync(full).isDirectory()) walk(full);
      else tree.set(relative(root, full).split("\\").join("/"), () => readFileSync(full, "utf8"));
    }
  };
  walk(root);
  return tree;
}

function subTree(tree: Map<string, () => string>, sub: string): Map<string, () => string> {
  const prefix = clean(sub) + "/";
  const out = new Map<string, () => string>();
  for (const [p, c] of tree) if (p.startsWith(prefix)) out.set(p.slice(prefix.length), c);
  if (!out.size) throw new Error(`${sub}: no such file or directory`);
  return out;
}

function clean(path: string): string {
  return posix.normalize(path).replace(/^\.?\//, "").replace(/\/$/, "").replace(/^\.$/, "");
}

function globMatch(glob: string, path: string): boolean {
  const re = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*\*\/?/g, "\u0000")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]")
    .replace(/\u0000/g, "(?:.*/)?.*");
  return new RegExp(`^${re}(?:/.*)?$`).test(path);
}

function hashOf(text: string): string {
  let h = 0n;
  for (const c of Buffer.from(text)) h = (h * 131n + BigInt(c)) % (1n << 256n);
  return h.toString(16);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

const CANARY_PREFIX = "CANARY-";

function isMarkedSecret(name: string, plaintext: string): boolean {
  return plaintext.includes(CANARY_PREFIX) || (name.startsWith("observatory-ci-") && plaintext.length >= 32);
}

/** A secret value with a marker the canary looks for. */
export function canarySecret(label: string): string {
  return `${CANARY_PREFIX}${label}-${randomBytes(6).toString("hex")}`;
}

/** Starts a session for one test; call `stop()` in afterEach. */
export async function recordingSession(script: Script = {}): Promise<RecordingSession> {
  const session = new RecordingSession(script);
  await session.start();
  registerStartedSession(session);
  return session;
}
