/** A fixture repository read from disk as doctor's source snapshot (every file's path and text). */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { snapshotOf, type SourceSnapshot } from "../../.dagger/src/lib/doctor/model";

export function fixtureSnapshot(root: string, overrides: Record<string, string | null> = {}): SourceSnapshot {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else files[relative(root, full).split("\\").join("/")] = readFileSync(full, "utf8");
    }
  };
  walk(root);
  for (const [path, text] of Object.entries(overrides)) {
    if (text === null) delete files[path];
    else files[path] = text;
  }
  return snapshotOf(files);
}
