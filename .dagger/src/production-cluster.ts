/**
 * Production as the blue-green rollout and the rollback see it: the Service, both colours and the canary
 * Ingress read with kubectl, and a probe through a colour's own Service (the API server's proxy).
 */
import type { Pipeline } from "./pipeline";
import { getObject, kubectl, type KubeTarget, type Probe } from "./deploy-support";
import { tail } from "./lib/errors";
import { canaryIngressName, colouredName, observeProduction, type Colour, type ObservedProduction } from "./lib/deploy/bluegreen";

export interface Observation {
  observed: ObservedProduction;
  service: Record<string, unknown>;
  raw: Record<Colour, Record<string, unknown> | null>;
}

/** Reads the production objects and builds the planner's view of them. */
export async function observe(p: Pipeline, target: KubeTarget): Promise<Observation> {
  const cfg = p.config.environments.production;
  const [service, blue, green, canary] = await Promise.all([
    getObject(p, target, "service", cfg.service),
    getObject(p, target, "deployment", colouredName(cfg.deployment, "blue")),
    getObject(p, target, "deployment", colouredName(cfg.deployment, "green")),
    getObject(p, target, "ingress", canaryIngressName(cfg.ingress)),
  ]);
  if (!service) {
    throw new Error(`production: Service ${cfg.service} does not exist (namespace ${cfg.namespace}); bootstrap with kubectl apply -k ci/k8s/overlays/production`);
  }
  const observed = observeProduction({ service, blue, green, canaryIngress: canary, container: cfg.container, serviceBase: cfg.service });
  return { observed, service, raw: { blue, green } };
}

/** Smoke through the API server's service proxy: the colour's own Service, no public traffic involved. */
export function proxyProbe(p: Pipeline, target: KubeTarget, serviceName: string, port: string): Probe {
  return async (path) => {
    const out = await kubectl(p, target, ["get", "--raw", `/api/v1/namespaces/${target.namespace}/services/${serviceName}:${port}/proxy${path}`], {
      namespaced: false,
    });
    // kubectl get --raw exits non-zero on any non-2xx answer.
    return out.exitCode === 0 ? { status: 200, body: out.stdout } : { status: null, body: "", error: tail(out.stderr || out.stdout, 3) };
  };
}
