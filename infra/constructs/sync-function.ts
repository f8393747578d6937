/**
 * The house Lambda construct: every function of the product is built here, so runtime, architecture,
 * bundling, tracing, logging and Powertools settings cannot drift between functions.
 *
 * Least privilege by construction: the function gets its own role that can only write its own log
 * group, plus exactly the actions named in `grants`, each on the one resource it names. Binding a
 * resource both grants those actions and sets the environment variable (shared/config.ts) that names
 * it, so a function is never told about a resource it may not use, nor granted one it was not told
 * about. Which actions a function needs is not decided here: test/infra/iam-from-code.test.ts records
 * the AWS calls each function's code really sends and fails on any missing or unused grant.
 */
import { type Duration, Names } from "aws-cdk-lib";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import { Effect, type IRole, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Architecture, type RecursiveLoop, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRIC_NAMESPACE } from "../../shared/observability/metric-names";
import type { TableDefinition } from "../../shared/resources";

/** A table together with its shared definition (the definition names the indexes to grant). */
export interface BoundTable {
  readonly table: ITable;
  readonly definition: TableDefinition;
}

/** Everything a sync function may be bound to; which of these it gets is decided by `grants`. */
export interface SyncResources {
  readonly ordersTable: BoundTable;
  readonly stateTable: BoundTable;
  readonly workQueue: IQueue;
  readonly dlq: IQueue;
  /** Verified TikTok webhook events (issue 18): the receiver sends, the consumer hands back. */
  readonly webhookQueue: IQueue;
  readonly secret: ISecret;
}

/** DynamoDB item and query actions (IAM names without `dynamodb:`); TransactWriteItems needs the item ones. */
export type TableAction =
  | "GetItem"
  | "BatchGetItem"
  | "Query"
  | "Scan"
  | "PutItem"
  | "UpdateItem"
  | "DeleteItem"
  | "BatchWriteItem"
  | "ConditionCheckItem";
export type IndexAction = "Query" | "Scan";
/** SQS actions (SendMessageBatch, DeleteMessageBatch, … are authorized by the single-message action). */
export type QueueAction =
  | "SendMessage"
  | "ReceiveMessage"
  | "DeleteMessage"
  | "ChangeMessageVisibility"
  | "GetQueueAttributes";
export type SecretAction = "GetSecretValue";

export interface TableGrant {
  /** Actions on the table's items (none only when `indexes` grants something). */
  readonly items: readonly TableAction[];
  /** Actions on indexes, by name; each must be in the table's shared definition (never `index/*`). */
  readonly indexes?: Readonly<Record<string, readonly IndexAction[]>>;
}

/** What a function may do, per resource. An absent key means no access and no environment variable. */
export interface SyncFunctionGrants {
  readonly ordersTable?: TableGrant;
  readonly stateTable?: TableGrant;
  readonly workQueue?: readonly QueueAction[];
  readonly dlq?: readonly QueueAction[];
  readonly webhookQueue?: readonly QueueAction[];
  readonly secret?: readonly SecretAction[];
}

/**
 * What an SQS event source mapping does with the function's role: Lambda's poller receives and deletes
 * the messages and reads the queue's attributes (the Lambda developer guide's execution-role
 * permissions for SQS; AWS's own AWSLambdaSQSQueueExecutionRole grants exactly these).
 */
export const SQS_EVENT_SOURCE_ACTIONS: readonly QueueAction[] = [
  "ReceiveMessage",
  "DeleteMessage",
  "GetQueueAttributes",
];

export interface QueueEventSourceOptions {
  /** Messages per invocation: 1–10, or up to 10,000 with a batching window. */
  readonly batchSize: number;
  /** Lambda gathers messages this long (or until batchSize) before invoking. @default none */
  readonly maxBatchingWindow?: Duration;
  /** Concurrent invocations the event source may drive (2–1000). */
  readonly maxConcurrency: number;
  readonly reportBatchItemFailures: boolean;
}

export type LogLevel = "DEBUG" | "INFO" | "WARN" | "ERROR";

export interface SyncFunctionProps {
  /** The TypeScript entry file; it must export `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize?: number;
  readonly resources: SyncResources;
  readonly grants: SyncFunctionGrants;
  /** Non-secret settings (see shared/config.ts). Resource names come from `grants`, not from here. */
  readonly environment?: Readonly<Record<string, string>>;
  /** POWERTOOLS_SERVICE_NAME; keep it equal to the handler's own Powertools service name. */
  readonly serviceName?: string;
  /** @default "INFO" */
  readonly logLevel?: LogLevel;
  /** @default one month */
  readonly logRetention?: RetentionDays;
  /** Lambda's recursive loop detection for this function. @default Terminate (Lambda's default) */
  readonly recursiveLoop?: RecursiveLoop;
}

/** Names that would carry credentials: those live in Secrets Manager and the state table only. */
const SECRET_ENV_NAMES = /(^|_)(APP_KEY|APP_SECRET|ACCESS_TOKEN|REFRESH_TOKEN|PASSWORD)$|SECRET$/;
/** Set only by binding a resource through `grants`, so names and permissions always go together. */
const BOUND_ENV_NAMES = new Set([
  "ORDERS_TABLE_NAME",
  "STATE_TABLE_NAME",
  "WORK_QUEUE_URL",
  "DEAD_LETTER_QUEUE_URL",
  "WEBHOOK_QUEUE_URL",
  "TIKTOK_SECRET_ARN",
]);

export class SyncFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: IRole;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: SyncFunctionProps) {
    super(scope, id);
    const { resources, grants } = props;
    for (const name of Object.keys(props.environment ?? {})) {
      if (SECRET_ENV_NAMES.test(name)) {
        throw new Error(`${id}: ${name} looks like a credential; secrets never go into function env`);
      }
      if (BOUND_ENV_NAMES.has(name)) throw new Error(`${id}: ${name} is set by binding it in grants`);
    }

    this.logGroup = new LogGroup(this, "Logs", { retention: props.logRetention ?? RetentionDays.ONE_MONTH });
    // Own role instead of AWSLambdaBasicExecutionRole: logs go to this function's group only.
    const role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `${props.description} (least privilege)`,
    });
    this.role = role;
    this.logGroup.grantWrite(role);

    const environment: Record<string, string> = {
      POWERTOOLS_SERVICE_NAME: props.serviceName ?? "tiktok-shop-sync",
      POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
      LOG_LEVEL: props.logLevel ?? "INFO",
      NODE_OPTIONS: "--enable-source-maps",
      ...props.environment,
    };

    const allow = (service: string, actions: readonly string[], resourceArns: string[]) => {
      if (actions.length === 0 || new Set(actions).size !== actions.length) {
        throw new Error(
          `${id}: grant ${service} actions once each, at least one (got ${actions.join(", ")})`,
        );
      }
      role.addToPrincipalPolicy(
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: actions.map((action) => `${service}:${action}`),
          resources: resourceArns,
        }),
      );
    };

    const bindTable = (bound: BoundTable, grant: TableGrant | undefined, envName: string) => {
      if (!grant) return;
      const { table, definition } = bound;
      // An index-only grant (e.g. counting through one index) names no item action on the table.
      if (grant.items.length > 0 || !grant.indexes) allow("dynamodb", grant.items, [table.tableArn]);
      for (const [indexName, actions] of Object.entries(grant.indexes ?? {})) {
        if (!definition.globalSecondaryIndexes.some((index) => index.indexName === indexName)) {
          throw new Error(`${id}: table ${definition.id} has no index ${indexName} to grant`);
        }
        // Named indexes from the shared definition, never `index/*`.
        allow("dynamodb", actions, [`${table.tableArn}/index/${indexName}`]);
      }
      environment[envName] = table.tableName;
    };
    bindTable(resources.ordersTable, grants.ordersTable, "ORDERS_TABLE_NAME");
    bindTable(resources.stateTable, grants.stateTable, "STATE_TABLE_NAME");

    if (grants.workQueue) {
      allow("sqs", grants.workQueue, [resources.workQueue.queueArn]);
      environment.WORK_QUEUE_URL = resources.workQueue.queueUrl;
    }
    if (grants.dlq) {
      allow("sqs", grants.dlq, [resources.dlq.queueArn]);
      environment.DEAD_LETTER_QUEUE_URL = resources.dlq.queueUrl;
    }
    if (grants.webhookQueue) {
      allow("sqs", grants.webhookQueue, [resources.webhookQueue.queueArn]);
      environment.WEBHOOK_QUEUE_URL = resources.webhookQueue.queueUrl;
    }
    if (grants.secret) {
      const { secret } = resources;
      // The complete ARN (a partial one needs the random suffix matched, as Secret.grantRead does).
      allow("secretsmanager", grants.secret, [secret.secretFullArn ?? `${secret.secretArn}-??????`]);
      // A customer-managed key (none today) would have to let the function decrypt the value.
      secret.encryptionKey?.grantDecrypt(role);
      // Only the ARN: the function reads the value at cold start (never through env).
      environment.TIKTOK_SECRET_ARN = secret.secretArn;
    }

    this.function = new NodejsFunction(this, "Function", {
      entry: props.entry,
      handler: "handler",
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout,
      role,
      logGroup: this.logGroup,
      tracing: Tracing.ACTIVE,
      environment,
      ...(props.recursiveLoop ? { recursiveLoop: props.recursiveLoop } : {}),
      // SDK v3 reuses connections by itself; the v2-only variable would just be noise in env.
      awsSdkConnectionReuse: false,
      bundling: {
        format: OutputFormat.CJS,
        target: "node22",
        minify: true,
        sourceMap: true,
        // We pin @aws-sdk/* versions in package.json: bundle them instead of using the runtime's copy.
        bundleAwsSDK: true,
        externalModules: [],
      },
    });
  }

  /**
   * Makes `queue` invoke the function through an SQS event source mapping, and grants the role exactly
   * what Lambda's poller does with it (SQS_EVENT_SOURCE_ACTIONS). CDK's SqsEventSource would also grant
   * sqs:ChangeMessageVisibility and sqs:GetQueueUrl, which neither Lambda nor our code uses.
   */
  consumeQueue(queue: IQueue, options: QueueEventSourceOptions): void {
    const maxBatchSize = options.maxBatchingWindow ? 10_000 : 10;
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1 || options.batchSize > maxBatchSize) {
      throw new Error(
        `batchSize must be 1-${maxBatchSize} ${options.maxBatchingWindow ? "with" : "without"} a batching window (got ${options.batchSize})`,
      );
    }
    // The id CDK's SqsEventSource uses: the mapping keeps its logical id (no replacement on deploy).
    this.function.addEventSourceMapping(`SqsEventSource:${Names.nodeUniqueId(queue.node)}`, {
      eventSourceArn: queue.queueArn,
      batchSize: options.batchSize,
      ...(options.maxBatchingWindow ? { maxBatchingWindow: options.maxBatchingWindow } : {}),
      maxConcurrency: options.maxConcurrency,
      reportBatchItemFailures: options.reportBatchItemFailures,
    });
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: SQS_EVENT_SOURCE_ACTIONS.map((action) => `sqs:${action}`),
        resources: [queue.queueArn],
      }),
    );
  }
}
