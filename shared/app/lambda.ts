/**
 * Cold-start wiring shared by the Lambda entry points: environment parsed once with zod, AWS SDK
 * clients built once and traced, the TikTok app credentials read from Secrets Manager (Powertools
 * Parameters, cached), Powertools observability, and the function's share of each shop's request
 * budget (shared/tiktok/rate-budget.ts). Secrets stay out of environment variables and logs on AWS.
 *
 * Until the operator stores the credentials, the secret holds the stack's placeholder: the tick and the
 * API then get a status-only runtime ("not configured", re-checked every minute), the worker fails
 * clearly. A malformed secret fails every function clearly.
 */

import { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { createDynamoDbClient, createSqsClient } from "../aws-clients";
import { parseConfig, type SyncConfig } from "../config";
import { createPowertools } from "../observability/powertools";
import type { FullResyncDeps, FullResyncSettings } from "../sync/full-resync/deps";
import { type FunctionRole, rateShareFor } from "../tiktok/rate-budget";
import {
  CredentialsNotConfiguredError,
  type CredentialsState,
  credentialsConfigured,
  credentialsFromEnv,
  parseCredentialsSecret,
} from "./credentials";
import { Runtime } from "./runtime";

/** Reads a secret's text by ARN (Powertools Parameters on AWS; tests inject their own). */
export type SecretReader = (
  arn: string,
  options: { readonly forceFetch: boolean },
) => Promise<string | undefined>;

/** How long a "not configured" answer is trusted before the secret is read again. */
const UNCONFIGURED_RECHECK_MS = 60_000;
/** Powertools Parameters' cache of a configured secret. */
const SECRET_MAX_AGE_SECONDS = 300;

export function powertoolsSecretReader(client: SecretsManagerClient): SecretReader {
  const provider = new SecretsProvider({ awsSdkV3Client: client });
  return async (arn, options) => {
    const value = await provider.get(arn, { maxAge: SECRET_MAX_AGE_SECONDS, forceFetch: options.forceFetch });
    if (value === undefined) return undefined;
    return typeof value === "string" ? value : Buffer.from(value).toString("utf8");
  };
}

/** The credentials: from the secret when TIKTOK_SECRET_ARN is set, else from the environment. */
export async function loadCredentials(
  config: SyncConfig,
  readSecret: SecretReader,
  options: { forceFetch?: boolean } = {},
): Promise<CredentialsState> {
  if (!config.TIKTOK_SECRET_ARN) return credentialsFromEnv(config);
  const text = await readSecret(config.TIKTOK_SECRET_ARN, { forceFetch: options.forceFetch ?? false });
  return parseCredentialsSecret(text, config.TIKTOK_SECRET_ARN);
}

export interface LambdaAppOptions {
  /** Which function this is: its share of each shop's request budget, and whether it may run unconfigured. */
  readonly role: Exclude<FunctionRole, "all-in-one">;
  readonly fullResyncSettings?: (config: SyncConfig) => Partial<FullResyncSettings>;
  /** Tests: the environment and the secret reader (default process.env and Powertools Parameters). */
  readonly env?: NodeJS.ProcessEnv | Record<string, string | undefined>;
  readonly readSecret?: SecretReader;
  readonly now?: () => number;
}

interface Wired {
  readonly runtime: Runtime;
  /** When a "not configured" runtime is to be rebuilt from a fresh read of the secret. */
  readonly recheckAtMs: number;
}

/**
 * Builds the function's runtime once per container. The promise is created on the first invocation (no
 * top-level await, which CommonJS bundles cannot carry) and reused while the container lives — or, while
 * the credentials are not configured, for a minute at most.
 */
export function lambdaApp(serviceName: string, options: LambdaAppOptions) {
  const config = parseConfig(options.env ?? process.env);
  const now = options.now ?? Date.now;
  const powertools = createPowertools(serviceName, { detailedMetrics: config.DETAILED_METRICS });
  const endpoints = {
    dynamodbEndpoint: config.DYNAMODB_ENDPOINT,
    sqsEndpoint: config.SQS_ENDPOINT,
    region: config.AWS_REGION,
  };
  const dynamodb = powertools.tracer.captureAWSv3Client(createDynamoDbClient(endpoints));
  const sqs = powertools.tracer.captureAWSv3Client(createSqsClient(endpoints));
  let readSecret = options.readSecret;
  const secretReader = () => {
    readSecret ??= powertoolsSecretReader(
      powertools.tracer.captureAWSv3Client(
        new SecretsManagerClient(config.AWS_REGION ? { region: config.AWS_REGION } : {}),
      ),
    );
    return readSecret;
  };
  let wired: Promise<Wired> | undefined;
  let forceFetch = false;

  const build = async (): Promise<Wired> => {
    const credentials = await loadCredentials(config, secretReader(), { forceFetch });
    const configured = credentialsConfigured(credentials);
    if (!configured && (options.role === "worker" || options.role === "push")) {
      // Workers only run jobs a configured deployment started, and the webhook consumer only events
      // the receiver verified with the credentials: fail clearly (and alarm).
      throw new CredentialsNotConfiguredError(credentials.notConfigured);
    }
    const settings = options.fullResyncSettings?.(config);
    const runtime = new Runtime(config, {
      credentials,
      metrics: powertools.metricsPort,
      log: powertools.logPort,
      trace: powertools.httpTrace,
      dynamodb,
      sqs,
      rateShare: rateShareFor(options.role, config.WORKER_CONCURRENCY),
      ...(settings ? { fullResync: { settings } } : {}),
    });
    return {
      runtime,
      recheckAtMs: configured ? Number.POSITIVE_INFINITY : now() + UNCONFIGURED_RECHECK_MS,
    };
  };

  const get = async (): Promise<Wired> => {
    if (wired) {
      const current = await wired.catch(() => undefined);
      if (current && current.recheckAtMs <= now()) {
        // The operator may have stored the credentials meanwhile: bypass the parameter cache.
        wired = undefined;
        forceFetch = true;
      }
    }
    if (!wired) {
      const pending = build();
      wired = pending;
      pending.catch(() => {
        if (wired === pending) wired = undefined;
      });
    }
    return wired;
  };

  return {
    config,
    powertools,
    wired: get,
    runtime: async () => (await get()).runtime,
    /** Releases the AWS clients (tests; a Lambda container simply ends). */
    close: () => {
      dynamodb.destroy();
      sqs.destroy();
    },
    /** The worker's full-resync ports (configured deployments only). */
    fullResync: async (): Promise<FullResyncDeps> => (await get()).runtime.requireFullResync().deps,
  };
}

/** What a scheduled function reports for one shop: why it did not run, or the status of its run. */
export function shopRunStatus(
  result: { readonly notConfigured?: boolean; readonly needsReauth?: boolean; readonly notReached?: boolean },
  runStatus: string | undefined,
): string | undefined {
  if (result.notConfigured) return "not-configured";
  if (result.needsReauth) return "needs-reauth";
  if (result.notReached) return "not-reached";
  return runStatus;
}
