/**
 * The whole product on AWS in one stack: tables and queues from shared/resources.ts, the tick, API and
 * worker functions, the schedule, the IAM-authorised HTTP API, the TikTok app secret, and monitoring.
 * Environment-agnostic (no account/region, no lookups) so `cdk synth` works offline.
 */
import * as path from "node:path";
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  type CfnStage,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  type HttpRoute,
  HttpStage,
  LogGroupLogDestination,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpIamAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import {
  AttributeType,
  BillingMode,
  ProjectionType,
  StreamViewType,
  Table,
  TableEncryption,
} from "aws-cdk-lib/aws-dynamodb";
import { Grant, type IGrantable, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { RecursiveLoop } from "aws-cdk-lib/aws-lambda";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import {
  ContextAttribute,
  Schedule,
  ScheduleExpression,
  ScheduleTargetInput,
} from "aws-cdk-lib/aws-scheduler";
import { LambdaInvoke } from "aws-cdk-lib/aws-scheduler-targets";
import { type ISecret, Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { parseConfig } from "../shared/config";
import { type RouteDefinition, routeKey, SYNC_API_ROUTES, WEBHOOK_ROUTE } from "../shared/http/routes";
import {
  API_TIMEOUT_SECONDS,
  type AttributeType as DefinitionAttributeType,
  ORDERS_TABLE,
  QUEUES,
  type QueueDefinition,
  RECONCILE_TIMEOUT_SECONDS,
  STATE_TABLE,
  type TableDefinition,
  TICK_TIMEOUT_SECONDS,
  WEBHOOK_BATCH_SIZE,
  WEBHOOK_BATCHING_WINDOW_SECONDS,
  WEBHOOK_CONSUMER_TIMEOUT_SECONDS,
  WEBHOOK_DLQ,
  WEBHOOK_QUEUE,
  WEBHOOK_RECEIVER_TIMEOUT_SECONDS,
  WORK_DLQ,
  WORK_QUEUE,
  WORKER_TIMEOUT_SECONDS,
} from "../shared/resources";
import { PUSH_CONCURRENCY } from "../shared/tiktok/rate-budget";
import { SyncMonitoring } from "./constructs/monitoring";
import { type LogLevel, SyncFunction, type SyncResources, type TableGrant } from "./constructs/sync-function";
import { acknowledgeInvokeGrant, applyNagSuppressions } from "./nag-suppressions";

export type FunctionName = "tick" | "api" | "worker" | "reconcile" | "webhook-receiver" | "webhook-consumer";

/** Construct ids of the queues (the work queues' ids predate push: kept, so nothing is replaced). */
const QUEUE_CONSTRUCT_IDS: Readonly<Record<QueueDefinition["id"], string>> = {
  work: "WorkQueue",
  "work-dlq": "DeadLetterQueue",
  webhook: "WebhookQueue",
  "webhook-dlq": "WebhookDeadLetterQueue",
};

/** The route table's plain method names as CDK's enum (shared/http/routes.ts stays free of aws-cdk-lib). */
const HTTP_METHOD: Readonly<Record<RouteDefinition["method"], HttpMethod>> = {
  GET: HttpMethod.GET,
  POST: HttpMethod.POST,
};

/**
 * Each function's AWS permissions are exactly the calls its code sends, per resource:
 * test/infra/iam-from-code.test.ts records them from the real handlers and fails on any grant missing
 * or unused. Every function stores orders read-then-write (BatchGetItem, then conditional PutItem) and
 * may finalize a full resync, which reads the newest update_time from the byUpdateTime index.
 */
const ORDERS_SYNC: TableGrant = { items: ["BatchGetItem", "PutItem"], indexes: { byUpdateTime: ["Query"] } };
/** Sync state, tokens, shop directory and jobs; planning writes windows in batches, the lock is deleted. */
const STATE_SYNC_AND_PLANNING: TableGrant = {
  items: ["GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"],
};
/** The reconciliation counts stored orders per create_time range (Select COUNT on byCreateTime). */
const CREATE_TIME_COUNT = { byCreateTime: ["Query"] } as const;

/** Seconds an incremental run's lock lease lasts; every function that syncs must finish well within it. */
export const SYNC_LOCK_LEASE_SECONDS = 120;
const TICK_TIMEOUT = Duration.seconds(TICK_TIMEOUT_SECONDS);
/** API Gateway cuts HTTP API integrations at 30 s; the function stops just before. */
const API_TIMEOUT = Duration.seconds(API_TIMEOUT_SECONDS);
/** Memory of the tick and API functions (SyncFunction's default) and of the worker. */
export const FUNCTION_MEMORY_MB = 512;
export const WORKER_MEMORY_MB = 1024;
/** The webhook receiver only verifies an HMAC and sends one SQS message. */
export const WEBHOOK_RECEIVER_MEMORY_MB = 256;

export interface TikTokShopSyncStackProps extends StackProps {
  /** Minutes between scheduled incremental syncs (1–1440). @default 5 */
  readonly scheduleMinutes?: number;
  /** Hours between scheduled reconciliations (1–720; 0: none, on demand only). @default 24 */
  readonly reconcileIntervalHours?: number;
  /** E-mail address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** TIKTOK_SHOP_ID; also the dimension the alarms watch. Without it alarms aggregate all shops. */
  readonly shopId?: string;
  /** TIKTOK_SHOP_CIPHER (optional). */
  readonly shopCipher?: string;
  /** TIKTOK_SHOPS: `id[:cipher][@authorization],…` or JSON; without it (and shopId) shops are discovered. */
  readonly shops?: string;
  /** TIKTOK_AUTHORIZATIONS: comma list of authorization ids. @default "default" */
  readonly authorizations?: string;
  /** SHOP_CONCURRENCY: shops a tick syncs at once. @default 4 */
  readonly shopConcurrency?: number;
  /** ORDER_RETENTION_DAYS: stored orders expire this many days after create_time (TTL `expiresAt`). */
  readonly orderRetentionDays?: number;
  /** STORE_RECIPIENT_DATA: false strips recipient personal data before storing. @default true */
  readonly storeRecipientData?: boolean;
  /** Import an existing TikTok app secret instead of creating a placeholder one (complete ARN). */
  readonly tiktokSecretArn?: string;
  readonly tiktokApiBaseUrl?: string;
  readonly tiktokAuthBaseUrl?: string;
  /** Per-shop TikTok request budget shared by all functions. @default 5 */
  readonly maxRps?: number;
  /** Worker concurrency: the event source's MaximumConcurrency (≥ 2) and WORKER_CONCURRENCY. @default 4 */
  readonly workerConcurrency?: number;
  /** SQS messages per worker invocation (a message pages its window for the invocation: a run). @default 1 */
  readonly workerBatchSize?: number;
  /** @default 300 */
  readonly overlapSeconds?: number;
  /** @default 30 */
  readonly settleSeconds?: number;
  /** @default "INFO" */
  readonly logLevel?: LogLevel;
  /** DETAILED_METRICS: also publish OrdersUnchanged and RunDurationMs (as totals). @default false */
  readonly detailedMetrics?: boolean;
  /** @default one month */
  readonly logRetention?: RetentionDays;
  /** Default stage throttling of the HTTP API. @default 10 requests/s, burst 20 */
  readonly apiThrottle?: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * Throttling of the webhook route alone (unauthenticated by IAM, so bounded apart; TikTok retries a
   * 429 for up to 72 hours). @default 50 requests/s, burst 100
   */
  readonly webhookThrottle?: { readonly rateLimit: number; readonly burstLimit: number };
  /** Entry files override (tests use a fixture); defaults to functions/<name>/handler.ts. */
  readonly entries?: Partial<Record<FunctionName, string>>;
}

export class TikTokShopSyncStack extends Stack {
  readonly ordersTable: Table;
  readonly stateTable: Table;
  readonly workQueue: Queue;
  readonly deadLetterQueue: Queue;
  readonly webhookQueue: Queue;
  readonly webhookDeadLetterQueue: Queue;
  readonly secret: ISecret;
  readonly functions: Readonly<Record<FunctionName, SyncFunction>>;
  readonly tickScheduleRole: Role;
  /** The reconciliation schedule's role; undefined when reconcileIntervalHours is 0. */
  readonly reconcileScheduleRole: Role | undefined;
  readonly api: HttpApi;
  readonly apiStage: HttpStage;
  /** `POST /api/webhooks/tiktok`: authenticated by TikTok's signature, not IAM. */
  readonly webhookRoute: HttpRoute;
  readonly monitoring: SyncMonitoring;
  /** execute-api ARN covering every route of the deployed stage (what `grantInvoke` grants). */
  readonly invokeArnPattern: string;

  constructor(scope: Construct, id: string, props: TikTokShopSyncStackProps = {}) {
    super(scope, id, props);
    const scheduleMinutes = props.scheduleMinutes ?? 5;
    const reconcileIntervalHours = props.reconcileIntervalHours ?? 24;
    const workerConcurrency = props.workerConcurrency ?? 4;
    if (
      !Number.isInteger(reconcileIntervalHours) ||
      reconcileIntervalHours < 0 ||
      reconcileIntervalHours > 720
    ) {
      throw new Error(
        `reconcileIntervalHours must be a whole number of hours from 1 to 720, or 0 for none (got ${reconcileIntervalHours})`,
      );
    }
    if (!Number.isInteger(scheduleMinutes) || scheduleMinutes < 1 || scheduleMinutes > 1440) {
      throw new Error(
        `scheduleMinutes must be a whole number of minutes from 1 to 1440 (got ${scheduleMinutes})`,
      );
    }
    if (!Number.isInteger(workerConcurrency) || workerConcurrency < 2 || workerConcurrency > 1000) {
      throw new Error(
        `workerConcurrency must be 2-1000: SQS event sources allow no less (got ${workerConcurrency})`,
      );
    }

    this.ordersTable = this.tableFrom(ORDERS_TABLE, "OrdersTable");
    this.stateTable = this.tableFrom(STATE_TABLE, "StateTable");
    const queues = this.queuesFrom(QUEUES);
    this.workQueue = queues.get(WORK_QUEUE.id) as Queue;
    this.deadLetterQueue = queues.get(WORK_DLQ.id) as Queue;
    this.webhookQueue = queues.get(WEBHOOK_QUEUE.id) as Queue;
    this.webhookDeadLetterQueue = queues.get(WEBHOOK_DLQ.id) as Queue;

    this.secret = props.tiktokSecretArn
      ? Secret.fromSecretCompleteArn(this, "TikTokAppSecret", props.tiktokSecretArn)
      : new Secret(this, "TikTokAppSecret", {
          // A random non-JSON placeholder: no placeholder token pair can ever seed the state table's
          // TOKEN item, and nothing calls TikTok until an operator stores the real value
          // (docs/deploy.md, "Store the TikTok credentials").
          description:
            'TikTok Shop app credentials. Replace the generated placeholder with {"app_key","app_secret","access_token","refresh_token"}; the token pair only seeds the state table on first run.',
          generateSecretString: { excludePunctuation: true, passwordLength: 32 },
        });

    const settings = functionEnvironment(props);
    const resources: SyncResources = {
      ordersTable: { table: this.ordersTable, definition: ORDERS_TABLE },
      stateTable: { table: this.stateTable, definition: STATE_TABLE },
      workQueue: this.workQueue,
      dlq: this.deadLetterQueue,
      webhookQueue: this.webhookQueue,
      secret: this.secret,
    };
    const entry = (name: FunctionName) =>
      props.entries?.[name] ?? path.resolve(__dirname, "..", "functions", name, "handler.ts");
    const common = {
      resources,
      environment: settings,
      logLevel: props.logLevel,
      logRetention: props.logRetention,
      memorySize: FUNCTION_MEMORY_MB,
    };

    const tick = new SyncFunction(this, "Tick", {
      ...common,
      serviceName: "tiktok-shop-sync-tick",
      entry: entry("tick"),
      description: "Scheduled incremental order sync and full-resync reconciler",
      timeout: TICK_TIMEOUT,
      grants: {
        ordersTable: ORDERS_SYNC,
        stateTable: STATE_SYNC_AND_PLANNING,
        workQueue: ["SendMessage"],
        // The DLQ depth reported in metrics.
        dlq: ["GetQueueAttributes"],
        secret: ["GetSecretValue"],
      },
    });
    const api = new SyncFunction(this, "Api", {
      ...common,
      serviceName: "tiktok-shop-sync-api",
      entry: entry("api"),
      description: "HTTP API: sync now, full resync, reconcile, status, job cancel/resume",
      timeout: API_TIMEOUT,
      grants: {
        ordersTable: { ...ORDERS_SYNC, indexes: { ...ORDERS_SYNC.indexes, ...CREATE_TIME_COUNT } },
        stateTable: STATE_SYNC_AND_PLANNING,
        workQueue: ["SendMessage"],
        // Status shows the DLQ depth; resume deletes the job's dead letters and releases the others.
        dlq: ["GetQueueAttributes", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility"],
        secret: ["GetSecretValue"],
      },
    });
    const worker = new SyncFunction(this, "Worker", {
      ...common,
      serviceName: "tiktok-shop-sync-worker",
      entry: entry("worker"),
      description: "Full-resync page worker (SQS)",
      timeout: Duration.seconds(WORKER_TIMEOUT_SECONDS),
      memorySize: WORKER_MEMORY_MB,
      // The worker sends each window's continuation to the queue that invokes it. Lambda's recursive
      // loop detection (default Terminate) would stop that chain after ~16 pages and dead-letter the
      // window, while a full-resync window runs up to 50 pages: the worker alone allows recursion.
      // Runaway chains are bounded by the job (each window ends) and the event source's concurrency;
      // the RecursiveInvocationsDropped alarm catches this setting being lost.
      recursiveLoop: RecursiveLoop.ALLOW,
      // Consuming the work queue is granted with its event source below.
      grants: {
        ordersTable: ORDERS_SYNC,
        // Pages and windows only: no planning (BatchWriteItem) and no incremental lock (DeleteItem).
        stateTable: { items: ["GetItem", "Query", "PutItem", "UpdateItem"] },
        workQueue: ["SendMessage"],
        secret: ["GetSecretValue"],
      },
    });
    // Reconciliation (issue 18) in a function of its own: Lambda's longest timeout, so a scheduled run
    // compares the whole history of many shops (the tick has 90 s and runs every few minutes), and a role
    // with only what counting and planning the healing job need: the create-time index to count, no
    // order item, no incremental lock (DeleteItem), no DLQ.
    const reconcile = new SyncFunction(this, "Reconcile", {
      ...common,
      serviceName: "tiktok-shop-sync-reconcile",
      entry: entry("reconcile"),
      description:
        "Scheduled reconciliation: TikTok's counts per create_time range vs the stored orders; heals drift",
      timeout: Duration.seconds(RECONCILE_TIMEOUT_SECONDS),
      grants: {
        ordersTable: { items: [], indexes: CREATE_TIME_COUNT },
        stateTable: { items: ["GetItem", "Query", "PutItem", "UpdateItem", "BatchWriteItem"] },
        workQueue: ["SendMessage"],
        secret: ["GetSecretValue"],
      },
    });
    // A failed run is retried by the next one (a day later by default); the API runs one on demand.
    reconcile.function.configureAsyncInvoke({ retryAttempts: 0 });
    const webhookReceiver = new SyncFunction(this, "WebhookReceiver", {
      ...common,
      serviceName: "tiktok-shop-sync-webhook-receiver",
      entry: entry("webhook-receiver"),
      description: "TikTok webhook receiver: verify the signature, queue the event, answer 200",
      timeout: Duration.seconds(WEBHOOK_RECEIVER_TIMEOUT_SECONDS),
      memorySize: WEBHOOK_RECEIVER_MEMORY_MB,
      // Verifies with the app secret and sends to the webhook queue; never DynamoDB, never TikTok.
      grants: { webhookQueue: ["SendMessage"], secret: ["GetSecretValue"] },
    });
    const webhookConsumer = new SyncFunction(this, "WebhookConsumer", {
      ...common,
      serviceName: "tiktok-shop-sync-webhook-consumer",
      entry: entry("webhook-consumer"),
      description: "TikTok webhook consumer (SQS): Get Order Detail for the orders events name, upsert",
      timeout: Duration.seconds(WEBHOOK_CONSUMER_TIMEOUT_SECONDS),
      // Consuming the webhook queue is granted with its event source below.
      grants: {
        ordersTable: { items: ["BatchGetItem", "PutItem"] },
        stateTable: { items: ["GetItem", "Query", "PutItem", "UpdateItem"] },
        // Hand-backs: events left over (out of time, throttled, detail behind the event).
        webhookQueue: ["SendMessage"],
        secret: ["GetSecretValue"],
      },
    });
    this.functions = {
      tick,
      api,
      worker,
      reconcile,
      "webhook-receiver": webhookReceiver,
      "webhook-consumer": webhookConsumer,
    };

    // A failed tick is retried by the next one; async retries would only pile up behind the lock.
    tick.function.configureAsyncInvoke({ retryAttempts: 0 });
    worker.consumeQueue(this.workQueue, {
      batchSize: props.workerBatchSize ?? 1,
      maxConcurrency: workerConcurrency,
      reportBatchItemFailures: true,
    });
    // A batching window so one Get Order Detail call covers the orders of many events (up to 50).
    webhookConsumer.consumeQueue(this.webhookQueue, {
      batchSize: WEBHOOK_BATCH_SIZE,
      maxBatchingWindow: Duration.seconds(WEBHOOK_BATCHING_WINDOW_SECONDS),
      maxConcurrency: PUSH_CONCURRENCY,
      reportBatchItemFailures: true,
    });

    // Our own role (instead of the target's implicit one) so it is confined to this account's scheduler.
    this.tickScheduleRole = new Role(this, "TickScheduleRole", {
      assumedBy: new ServicePrincipal("scheduler.amazonaws.com", {
        conditions: { StringEquals: { "aws:SourceAccount": this.account } },
      }),
      description: "EventBridge Scheduler: invoke the tick function",
    });
    new Schedule(this, "TickSchedule", {
      description: `Incremental TikTok Shop order sync every ${scheduleMinutes} minute(s)`,
      schedule: ScheduleExpression.rate(Duration.minutes(scheduleMinutes)),
      target: new LambdaInvoke(tick.function, {
        role: this.tickScheduleRole,
        // A tick delivered later than the next one is worthless; the next tick does the same work.
        maxEventAge: Duration.minutes(scheduleMinutes),
        retryAttempts: 3,
        input: ScheduleTargetInput.fromObject({
          source: "schedule",
          scheduledTime: ContextAttribute.scheduledTime,
        }),
      }),
    });

    this.reconcileScheduleRole = undefined;
    if (reconcileIntervalHours > 0) {
      this.reconcileScheduleRole = new Role(this, "ReconcileScheduleRole", {
        assumedBy: new ServicePrincipal("scheduler.amazonaws.com", {
          conditions: { StringEquals: { "aws:SourceAccount": this.account } },
        }),
        description: "EventBridge Scheduler: invoke the reconciliation function",
      });
      new Schedule(this, "ReconcileSchedule", {
        description: `TikTok Shop reconciliation every ${reconcileIntervalHours} hour(s)`,
        schedule: ScheduleExpression.rate(Duration.hours(reconcileIntervalHours)),
        target: new LambdaInvoke(reconcile.function, {
          role: this.reconcileScheduleRole,
          // A run that could not be delivered within the hour is left to the next one.
          maxEventAge: Duration.hours(1),
          retryAttempts: 3,
          input: ScheduleTargetInput.fromObject({
            source: "reconcile-schedule",
            scheduledTime: ContextAttribute.scheduledTime,
          }),
        }),
      });
    }

    const http = this.createHttpApi(api, webhookReceiver, props);
    this.api = http.api;
    this.apiStage = http.stage;
    this.webhookRoute = http.webhookRoute;
    this.invokeArnPattern = this.formatArn({
      service: "execute-api",
      resource: this.api.apiId,
      resourceName: `${this.apiStage.stageName}/*`,
    });

    this.monitoring = new SyncMonitoring(this, "Monitoring", {
      shopId: props.shopId,
      syncIntervalMinutes: scheduleMinutes,
      functions: {
        tick: tick.function,
        api: api.function,
        worker: worker.function,
        reconcile: reconcile.function,
        "webhook-receiver": webhookReceiver.function,
        "webhook-consumer": webhookConsumer.function,
      },
      tickFunction: tick.function,
      worker: { function: worker.function, timeout: Duration.seconds(WORKER_TIMEOUT_SECONDS) },
      workQueue: this.workQueue,
      workQueueRedelivery: {
        visibilityTimeoutSeconds: WORK_QUEUE.visibilityTimeoutSeconds,
        maxReceiveCount: WORK_QUEUE.maxReceiveCount ?? 1,
      },
      deadLetterQueue: this.deadLetterQueue,
      apiStage: this.apiStage,
      push: { webhookDeadLetterQueue: this.webhookDeadLetterQueue },
      runLogGroups: [tick.logGroup, api.logGroup],
      alarmEmail: props.alarmEmail,
    });

    this.addOutputs();
    applyNagSuppressions(this);
  }

  /** Grants `execute-api:Invoke` on every route of the API (callers sign requests with SigV4). */
  grantInvoke(grantee: IGrantable): Grant {
    const grant = Grant.addToPrincipal({
      grantee,
      actions: ["execute-api:Invoke"],
      resourceArns: [this.invokeArnPattern],
    });
    const principal = grantee.grantPrincipal;
    if (Construct.isConstruct(principal) && Stack.of(principal) === this)
      acknowledgeInvokeGrant(this, principal);
    return grant;
  }

  private tableFrom(definition: TableDefinition, id: string): Table {
    const key = (k: { name: string; type: DefinitionAttributeType }) => ({
      name: k.name,
      type: k.type === "S" ? AttributeType.STRING : AttributeType.NUMBER,
    });
    const table = new Table(this, id, {
      partitionKey: key(definition.partitionKey),
      sortKey: key(definition.sortKey),
      billingMode: BillingMode.PAY_PER_REQUEST,
      // AWS-managed KMS key (aws/dynamodb): auditable in CloudTrail, no key to administer.
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: definition.pointInTimeRecovery },
      timeToLiveAttribute: definition.timeToLiveAttribute,
      stream: definition.stream === "NEW_IMAGE" ? StreamViewType.NEW_IMAGE : undefined,
      removalPolicy: definition.retainOnDelete ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      deletionProtection: definition.retainOnDelete,
    });
    for (const index of definition.globalSecondaryIndexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: key(index.partitionKey),
        sortKey: key(index.sortKey),
        ...(index.projection.type === "KEYS_ONLY"
          ? { projectionType: ProjectionType.KEYS_ONLY }
          : {
              projectionType: ProjectionType.INCLUDE,
              nonKeyAttributes: [...index.projection.nonKeyAttributes],
            }),
      });
    }
    return table;
  }

  /** Queues in definition order (dead-letter queues first), wired by `deadLetterQueueId`. */
  private queuesFrom(definitions: readonly QueueDefinition[]): Map<QueueDefinition["id"], Queue> {
    const queues = new Map<QueueDefinition["id"], Queue>();
    for (const definition of definitions) {
      const deadLetter = definition.deadLetterQueueId ? queues.get(definition.deadLetterQueueId) : undefined;
      if (definition.deadLetterQueueId && (!deadLetter || !definition.maxReceiveCount)) {
        throw new Error(
          `queue ${definition.id}: dead-letter queue must come first and maxReceiveCount be set`,
        );
      }
      const consumedByWorker = definition.id === WORK_QUEUE.id;
      // Lambda's rule: a message must outlive 6 worker timeouts, or retries would run concurrently.
      if (consumedByWorker && definition.visibilityTimeoutSeconds < 6 * WORKER_TIMEOUT_SECONDS) {
        throw new Error(`queue ${definition.id}: visibility timeout must be at least 6x the worker timeout`);
      }
      const queue = new Queue(this, QUEUE_CONSTRUCT_IDS[definition.id], {
        visibilityTimeout: Duration.seconds(definition.visibilityTimeoutSeconds),
        retentionPeriod: Duration.seconds(definition.messageRetentionSeconds),
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        deadLetterQueue:
          deadLetter && definition.maxReceiveCount
            ? { queue: deadLetter, maxReceiveCount: definition.maxReceiveCount }
            : undefined,
      });
      queues.set(definition.id, queue);
    }
    return queues;
  }

  private createHttpApi(
    api: SyncFunction,
    webhookReceiver: SyncFunction,
    props: TikTokShopSyncStackProps,
  ): { api: HttpApi; stage: HttpStage; webhookRoute: HttpRoute } {
    const integration = new HttpLambdaIntegration("ApiIntegration", api.function);
    const httpApi = new HttpApi(this, "HttpApi", {
      description: "TikTok Shop order sync (IAM/SigV4 on every route)",
      defaultAuthorizer: new HttpIamAuthorizer(),
      // Unknown routes reach the handler too, so they get the contract's { error: { code, message } }.
      defaultIntegration: integration,
      // The stage is created below with throttling and access logs.
      createDefaultStage: false,
    });
    // Routes of shared/http/routes.ts: the IAM ones to the API function (the default authorizer).
    for (const route of SYNC_API_ROUTES) {
      httpApi.addRoutes({ path: route.path, methods: [HTTP_METHOD[route.method]], integration });
    }
    // TikTok cannot sign with SigV4: its HMAC signature, checked by the receiver before anything else,
    // authenticates this route instead.
    const [webhookRoute] = httpApi.addRoutes({
      path: WEBHOOK_ROUTE.path,
      methods: [HTTP_METHOD[WEBHOOK_ROUTE.method]],
      integration: new HttpLambdaIntegration("WebhookIntegration", webhookReceiver.function),
      authorizer: new HttpNoneAuthorizer(),
    });
    const accessLogs = new LogGroup(this, "ApiAccessLogs", {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    });
    const throttle = props.apiThrottle ?? { rateLimit: 10, burstLimit: 20 };
    const stage = new HttpStage(this, "ApiStage", {
      httpApi,
      stageName: "$default",
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: "$context.requestId",
            requestTime: "$context.requestTime",
            caller: "$context.identity.caller",
            userArn: "$context.identity.userArn",
            sourceIp: "$context.identity.sourceIp",
            routeKey: "$context.routeKey",
            status: "$context.status",
            responseLength: "$context.responseLength",
            latencyMs: "$context.responseLatency",
            integrationError: "$context.integrationErrorMessage",
            authorizerError: "$context.authorizer.error",
          }),
        ),
      },
    });
    // The webhook route's own limits (route settings override the stage's default throttle).
    const webhookThrottle = props.webhookThrottle ?? { rateLimit: 50, burstLimit: 100 };
    (stage.node.defaultChild as CfnStage).routeSettings = {
      [routeKey(WEBHOOK_ROUTE)]: {
        // An escape hatch takes CloudFormation's own property names.
        ThrottlingRateLimit: webhookThrottle.rateLimit,
        ThrottlingBurstLimit: webhookThrottle.burstLimit,
      },
    };
    if (!webhookRoute) throw new Error("the webhook route was not created");
    return { api: httpApi, stage, webhookRoute };
  }

  private addOutputs(): void {
    const region = Stack.of(this).region;
    const outputs: Record<string, { value: string; description: string }> = {
      ApiUrl: {
        value: this.apiStage.url,
        description: "Base URL of the HTTP API (SigV4-signed requests only)",
      },
      ApiInvokeArnPattern: {
        value: this.invokeArnPattern,
        description: 'Grant callers {"Effect":"Allow","Action":"execute-api:Invoke","Resource":"<this ARN>"}',
      },
      DashboardUrl: {
        value: `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.monitoring.dashboard.dashboardName}`,
        description: "CloudWatch dashboard of the sync",
      },
      OrdersTableName: { value: this.ordersTable.tableName, description: "Orders table" },
      StateTableName: { value: this.stateTable.tableName, description: "Sync state table" },
      WorkQueueName: { value: this.workQueue.queueName, description: "Full-resync work queue" },
      DeadLetterQueueName: { value: this.deadLetterQueue.queueName, description: "Work dead-letter queue" },
      WebhookUrl: {
        // The $default stage has no path prefix.
        value: `${this.api.apiEndpoint}${WEBHOOK_ROUTE.path}`,
        description: "Register this URL for order webhooks in TikTok Shop Partner Center (signed by TikTok)",
      },
      WebhookDeadLetterQueueName: {
        value: this.webhookDeadLetterQueue.queueName,
        description: "Webhook events the consumer failed 5 times",
      },
      SecretArn: {
        value: this.secret.secretArn,
        description: "TikTok app secret: put app_key, app_secret, access_token, refresh_token here",
      },
      AlarmTopicArn: { value: this.monitoring.alarmTopic.topicArn, description: "SNS topic of all alarms" },
    };
    for (const [id, output] of Object.entries(outputs)) new CfnOutput(this, id, output);
  }
}

/**
 * The non-resource settings every function gets (shared/config.ts), checked with the runtime's own
 * schema so a bad value (e.g. an overlap not covering the settle delay) fails at synth, not at the
 * first tick. Pure: the cost tool runs the tick with exactly these settings.
 */
export function functionEnvironment(props: TikTokShopSyncStackProps): Record<string, string> {
  const settings: Record<string, string> = {
    TIKTOK_API_BASE_URL: props.tiktokApiBaseUrl ?? "https://open-api.tiktokglobalshop.com",
    TIKTOK_AUTH_BASE_URL: props.tiktokAuthBaseUrl ?? "https://auth.tiktok-shops.com",
    TIKTOK_MAX_RPS: String(props.maxRps ?? 5),
    WORKER_CONCURRENCY: String(props.workerConcurrency ?? 4),
    SYNC_INTERVAL_SECONDS: String((props.scheduleMinutes ?? 5) * 60),
    SYNC_OVERLAP_SECONDS: String(props.overlapSeconds ?? 300),
    SYNC_SETTLE_SECONDS: String(props.settleSeconds ?? 30),
    SYNC_LOCK_LEASE_SECONDS: String(SYNC_LOCK_LEASE_SECONDS),
  };
  if (props.shopId) settings.TIKTOK_SHOP_ID = props.shopId;
  if (props.shopCipher) settings.TIKTOK_SHOP_CIPHER = props.shopCipher;
  if (props.shops) settings.TIKTOK_SHOPS = props.shops;
  if (props.authorizations) settings.TIKTOK_AUTHORIZATIONS = props.authorizations;
  if (props.shopConcurrency !== undefined) settings.SHOP_CONCURRENCY = String(props.shopConcurrency);
  if (props.orderRetentionDays !== undefined)
    settings.ORDER_RETENTION_DAYS = String(props.orderRetentionDays);
  if (props.storeRecipientData !== undefined)
    settings.STORE_RECIPIENT_DATA = String(props.storeRecipientData);
  if (props.detailedMetrics) settings.DETAILED_METRICS = "true";
  if (Math.max(TICK_TIMEOUT.toSeconds(), API_TIMEOUT.toSeconds()) >= SYNC_LOCK_LEASE_SECONDS) {
    throw new Error("the sync lock lease must outlast the tick and API function timeouts");
  }
  // The secret ARN is a deploy-time token here; a placeholder satisfies the schema's "key or ARN" rule.
  parseConfig({ ...settings, TIKTOK_SECRET_ARN: "arn:placeholder" });
  return settings;
}
