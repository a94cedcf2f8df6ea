/**
 * The patches the `argo-rollouts` strategy sends with plain kubectl, as the kubectl-argo-rollouts plugin v1.9.1 sends
 * them (no plugin in the kubectl image): pkg/kubectl-argo-rollouts/cmd/abort/abort.go (a merge patch of
 * status.abort), cmd/undo/undo.go (a JSON patch replacing spec.template with the previous revision's ReplicaSet
 * template, without its rollouts-pod-template-hash label), and the image change `set image` makes.
 */

export const ABORT_PATCH = JSON.stringify({ status: { abort: true } });

type Json = Record<string, any>;

/** JSON patch of one container's image; the `test` op makes it fail if the container moved since it was read. */
export function imagePatch(rollout: Json, container: string, image: string): string {
  const containers: Json[] = rollout?.spec?.template?.spec?.containers ?? [];
  const index = containers.findIndex((candidate) => candidate.name === container);
  if (index < 0) {
    throw new Error(`Rollout ${rollout?.metadata?.name ?? "?"} has no container ${JSON.stringify(container)} (environments.production.container); it has ${containers.map((c) => c.name).join(", ") || "none"}`);
  }
  const path = `/spec/template/spec/containers/${index}`;
  return JSON.stringify([
    { op: "test", path: `${path}/name`, value: container },
    { op: "replace", path: `${path}/image`, value: image },
  ]);
}

const REVISION = "rollout.argoproj.io/revision";
const HASH_LABEL = "rollouts-pod-template-hash";

/**
 * The plugin's `undo` without --to-revision: the second-newest revision among the Rollout's ReplicaSets
 * (cmd/undo/undo.go rolloutRevision), its template without the hash label. Null when there is none.
 */
export function previousTemplatePatch(replicaSets: Json[], container: string): { revision: number; image: string | null; patch: string } | null {
  const revisions = replicaSets
    .map((rs) => ({ rs, revision: Number(rs?.metadata?.annotations?.[REVISION]) }))
    .filter((entry) => Number.isInteger(entry.revision))
    .sort((a, b) => b.revision - a.revision);
  const previous = revisions[1];
  if (!previous) return null;
  const template = structuredClone(previous.rs.spec.template) as Json;
  if (template.metadata?.labels) delete template.metadata.labels[HASH_LABEL];
  const image = (template.spec?.containers ?? []).find((c: Json) => c.name === container)?.image ?? null;
  return { revision: previous.revision, image, patch: JSON.stringify([{ op: "replace", path: "/spec/template", value: template }]) };
}
