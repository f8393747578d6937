/**
 * The house Lambda construct: every function of the product is built here, so runtime, architecture,
 * bundling, tracing, logging and Powertools settings cannot drift between functions.
 *
 * Least privilege by construction: the function gets its own role that can only write its own log
 * group, plus exactly the resource access named in `grants`. Binding a resource both grants the access
 * and sets the environment variable (shared/config.ts) that names it, so a function is never told about
 * a resource it may not use, nor granted one it was not told about.
 */
import type { Duration } from "aws-cdk-lib";
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
  readonly secret: ISecret;
}

export type TableAccess = "read" | "readWrite";

/**
 * What a function may do. An absent key means no access and no environment variable.
 * - tables: `read` (get/query/scan) or `readWrite` (plus put/update/delete/batch write);
 * - workQueue `send`: SendMessage (SendMessageBatch is authorised by the same action);
 * - dlq `readAttributes`: GetQueueAttributes only, for the depth shown in status (no receive/delete);
 * - secret `read`: GetSecretValue/DescribeSecret on the TikTok app secret.
 */
export interface SyncFunctionGrants {
  readonly ordersTable?: TableAccess;
  readonly stateTable?: TableAccess;
  readonly workQueue?: "send";
  readonly dlq?: "readAttributes";
  readonly secret?: "read";
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

const READ_ACTIONS = [
  "dynamodb:GetItem",
  "dynamodb:BatchGetItem",
  "dynamodb:Query",
  "dynamodb:Scan",
  "dynamodb:ConditionCheckItem",
  "dynamodb:DescribeTable",
];
const WRITE_ACTIONS = [
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
  "dynamodb:BatchWriteItem",
];

/** Names that would carry credentials: those live in Secrets Manager and the state table only. */
const SECRET_ENV_NAMES = /(^|_)(APP_KEY|APP_SECRET|ACCESS_TOKEN|REFRESH_TOKEN|PASSWORD)$|SECRET$/;
/** Set only by binding a resource through `grants`, so names and permissions always go together. */
const BOUND_ENV_NAMES = new Set([
  "ORDERS_TABLE_NAME",
  "STATE_TABLE_NAME",
  "WORK_QUEUE_URL",
  "DEAD_LETTER_QUEUE_URL",
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

    const bindTable = (bound: BoundTable, access: TableAccess | undefined, envName: string) => {
      if (!access) return;
      const { table, definition } = bound;
      const indexArns = definition.globalSecondaryIndexes.map(
        (index) => `${table.tableArn}/index/${index.indexName}`,
      );
      role.addToPrincipalPolicy(
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: access === "readWrite" ? [...READ_ACTIONS, ...WRITE_ACTIONS] : READ_ACTIONS,
          // Named indexes from the shared definition, never `index/*`.
          resources: [table.tableArn, ...indexArns],
        }),
      );
      environment[envName] = table.tableName;
    };
    bindTable(resources.ordersTable, grants.ordersTable, "ORDERS_TABLE_NAME");
    bindTable(resources.stateTable, grants.stateTable, "STATE_TABLE_NAME");

    if (grants.workQueue === "send") {
      role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ["sqs:SendMessage"], resources: [resources.workQueue.queueArn] }),
      );
      environment.WORK_QUEUE_URL = resources.workQueue.queueUrl;
    }
    if (grants.dlq === "readAttributes") {
      role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ["sqs:GetQueueAttributes"], resources: [resources.dlq.queueArn] }),
      );
      environment.DEAD_LETTER_QUEUE_URL = resources.dlq.queueUrl;
    }
    if (grants.secret === "read") {
      resources.secret.grantRead(role);
      // Only the ARN: the function reads the value at cold start (never through env).
      environment.TIKTOK_SECRET_ARN = resources.secret.secretArn;
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
}
