/** State-table keys (DESIGN "Stored data", contract). */
export const stateKeys = {
  shop: (shopId: string) => `SHOP#${shopId}`,
  meta: "META",
  lock: "LOCK",
  checkpoint: "CHECKPOINT",
  token: "TOKEN",
  job: (jobId: string) => `JOB#${jobId}`,
  window: (jobId: string, windowNumber: number) =>
    `JOB#${jobId}#WIN#${String(windowNumber).padStart(6, "0")}`,
  windowPrefix: (jobId: string) => `JOB#${jobId}#WIN#`,
  quarantine: (orderId: string) => `QUARANTINE#${orderId}`,
  /** Per shop: what webhooks did (push status). */
  push: "PUSH",
  /** Deployment-wide webhook figures that belong to no synced shop (pk WEBHOOKS). */
  webhooks: "WEBHOOKS",
  webhookStats: "STATS",
  /** The shop's reconciliation (issue 18): its sweep, last healing and lease. */
  reconciliation: "RECONCILIATION",
} as const;

export function shopIdFromPartitionKey(pk: string): string {
  return pk.startsWith("SHOP#") ? pk.slice("SHOP#".length) : pk;
}
