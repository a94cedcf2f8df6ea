/**
 * The one way the module opens a cache volume: every name carries the run's trust level
 * (lib/trust.ts), so no stage can create a volume that runs of another trust level share.
 */
import { dag, type CacheVolume } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { cacheVolumeName } from "./lib/trust";

export function cacheVolume(p: Pipeline, purpose: string): CacheVolume {
  return dag.cacheVolume(cacheVolumeName(p.trust, purpose));
}
