/** The one reader of the image a Kubernetes Deployment's pod template runs, from `kubectl get deployment -o json`. */

interface DeploymentShape {
  spec?: { template?: { spec?: { containers?: unknown } } };
}

function containers(deployment: unknown): Array<{ name?: unknown; image?: unknown }> {
  const list = (deployment as DeploymentShape | null | undefined)?.spec?.template?.spec?.containers;
  return Array.isArray(list) ? (list as Array<{ name?: unknown; image?: unknown }>) : [];
}

/** The image of the container named `container`; undefined when there is no such container or it has no image. */
export function containerImage(deployment: unknown, container: string): string | undefined {
  const found = containers(deployment).find((c) => c.name === container);
  return typeof found?.image === "string" && found.image ? found.image : undefined;
}

/** Like containerImage, but a missing container is an error naming `where` and the containers there are. */
export function requireContainerImage(deployment: unknown, container: string, where: string): string {
  const image = containerImage(deployment, container);
  if (image === undefined) {
    const names = containers(deployment).map((c) => String(c.name)).join(", ") || "none";
    throw new Error(`${where}: no container named ${JSON.stringify(container)} with an image (containers: ${names})`);
  }
  return image;
}
