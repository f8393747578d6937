/**
 * Plugs push (issue 18) into the product: the webhook consumer's ports built from a Runtime, and the
 * receiver's from the app credentials and the webhook queue. Shared by the Lambda handlers, the local
 * stack and the tests, so each runs the same cores with the same adapters.
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { LogPort, MetricsPort } from "../observability/telemetry";
import { webhookQueuePort, webhookSender } from "../queues/sqs-webhook-queue";
import type { WebhookConsumerDeps } from "../webhooks/consumer";
import { makeWebhookReceiver, type WebhookAppsState } from "../webhooks/receiver";
import { type CredentialsState, credentialsConfigured, webhookAppsOf } from "./credentials";
import { pushStatsStore } from "./push-status";
import type { Runtime } from "./runtime";

export function webhookConsumerDeps(runtime: Runtime): WebhookConsumerDeps {
  const queueUrl = runtime.config.WEBHOOK_QUEUE_URL;
  if (!queueUrl) throw new Error("WEBHOOK_QUEUE_URL is required for the webhook consumer");
  return {
    shops: {
      authorizationOf: async (shopId) => (await runtime.shops.entry(shopId))?.authId,
      open: (shopId) => runtime.shops.open(shopId),
    },
    tokens: runtime.tokenRepository,
    orders: runtime.orders,
    state: runtime.state,
    stats: pushStatsStore(runtime),
    queue: webhookQueuePort(runtime.sqs, queueUrl),
    clock: runtime.clock,
    metrics: runtime.metrics,
    log: runtime.log,
    settings: {
      storeRecipientData: runtime.config.STORE_RECIPIENT_DATA,
      maxClockSkewSeconds: runtime.config.SYNC_MAX_CLOCK_SKEW_SECONDS,
    },
  };
}

/** Which apps' webhooks are accepted, from the credentials as they are now. */
export function webhookAppsState(credentials: CredentialsState): WebhookAppsState {
  return credentialsConfigured(credentials)
    ? { configured: true, apps: webhookAppsOf(credentials) }
    : { configured: false, reason: credentials.notConfigured };
}

/** The receiver: verifies with the credentials `loadCredentials` gives now, sends to the webhook queue. */
export function webhookReceiver(input: {
  readonly loadCredentials: () => Promise<CredentialsState>;
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
}) {
  return makeWebhookReceiver({
    apps: async () => webhookAppsState(await input.loadCredentials()),
    enqueue: webhookSender(input.sqs, input.queueUrl),
    metrics: input.metrics,
    log: input.log,
  });
}
