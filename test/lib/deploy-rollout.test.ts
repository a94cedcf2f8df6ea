import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { describeRolloutFailure, parseRolloutStatus, rolloutFromDeployment } from "../../.dagger/src/lib/deploy/rollout";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/reports/kubectl/${name}`, import.meta.url), "utf8");

/**
 * The YAML samples (get-deployment-o-yaml-*.yaml) converted by hand to the JSON kubectl -o json prints;
 * only metadata, spec.replicas and status are relevant here and were copied value for value.
 */
const yamlSample = (progressing: { reason: string; message: string; status: string; lastTransitionTime: string; lastUpdateTime: string }) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "guestbook-ui", namespace: "default", generation: 4 },
  spec: { replicas: 1, progressDeadlineSeconds: 600 },
  status: {
    availableReplicas: 1,
    conditions: [
      {
        lastTransitionTime: "2018-07-18T04:48:48Z",
        lastUpdateTime: "2018-07-18T04:48:48Z",
        message: "Deployment has minimum availability.",
        reason: "MinimumReplicasAvailable",
        status: "True",
        type: "Available",
      },
      { ...progressing, type: "Progressing" },
    ],
    observedGeneration: 4,
    readyReplicas: 1,
    replicas: 2,
    unavailableReplicas: 1,
    updatedReplicas: 1,
  },
});
const deadlineExceeded = yamlSample({
  lastTransitionTime: "2018-07-18T06:29:23Z",
  lastUpdateTime: "2018-07-18T06:29:23Z",
  message: 'ReplicaSet "guestbook-ui-75dd4d49d5" has timed out progressing.',
  reason: "ProgressDeadlineExceeded",
  status: "False",
});
const progressing = yamlSample({
  lastTransitionTime: "2018-07-18T04:40:44Z",
  lastUpdateTime: "2018-07-18T06:19:22Z",
  message: 'ReplicaSet "guestbook-ui-75dd4d49d5" is progressing.',
  reason: "ReplicaSetUpdated",
  status: "True",
});

describe("the hand-converted YAML samples", () => {
  it("match the YAML files they were copied from", () => {
    for (const [file, sample] of [
      ["get-deployment-o-yaml-progress-deadline-exceeded.yaml", deadlineExceeded],
      ["get-deployment-o-yaml-progressing.yaml", progressing],
    ] as const) {
      const yaml = fixture(file);
      const progressingCondition = sample.status.conditions[1];
      expect(yaml).toContain(`message: ${progressingCondition.message}`);
      expect(yaml).toContain(`reason: ${progressingCondition.reason}`);
      expect(yaml).toContain(`status: "${progressingCondition.status}"`);
      expect(yaml).toContain(`lastTransitionTime: ${progressingCondition.lastTransitionTime}`);
      expect(yaml).toMatch(/^ {2}replicas: 2$/m);
      expect(yaml).toMatch(/^ {2}unavailableReplicas: 1$/m);
      expect(yaml).toMatch(/^ {2}observedGeneration: 4$/m);
    }
  });
});

describe("parseRolloutStatus", () => {
  it("reads the documented success output", () => {
    expect(parseRolloutStatus(fixture("rollout-status-success.txt"), 0)).toEqual({
      complete: true,
      message: 'deployment "nginx-deployment" successfully rolled out',
    });
  });

  it("reads the documented progress-deadline failure", () => {
    expect(parseRolloutStatus(fixture("rollout-status-failure-progress-deadline.txt"), 1)).toEqual({
      complete: false,
      reason: "ProgressDeadlineExceeded",
      message: 'deployment "nginx" exceeded its progress deadline',
    });
  });

  it("reads a --timeout expiry with the current kubectl wording", () => {
    const output = 'Waiting for deployment "analytics-api" rollout to finish: 1 of 3 updated replicas are available...\nerror: timed out waiting for the condition\n';
    expect(parseRolloutStatus(output, 1)).toEqual({ complete: false, reason: "Timeout", message: "timed out waiting for the condition" });
  });

  it("fails closed on anything but an explicit success", () => {
    expect(parseRolloutStatus("", 0)).toEqual({ complete: false, reason: "NoOutput", message: "kubectl rollout status printed nothing" });
    expect(parseRolloutStatus("Waiting for rollout to finish: 2 out of 3 new replicas have been updated...\n")).toMatchObject({
      complete: false,
      reason: "InProgress",
    });
    expect(parseRolloutStatus("Waiting for rollout to finish: 0 of 3 updated replicas are available...\n", 1).reason).toBe("Timeout");
    expect(parseRolloutStatus('Error from server (NotFound): deployments.apps "x" not found', 1)).toMatchObject({ complete: false, reason: "Unrecognised" });
    expect(parseRolloutStatus("error: the server doesn't have a resource type \"deploymnt\"", 1)).toMatchObject({ complete: false, reason: "Error" });
    expect(parseRolloutStatus(fixture("rollout-status-success.txt"), 1)).toMatchObject({ complete: false, reason: "Error" });
  });
});

describe("rolloutFromDeployment", () => {
  it("is complete for the available sample (kubectl get -o json)", () => {
    expect(rolloutFromDeployment(fixture("get-deployment-o-json-available.json"))).toEqual({
      complete: true,
      reason: "NewReplicaSetAvailable",
      message: 'deployment "guestbook-ui" successfully rolled out',
    });
  });

  it("reports the progress deadline from the Progressing condition", () => {
    expect(rolloutFromDeployment(deadlineExceeded)).toEqual({
      complete: false,
      reason: "ProgressDeadlineExceeded",
      message: 'ReplicaSet "guestbook-ui-75dd4d49d5" has timed out progressing.',
    });
  });

  it("reports an in-progress rollout with old replicas left", () => {
    expect(rolloutFromDeployment(progressing)).toEqual({ complete: false, reason: "OldReplicasPending", message: "1 old replicas are pending termination" });
  });

  it("waits for the controller to observe a new spec", () => {
    const stale = JSON.parse(fixture("get-deployment-o-json-available.json"));
    stale.metadata.generation = 6;
    expect(rolloutFromDeployment(stale)).toMatchObject({ complete: false, reason: "ObservedGenerationStale" });
    const unavailable = JSON.parse(fixture("get-deployment-o-json-available.json"));
    unavailable.spec.replicas = 3;
    unavailable.status = { ...unavailable.status, replicas: 3, updatedReplicas: 3, availableReplicas: 1 };
    expect(rolloutFromDeployment(unavailable)).toEqual({ complete: false, reason: "ReplicasUnavailable", message: "1 of 3 updated replicas are available" });
  });

  it("rejects what is not a Deployment", () => {
    expect(() => rolloutFromDeployment("{")).toThrow("Deployment JSON is not valid JSON");
    expect(() => rolloutFromDeployment({ kind: "List", items: [] })).toThrow('got kind "List"');
  });
});

describe("describeRolloutFailure", () => {
  const events = {
    apiVersion: "v1",
    kind: "List",
    items: [
      {
        involvedObject: { kind: "Pod", name: "guestbook-ui-75dd4d49d5-x7k2p" },
        reason: "BackOff",
        message: "Back-off restarting failed container guestbook-ui",
        type: "Warning",
        count: 12,
        lastTimestamp: "2018-07-18T06:20:00Z",
      },
      {
        involvedObject: { kind: "ReplicaSet", name: "guestbook-ui-75dd4d49d5" },
        reason: "SuccessfulCreate",
        message: "Created pod: guestbook-ui-75dd4d49d5-x7k2p",
        type: "Normal",
        lastTimestamp: "2018-07-18T06:19:22Z",
      },
      {
        involvedObject: { kind: "Pod", name: "redis-0" },
        reason: "Pulled",
        message: "unrelated",
        type: "Normal",
        lastTimestamp: "2018-07-18T06:21:00Z",
      },
      {
        involvedObject: { kind: "Pod", name: "guestbook-ui-75dd4d49d5-x7k2p" },
        reason: "Failed",
        message: "Error: ImagePullBackOff",
        type: "Warning",
        eventTime: "2018-07-18T06:19:30.000000Z",
        lastTimestamp: null,
      },
    ],
  };

  it("lists the replicas, the conditions and the related events in time order", () => {
    expect(describeRolloutFailure(deadlineExceeded, JSON.stringify(events))).toBe(
      [
        'Deployment default/guestbook-ui: rollout incomplete (ProgressDeadlineExceeded): ReplicaSet "guestbook-ui-75dd4d49d5" has timed out progressing.',
        "Replicas: desired 1, updated 1, ready 1, available 1, unavailable 1",
        "Conditions:",
        "  Available=True (MinimumReplicasAvailable): Deployment has minimum availability.",
        '  Progressing=False (ProgressDeadlineExceeded): ReplicaSet "guestbook-ui-75dd4d49d5" has timed out progressing.',
        "Recent events (oldest first, at most 10):",
        "  2018-07-18T06:19:22Z Normal SuccessfulCreate ReplicaSet/guestbook-ui-75dd4d49d5: Created pod: guestbook-ui-75dd4d49d5-x7k2p",
        "  2018-07-18T06:19:30.000000Z Warning Failed Pod/guestbook-ui-75dd4d49d5-x7k2p: Error: ImagePullBackOff",
        "  2018-07-18T06:20:00Z Warning BackOff Pod/guestbook-ui-75dd4d49d5-x7k2p: Back-off restarting failed container guestbook-ui (x12)",
      ].join("\n"),
    );
  });

  it("keeps only the most recent events", () => {
    const text = describeRolloutFailure(deadlineExceeded, events, 1);
    expect(text).toContain("at most 1");
    expect(text).toContain("BackOff");
    expect(text).not.toContain("SuccessfulCreate");
  });

  it("still describes the Deployment when the events are missing or unreadable", () => {
    expect(describeRolloutFailure(deadlineExceeded)).not.toContain("events");
    expect(describeRolloutFailure(deadlineExceeded, "")).toContain("Recent events (oldest first, at most 10):\n  (none)");
    expect(describeRolloutFailure(deadlineExceeded, "{oops")).toMatch(/Events: unreadable \(.*JSON/);
    expect(describeRolloutFailure(deadlineExceeded, { kind: "Event" })).toContain("Events: unreadable (expected `kubectl get events -o json`");
  });
});
