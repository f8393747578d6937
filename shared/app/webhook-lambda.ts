/**
 * Cold-start wiring of the webhook receiver Lambda: the environment parsed once with zod, Powertools,
 * a traced SQS client and the app credentials from Secrets Manager (cached by Powertools Parameters;
 * while the secret still holds the stack's placeholder it is read again at most once a minute). Nothing
 * else: the receiver never calls TikTok or DynamoDB, and its role allows only the secret and the queue.
 */
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { createSqsClient } from "../aws-clients";
import { parseConfig } from "../config";
import { createPowertools } from "../observability/powertools";
import { type CredentialsState, credentialsConfigured } from "./credentials";
import { loadCredentials, powertoolsSecretReader, type SecretReader } from "./lambda";
import { webhookReceiver } from "./webhook-wiring";

const UNCONFIGURED_RECHECK_MS = 60_000;

export function webhookReceiverLambda(
  serviceName: string,
  options: {
    readonly env?: NodeJS.ProcessEnv | Record<string, string | undefined>;
    readonly readSecret?: SecretReader;
    readonly now?: () => number;
  } = {},
) {
  const config = parseConfig(options.env ?? process.env);
  const now = options.now ?? Date.now;
  const powertools = createPowertools(serviceName, { detailedMetrics: config.DETAILED_METRICS });
  const sqs = powertools.tracer.captureAWSv3Client(
    createSqsClient({ sqsEndpoint: config.SQS_ENDPOINT, region: config.AWS_REGION }),
  );
  let readSecret = options.readSecret;
  let unconfiguredSince: number | undefined;
  const credentials = async (): Promise<CredentialsState> => {
    readSecret ??= powertoolsSecretReader(
      powertools.tracer.captureAWSv3Client(
        new SecretsManagerClient(config.AWS_REGION ? { region: config.AWS_REGION } : {}),
      ),
    );
    // The operator may have stored the credentials since: past a minute, bypass the parameter cache.
    const forceFetch =
      unconfiguredSince !== undefined && now() - unconfiguredSince >= UNCONFIGURED_RECHECK_MS;
    const state = await loadCredentials(config, readSecret, { forceFetch });
    if (credentialsConfigured(state)) unconfiguredSince = undefined;
    else if (unconfiguredSince === undefined || forceFetch) unconfiguredSince = now();
    return state;
  };
  const queueUrl = config.WEBHOOK_QUEUE_URL;
  if (!queueUrl) throw new Error("WEBHOOK_QUEUE_URL is required for the webhook receiver");
  return {
    config,
    powertools,
    receive: webhookReceiver({
      loadCredentials: credentials,
      sqs,
      queueUrl,
      metrics: powertools.metricsPort,
      log: powertools.logPort,
    }),
    close: () => sqs.destroy(),
  };
}
