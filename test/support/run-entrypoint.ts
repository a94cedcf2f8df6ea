/**
 * Runs the SDK's module entrypoint on the given files, as the engine's TypeScript runtime does
 * (under tsx, against the session named by DAGGER_SESSION_PORT / DAGGER_SESSION_TOKEN).
 */
import { entrypoint } from "@dagger.io/dagger";

await entrypoint(process.argv.slice(2));
