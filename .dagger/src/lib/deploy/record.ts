/** The record every deployment function returns (as JSON), shared by dev/staging and production. */
export interface DeploymentRecord {
  environment: string;
  namespace: string;
  deployment: string;
  operation: "deploy" | "rollback" | "deploy-production";
  image: string;
  /** sha256 digest the pods run (from their imageID), or of the reference; null when unknown. */
  digest: string | null;
  previousImage?: string | null;
  commit?: string;
  reason?: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  result: "success" | "failure" | "rolled-back";
  details: Record<string, unknown>;
  notification: string;
}
