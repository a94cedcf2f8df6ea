import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  canaryIngress,
  describeAction,
  greenFromBlue,
  ingressBackendPort,
  liveColour,
  type ObservedProduction,
  observeProduction,
  otherColour,
  planRollback,
  planUndo,
  productionState,
  serviceSelectorPatch,
} from "../../.dagger/src/lib/deploy/bluegreen";

const liveText = readFileSync(new URL("../fixtures/reports/kubectl/get-deployment-o-json-available.json", import.meta.url), "utf8");
const live = () => JSON.parse(liveText) as Record<string, any>;
const NEW_IMAGE = "ghcr.io/acme/observatory/analytics-api:1.3.0";

describe("greenFromBlue on a real kubectl get deployment -o json", () => {
  const green = greenFromBlue(liveText, { colour: "green", image: NEW_IMAGE, container: "guestbook-ui" }) as Record<string, any>;

  it("names and labels the new colour everywhere the selector matters", () => {
    expect(green.metadata.name).toBe("guestbook-ui-green");
    expect(green.metadata.namespace).toBe("default");
    expect(green.metadata.labels).toEqual({ "app.kubernetes.io/instance": "guestbook", color: "green" });
    expect(green.spec.selector).toEqual({ matchLabels: { app: "guestbook-ui", color: "green" } });
    expect(green.spec.template.metadata).toEqual({ labels: { app: "guestbook-ui", color: "green" } });
  });

  it("replaces only the named container's image and keeps the rest of the pod spec", () => {
    const [container] = green.spec.template.spec.containers;
    expect(container.image).toBe(NEW_IMAGE);
    expect(container.env).toEqual(live().spec.template.spec.containers[0].env);
    expect(container.ports).toEqual([{ containerPort: 80, protocol: "TCP" }]);
    expect(green.spec.template.spec.terminationGracePeriodSeconds).toBe(30);
    expect(green.spec.replicas).toBe(1);
    expect(green.spec.strategy).toEqual(live().spec.strategy);
  });

  it("strips every server-side field", () => {
    expect(green.status).toBeUndefined();
    for (const field of ["uid", "resourceVersion", "generation", "creationTimestamp", "selfLink", "managedFields"]) {
      expect(green.metadata[field], field).toBeUndefined();
    }
    expect(green.metadata.annotations).toBeUndefined();
    expect(green.apiVersion).toBe("apps/v1");
    expect(green.kind).toBe("Deployment");
  });

  it("does not modify its input", () => {
    const input = live();
    greenFromBlue(input, { colour: "green", image: NEW_IMAGE, container: "guestbook-ui" });
    expect(input).toEqual(live());
  });

  it("keeps other annotations and follows the replicas of the live one", () => {
    const input = live();
    input.metadata.name = "analytics-api-blue";
    input.metadata.labels.color = "blue";
    input.metadata.annotations["team.example/owner"] = "observability";
    input.spec.replicas = 4;
    const blueToGreen = greenFromBlue(input, { colour: "green", image: NEW_IMAGE, container: "guestbook-ui" }) as Record<string, any>;
    expect(blueToGreen.metadata.name).toBe("analytics-api-green");
    expect(blueToGreen.metadata.annotations).toEqual({ "team.example/owner": "observability" });
    expect(blueToGreen.spec.replicas).toBe(4);
    const named = greenFromBlue(input, { colour: "green", image: NEW_IMAGE, container: "guestbook-ui", name: "api" }) as Record<string, any>;
    expect(named.metadata.name).toBe("api-green");
  });

  it("names the containers that exist when the container is wrong", () => {
    expect(() => greenFromBlue(liveText, { colour: "green", image: NEW_IMAGE, container: "analytics-api" })).toThrow(
      'Deployment guestbook-ui has no container "analytics-api"; its containers: guestbook-ui',
    );
  });

  it("refuses to derive the live colour from itself", () => {
    const input = live();
    input.metadata.labels.color = "green";
    expect(() => greenFromBlue(input, { colour: "green", image: NEW_IMAGE, container: "guestbook-ui" })).toThrow(
      "already is the green colour",
    );
  });

  it.each([
    ["{", "live Deployment: not valid JSON"],
    ['{"kind":"Service"}', 'live Deployment: expected kind Deployment, got "Service"'],
    ['{"kind":"Deployment","metadata":{"name":"x"},"spec":{"template":{"spec":{"containers":[]}}}}', "spec.template.spec.containers is missing or empty"],
    ['{"kind":"Deployment","metadata":{"name":"x"}}', "Deployment x: spec: expected an object"],
  ])("rejects %j", (input, message) => {
    expect(() => greenFromBlue(input, { colour: "green", image: NEW_IMAGE, container: "c" })).toThrow(message);
  });
});

const service = (selector: Record<string, string>) => ({ apiVersion: "v1", kind: "Service", metadata: { name: "analytics-api" }, spec: { selector } });

describe("Service colour", () => {
  it("reads the live colour from the selector", () => {
    expect(liveColour(service({ app: "analytics-api", color: "green" }))).toBe("green");
    expect(liveColour(JSON.stringify(service({ app: "analytics-api", color: "blue" })))).toBe("blue");
  });

  it("says so when the selector has no colour", () => {
    expect(() => liveColour(service({ app: "analytics-api" }))).toThrow(
      'Service analytics-api selector has no "color" label (selector: {"app":"analytics-api"}): a blue-green Service must select blue or green',
    );
    expect(() => liveColour(service({ color: "red" }))).toThrow('Service analytics-api selects color="red"; expected blue or green');
  });

  it("patches only the colour", () => {
    expect(serviceSelectorPatch("green")).toEqual({ spec: { selector: { color: "green" } } });
    expect(otherColour("blue")).toBe("green");
    expect(otherColour("green")).toBe("blue");
  });
});

const mainIngress = {
  apiVersion: "networking.k8s.io/v1",
  kind: "Ingress",
  metadata: {
    name: "analytics-api",
    namespace: "llm-observatory",
    resourceVersion: "42",
    uid: "u",
    annotations: { "nginx.ingress.kubernetes.io/proxy-body-size": "8m", "kubectl.kubernetes.io/last-applied-configuration": "{}" },
  },
  spec: {
    ingressClassName: "nginx",
    tls: [{ hosts: ["api.llm-observatory.io"], secretName: "analytics-api-tls" }],
    rules: [
      {
        host: "api.llm-observatory.io",
        http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "analytics-api", port: { number: 80 } } } }] },
      },
    ],
  },
  status: { loadBalancer: {} },
};

describe("canaryIngress", () => {
  const canary = canaryIngress(mainIngress, 5, "analytics-api-green") as Record<string, any>;

  it("copies the Ingress with the canary annotations and the canary backend", () => {
    expect(canary.metadata).toEqual({
      name: "analytics-api-canary",
      namespace: "llm-observatory",
      annotations: {
        "nginx.ingress.kubernetes.io/proxy-body-size": "8m",
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "5",
      },
    });
    expect(canary.spec.rules[0].host).toBe("api.llm-observatory.io");
    expect(canary.spec.rules[0].http.paths[0].backend).toEqual({ service: { name: "analytics-api-green", port: { number: 80 } } });
    expect(canary.spec.ingressClassName).toBe("nginx");
    expect(canary.status).toBeUndefined();
    expect(mainIngress.spec.rules[0].http.paths[0].backend.service.name).toBe("analytics-api");
  });

  it("validates the weight and refuses a canary as input", () => {
    expect(() => canaryIngress(mainIngress, 101, "x")).toThrow("canary weight must be an integer 0..100, got 101");
    expect(() => canaryIngress(mainIngress, 2.5, "x")).toThrow("got 2.5");
    expect(() => canaryIngress(canary, 5, "x")).toThrow("is itself a canary Ingress");
  });

  it("finds the backend port as ingress-nginx names the upstream", () => {
    expect(ingressBackendPort(mainIngress, "analytics-api")).toBe("80");
    expect(() => ingressBackendPort(mainIngress, "other")).toThrow("Ingress analytics-api has no backend for Service other");
  });
});

const TARGET = "registry/analytics-api:2.0.0";
const OLD = "registry/analytics-api:1.0.0";
const options = { targetImage: TARGET, canarySteps: [5], graceSeconds: 300 };
const ready = (image: string, replicas = 3) => ({ image, replicas, readyReplicas: replicas });

function plan(observed: ObservedProduction, planOptions: Parameters<typeof productionState>[1] = options): string[] {
  return productionState(observed, planOptions).actions.map(describeAction);
}

const FULL_TAIL = ["switch(green)", "remove-canary", "scale-down-old(blue, after 300s)", "done"];

describe("productionState resumes from every intermediate state", () => {
  it("fresh release: the idle colour does not exist yet", () => {
    const result = productionState({ serviceColour: "blue", deployments: { blue: ready(OLD), green: null }, canary: null }, options);
    expect(result.live).toBe("blue");
    expect(result.idle).toBe("green");
    expect(result.actions.map(describeAction)).toEqual([
      `create-idle(green, ${TARGET})`,
      "wait-rollout(green)",
      "smoke-idle(green)",
      "set-canary(5)",
      "analyse(5)",
      ...FULL_TAIL,
    ]);
  });

  it("hotfix: from the smoke-tested idle colour straight to the switch, no canary step", () => {
    const observed: ObservedProduction = { serviceColour: "blue", deployments: { blue: ready(OLD), green: ready(OLD, 0) }, canary: null };
    expect(plan(observed, { ...options, canarySteps: [5, 25, 50], hotfix: true })).toEqual([`create-idle(green, ${TARGET})`, "wait-rollout(green)", "smoke-idle(green)", ...FULL_TAIL]);
  });

  it("hotfix over a canary an earlier run left at the target: no analysis, the switch, then the canary goes", () => {
    const observed: ObservedProduction = {
      serviceColour: "blue",
      deployments: { blue: ready(OLD), green: ready(TARGET) },
      canary: { colour: "green", serviceName: "analytics-api-green", weight: 5 },
    };
    expect(plan(observed, { ...options, hotfix: true })).toEqual(["smoke-idle(green)", ...FULL_TAIL]);
  });

  it("idle colour parked at zero replicas with the previous release", () => {
    expect(plan({ serviceColour: "blue", deployments: { blue: ready(OLD), green: { image: OLD, replicas: 0, readyReplicas: 0 } }, canary: null })[0]).toBe(
      `create-idle(green, ${TARGET})`,
    );
  });

  it("interrupted during the rollout of the idle colour", () => {
    expect(plan({ serviceColour: "blue", deployments: { blue: ready(OLD), green: { image: TARGET, replicas: 3, readyReplicas: 1 } }, canary: null })).toEqual([
      "wait-rollout(green)",
      "smoke-idle(green)",
      "set-canary(5)",
      "analyse(5)",
      ...FULL_TAIL,
    ]);
  });

  it("interrupted after the rollout (smoke not recorded): smoke again", () => {
    expect(plan({ serviceColour: "blue", deployments: { blue: ready(OLD), green: ready(TARGET) }, canary: null })).toEqual([
      "smoke-idle(green)",
      "set-canary(5)",
      "analyse(5)",
      ...FULL_TAIL,
    ]);
  });

  it("interrupted during the analysis: re-smoke and restart the analysis at the current weight", () => {
    const observed: ObservedProduction = {
      serviceColour: "blue",
      deployments: { blue: ready(OLD), green: ready(TARGET) },
      canary: { colour: "green", serviceName: "analytics-api-green", weight: 5 },
    };
    expect(plan(observed)).toEqual(["smoke-idle(green)", "analyse(5)", ...FULL_TAIL]);
    expect(plan(observed, { ...options, canarySteps: [5, 25, 50] })).toEqual([
      "smoke-idle(green)",
      "analyse(5)",
      "set-canary(25)",
      "analyse(25)",
      "set-canary(50)",
      "analyse(50)",
      ...FULL_TAIL,
    ]);
    expect(plan({ ...observed, canary: { ...observed.canary!, weight: 25 } }, { ...options, canarySteps: [5, 25, 50] })).toEqual([
      "smoke-idle(green)",
      "analyse(25)",
      "set-canary(50)",
      "analyse(50)",
      ...FULL_TAIL,
    ]);
  });

  it("a canary weight that is not a configured step restarts the steps", () => {
    const observed: ObservedProduction = {
      serviceColour: "blue",
      deployments: { blue: ready(OLD), green: ready(TARGET) },
      canary: { colour: "green", serviceName: "analytics-api-green", weight: 40 },
    };
    expect(plan(observed)).toEqual(["smoke-idle(green)", "set-canary(5)", "analyse(5)", ...FULL_TAIL]);
  });

  it("interrupted after the switch: remove the canary, then scale the old colour down", () => {
    const observed: ObservedProduction = {
      serviceColour: "green",
      deployments: { blue: ready(OLD), green: ready(TARGET) },
      canary: { colour: "green", serviceName: "analytics-api-green", weight: 5 },
    };
    expect(plan(observed)).toEqual([
      "repair: remove canary (the release is live on green; the canary Ingress to analytics-api-green is left over)",
      "scale-down-old(blue, after 300s)",
      "done",
    ]);
  });

  it("interrupted before the scale-down, and finished", () => {
    expect(plan({ serviceColour: "green", deployments: { blue: ready(OLD), green: ready(TARGET) }, canary: null })).toEqual([
      "scale-down-old(blue, after 300s)",
      "done",
    ]);
    expect(plan({ serviceColour: "green", deployments: { blue: { image: OLD, replicas: 0, readyReplicas: 0 }, green: ready(TARGET) }, canary: null })).toEqual([
      "done",
    ]);
  });

  it("repairs a stray canary pointing at the live colour", () => {
    const actions = productionState(
      { serviceColour: "blue", deployments: { blue: ready(OLD), green: null }, canary: { colour: "blue", serviceName: "analytics-api-blue", weight: 5 } },
      options,
    ).actions;
    expect(actions[0]).toEqual({
      type: "remove-canary",
      repair: "stray canary: it sends traffic to analytics-api-blue, not to the idle colour green",
    });
    expect(actions.slice(1).map(describeAction)).toEqual([
      `create-idle(green, ${TARGET})`,
      "wait-rollout(green)",
      "smoke-idle(green)",
      "set-canary(5)",
      "analyse(5)",
      ...FULL_TAIL,
    ]);
  });

  it("repairs a canary to an idle colour that runs another release (never both colours half-live)", () => {
    const actions = plan({
      serviceColour: "blue",
      deployments: { blue: ready(OLD), green: ready("registry/analytics-api:1.5.0") },
      canary: { colour: "green", serviceName: "analytics-api-green", weight: 5 },
    });
    expect(actions[0]).toBe("repair: remove canary (stray canary: the idle colour green runs registry/analytics-api:1.5.0 (3/3 ready), not a ready registry/analytics-api:2.0.0)");
    expect(actions[1]).toBe(`create-idle(green, ${TARGET})`);
  });

  it("repairs a canary whose backend is no colour Service", () => {
    expect(
      plan({ serviceColour: "blue", deployments: { blue: ready(OLD), green: ready(TARGET) }, canary: { colour: null, serviceName: "legacy", weight: 10 } })[0],
    ).toBe("repair: remove canary (stray canary: it sends traffic to legacy, not to the idle colour green)");
  });

  it("never sets a canary before the idle colour is rolled out and smoke-tested", () => {
    for (const green of [null, ready(OLD), { image: TARGET, replicas: 3, readyReplicas: 0 }, ready(TARGET)]) {
      const actions = plan({ serviceColour: "blue", deployments: { blue: ready(OLD), green }, canary: null });
      expect(actions.indexOf("smoke-idle(green)")).toBeLessThan(actions.indexOf("set-canary(5)"));
      expect(actions.indexOf("switch(green)")).toBeLessThan(actions.indexOf("remove-canary"));
    }
  });

  it("is blocked when the Service's colour has no Deployment or the live release is not ready", () => {
    expect(plan({ serviceColour: "blue", deployments: { blue: null, green: ready(TARGET) }, canary: null })).toEqual([
      "blocked: the Service selects blue but that Deployment does not exist: restore it or point the Service at an existing colour",
    ]);
    expect(plan({ serviceColour: "green", deployments: { blue: ready(OLD), green: { image: TARGET, replicas: 3, readyReplicas: 1 } }, canary: null })).toEqual([
      `blocked: the live colour green already runs ${TARGET} but is not ready (1/3 ready): investigate or roll back`,
    ]);
  });
});

describe("planRollback", () => {
  it("during the canary: remove it and park the idle colour", () => {
    const actions = planRollback(
      { serviceColour: "blue", deployments: { blue: ready(OLD), green: ready(TARGET) }, canary: { colour: "green", serviceName: "analytics-api-green", weight: 5 } },
      TARGET,
    );
    expect(actions.map(describeAction)).toEqual(["remove-canary", "scale-down-old(green, after 0s)", "done"]);
  });

  it("after the switch, within the grace period: switch back", () => {
    const actions = planRollback({ serviceColour: "green", deployments: { blue: ready(OLD), green: ready(TARGET) }, canary: null }, TARGET);
    expect(actions.map(describeAction)).toEqual(["switch(blue)", "scale-down-old(green, after 0s)", "done"]);
  });

  it("after the grace period: blocked, nothing to switch back to", () => {
    const actions = planRollback(
      { serviceColour: "green", deployments: { blue: { image: OLD, replicas: 0, readyReplicas: 0 }, green: ready(TARGET) }, canary: null },
      TARGET,
    );
    expect(describeAction(actions[0])).toMatch(/^blocked: registry\/analytics-api:2\.0\.0 is live on green and the other colour blue is at .* with 0\/0 ready/);
  });
});

describe("planUndo: only what the failed run changed", () => {
  const canaryToGreen = { colour: "green" as const, serviceName: "analytics-api-green", weight: 5 };
  const nothing = { idle: "green" as const, appliedIdle: false, appliedCanary: false, condemnedCanary: false };

  it("a run that changed nothing undoes nothing, whatever the cluster shows (mid-canary, grace period)", () => {
    const midCanary: ObservedProduction = { serviceColour: "blue", deployments: { blue: ready(OLD), green: ready(TARGET) }, canary: canaryToGreen };
    const grace: ObservedProduction = { serviceColour: "green", deployments: { blue: ready(OLD), green: ready(TARGET) }, canary: null };
    expect(planUndo(midCanary, nothing).map(describeAction)).toEqual(["done"]);
    expect(planUndo(grace, { ...nothing, idle: "blue" }).map(describeAction)).toEqual(["done"]);
  });

  it("removes the canary this run applied and parks the colour it applied", () => {
    const observed: ObservedProduction = { serviceColour: "blue", deployments: { blue: ready(OLD), green: ready(TARGET) }, canary: canaryToGreen };
    expect(planUndo(observed, { ...nothing, appliedIdle: true, appliedCanary: true }).map(describeAction)).toEqual([
      "remove-canary",
      "scale-down-old(green, after 0s)",
      "done",
    ]);
    expect(planUndo(observed, { ...nothing, appliedIdle: true }).map(describeAction)).toEqual(["scale-down-old(green, after 0s)", "done"]);
  });

  it("a condemned canary is withdrawn even when an earlier run set it up", () => {
    const observed: ObservedProduction = { serviceColour: "blue", deployments: { blue: ready(OLD), green: ready(TARGET) }, canary: canaryToGreen };
    expect(planUndo(observed, { ...nothing, condemnedCanary: true }).map(describeAction)).toEqual(["remove-canary", "scale-down-old(green, after 0s)", "done"]);
  });

  it("never moves the Service and never scales the colour it selects (a switch that may have happened)", () => {
    const observed: ObservedProduction = { serviceColour: "green", deployments: { blue: ready(OLD), green: ready(TARGET) }, canary: null };
    const actions = planUndo(observed, { ...nothing, appliedIdle: true, appliedCanary: true });
    expect(actions.map(describeAction)).toEqual(["done"]);
  });
});

describe("observeProduction", () => {
  const colourDeployment = (colour: "blue" | "green", image: string, status: Record<string, number>) => {
    const deployment = live();
    deployment.metadata.name = `analytics-api-${colour}`;
    deployment.spec.template.spec.containers[0].name = "analytics-api";
    deployment.spec.template.spec.containers[0].image = image;
    deployment.spec.replicas = 3;
    deployment.status = { ...deployment.status, observedGeneration: 5, ...status };
    return deployment;
  };

  it("builds the planner's input from kubectl JSON", () => {
    const observed = observeProduction({
      service: service({ app: "analytics-api", color: "blue" }),
      blue: colourDeployment("blue", OLD, { replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 }),
      green: JSON.stringify(colourDeployment("green", TARGET, { replicas: 3, updatedReplicas: 3, readyReplicas: 2, availableReplicas: 2 })),
      canaryIngress: canaryIngress(mainIngress, 5, "analytics-api-green"),
      container: "analytics-api",
      serviceBase: "analytics-api",
    });
    expect(observed).toEqual({
      serviceColour: "blue",
      deployments: { blue: { image: OLD, replicas: 3, readyReplicas: 3 }, green: { image: TARGET, replicas: 3, readyReplicas: 2 } },
      canary: { colour: "green", serviceName: "analytics-api-green", weight: 5 },
    });
  });

  it("does not count pods of a spec the controller has not observed yet", () => {
    const stale = colourDeployment("green", TARGET, { replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, observedGeneration: 4 });
    const observed = observeProduction({ service: service({ color: "blue" }), blue: null, green: stale, canaryIngress: null, container: "analytics-api", serviceBase: "analytics-api" });
    expect(observed.deployments.green?.readyReplicas).toBe(0);
    expect(observed.deployments.blue).toBeNull();
    expect(observed.canary).toBeNull();
  });

  it("names the containers when the configured one is absent", () => {
    expect(() =>
      observeProduction({ service: service({ color: "blue" }), blue: liveText, green: null, canaryIngress: null, container: "analytics-api", serviceBase: "analytics-api" }),
    ).toThrow('Deployment guestbook-ui has no container "analytics-api"; its containers: guestbook-ui');
  });
});
