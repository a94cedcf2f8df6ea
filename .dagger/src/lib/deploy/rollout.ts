/**
 * Rollout outcome from `kubectl rollout status` output or from the Deployment object itself.
 * kubectl's messages (staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go):
 *   Waiting for deployment "X" rollout to finish: N out of M new replicas have been updated...
 *   Waiting for deployment "X" rollout to finish: N old replicas are pending termination...
 *   Waiting for deployment "X" rollout to finish: N of M updated replicas are available...
 *   deployment "X" successfully rolled out
 *   error: deployment "X" exceeded its progress deadline
 * Older kubectl omits `deployment "X"` from the waiting lines; a `--timeout` expiry prints
 * `error: timed out waiting for the condition`.
 */

export interface RolloutResult {
  complete: boolean;
  reason?: string;
  message?: string;
}

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Only an explicit "successfully rolled out" line (and a zero exit code, when given) counts as complete. */
export function parseRolloutStatus(output: string, exitCode?: number): RolloutResult {
  const lines = output
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const success = lines.find((line) => /successfully rolled out$/.test(line));
  const errorLine = lines.find((line) => /^error:/i.test(line));
  const deadline = lines.find((line) => /exceeded its progress deadline/.test(line));
  if (deadline) return { complete: false, reason: "ProgressDeadlineExceeded", message: deadline.replace(/^error:\s*/, "") };
  if (errorLine) {
    const message = errorLine.replace(/^error:\s*/i, "");
    return { complete: false, reason: /timed out/i.test(message) ? "Timeout" : "Error", message };
  }
  if (success && (exitCode === undefined || exitCode === 0)) return { complete: true, message: success };
  if (success) return { complete: false, reason: "Error", message: `kubectl exited with ${exitCode} after: ${success}` };
  const waiting = [...lines].reverse().find((line) => /^Waiting for /.test(line));
  if (waiting) {
    return { complete: false, reason: exitCode ? "Timeout" : "InProgress", message: waiting };
  }
  if (lines.length === 0) return { complete: false, reason: "NoOutput", message: "kubectl rollout status printed nothing" };
  return { complete: false, reason: "Unrecognised", message: lines[lines.length - 1] };
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

function conditionsOf(status: Json): Condition[] {
  const raw = Array.isArray(status.conditions) ? status.conditions : [];
  return raw.filter(isRecord).map((condition) => ({
    type: String(condition.type),
    status: String(condition.status),
    ...(typeof condition.reason === "string" ? { reason: condition.reason } : {}),
    ...(typeof condition.message === "string" ? { message: condition.message } : {}),
    ...(typeof condition.lastUpdateTime === "string" ? { lastUpdateTime: condition.lastUpdateTime } : {}),
    ...(typeof condition.lastTransitionTime === "string" ? { lastTransitionTime: condition.lastTransitionTime } : {}),
  }));
}

function parseDeployment(input: unknown): Json {
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new Error(`Deployment JSON is not valid JSON (${(error as Error).message})`);
    }
  }
  if (!isRecord(value) || value.kind !== "Deployment") {
    throw new Error(`expected a Deployment object (kubectl get deployment -o json), got kind ${JSON.stringify(isRecord(value) ? value.kind : value)}`);
  }
  return value;
}

const count = (value: unknown) => (typeof value === "number" ? value : 0);

/** The same decision kubectl's rollout status makes, on the Deployment JSON. */
export function rolloutFromDeployment(deploymentJson: unknown): RolloutResult {
  const deployment = parseDeployment(deploymentJson);
  const metadata = isRecord(deployment.metadata) ? deployment.metadata : {};
  const spec = isRecord(deployment.spec) ? deployment.spec : {};
  const status = isRecord(deployment.status) ? deployment.status : {};
  const name = typeof metadata.name === "string" ? metadata.name : "(unnamed)";

  if (typeof metadata.generation === "number" && count(status.observedGeneration) < metadata.generation) {
    return { complete: false, reason: "ObservedGenerationStale", message: `waiting for deployment "${name}" spec update to be observed` };
  }
  const progressing = conditionsOf(status).find((condition) => condition.type === "Progressing");
  if (progressing?.reason === "ProgressDeadlineExceeded") {
    return { complete: false, reason: "ProgressDeadlineExceeded", message: progressing.message ?? `deployment "${name}" exceeded its progress deadline` };
  }
  const desired = typeof spec.replicas === "number" ? spec.replicas : 1;
  const updated = count(status.updatedReplicas);
  const total = count(status.replicas);
  const available = count(status.availableReplicas);
  if (updated < desired) {
    return { complete: false, reason: "ReplicasUpdating", message: `${updated} out of ${desired} new replicas have been updated` };
  }
  if (total > updated) {
    return { complete: false, reason: "OldReplicasPending", message: `${total - updated} old replicas are pending termination` };
  }
  if (available < updated) {
    return { complete: false, reason: "ReplicasUnavailable", message: `${available} of ${updated} updated replicas are available` };
  }
  return { complete: true, reason: progressing?.reason ?? "Complete", message: `deployment "${name}" successfully rolled out` };
}

interface EventLine {
  time: string;
  text: string;
}

function eventTime(event: Json): string {
  for (const field of ["lastTimestamp", "eventTime", "firstTimestamp"]) {
    if (typeof event[field] === "string" && event[field]) return event[field] as string;
  }
  const metadata = isRecord(event.metadata) ? event.metadata : {};
  return typeof metadata.creationTimestamp === "string" ? metadata.creationTimestamp : "";
}

/**
 * A readable account of a failed rollout for error messages: the replica counts, every condition and
 * the most recent events about the Deployment, its ReplicaSets and Pods (`<name>-<hash>...`).
 */
export function describeRolloutFailure(deploymentJson: unknown, eventsJson?: unknown, maxEvents = 10): string {
  const deployment = parseDeployment(deploymentJson);
  const metadata = isRecord(deployment.metadata) ? deployment.metadata : {};
  const spec = isRecord(deployment.spec) ? deployment.spec : {};
  const status = isRecord(deployment.status) ? deployment.status : {};
  const name = typeof metadata.name === "string" ? metadata.name : "(unnamed)";
  const namespace = typeof metadata.namespace === "string" ? `${metadata.namespace}/` : "";
  const result = rolloutFromDeployment(deployment);

  const lines = [
    `Deployment ${namespace}${name}: ${result.complete ? "rolled out" : `rollout incomplete (${result.reason}): ${result.message}`}`,
    `Replicas: desired ${typeof spec.replicas === "number" ? spec.replicas : 1}, updated ${count(status.updatedReplicas)}, ready ${count(status.readyReplicas)}, available ${count(status.availableReplicas)}, unavailable ${count(status.unavailableReplicas)}`,
  ];
  const conditions = conditionsOf(status);
  lines.push("Conditions:");
  if (conditions.length === 0) lines.push("  (none reported)");
  for (const condition of conditions) {
    lines.push(`  ${condition.type}=${condition.status}${condition.reason ? ` (${condition.reason})` : ""}${condition.message ? `: ${condition.message}` : ""}`);
  }

  if (eventsJson !== undefined && eventsJson !== null) {
    let events: unknown = eventsJson;
    if (typeof events === "string") {
      try {
        events = events.trim() === "" ? { items: [] } : JSON.parse(events);
      } catch (error) {
        lines.push(`Events: unreadable (${(error as Error).message})`);
        return lines.join("\n");
      }
    }
    const items = isRecord(events) && Array.isArray(events.items) ? events.items.filter(isRecord) : null;
    if (items === null) {
      lines.push("Events: unreadable (expected `kubectl get events -o json`: an object with items[])");
      return lines.join("\n");
    }
    const related: EventLine[] = items
      .filter((event) => {
        const involved = isRecord(event.involvedObject) ? event.involvedObject : {};
        const objectName = typeof involved.name === "string" ? involved.name : "";
        return objectName === name || objectName.startsWith(`${name}-`);
      })
      .map((event) => {
        const involved = isRecord(event.involvedObject) ? event.involvedObject : {};
        const repeated = typeof event.count === "number" && event.count > 1 ? ` (x${event.count})` : "";
        return {
          time: eventTime(event),
          text: `${String(event.type ?? "Normal")} ${String(event.reason ?? "?")} ${String(involved.kind ?? "?")}/${String(involved.name ?? "?")}: ${String(event.message ?? "").trim()}${repeated}`,
        };
      })
      .sort((a, b) => (Date.parse(a.time) || 0) - (Date.parse(b.time) || 0))
      .slice(-maxEvents);
    lines.push(`Recent events (oldest first, at most ${maxEvents}):`);
    if (related.length === 0) lines.push("  (none)");
    for (const event of related) lines.push(`  ${event.time || "(no time)"} ${event.text}`);
  }
  return lines.join("\n");
}
