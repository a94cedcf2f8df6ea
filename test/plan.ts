/**
 * `npm run plan -- [--source <dir>] [--config <file>] <function> [--flag value | --flag=value ...] [--fail <word>]`
 *
 * A dry run without an engine, read like `dagger call`: see test/support/plan-cli.ts.
 */
import { runPlan } from "./support/plan-cli";

process.exitCode = await runPlan(process.argv.slice(2));
