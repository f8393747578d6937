/** What matters in the synthesized stack, checked offline against the shared definitions. */
import * as fs from "node:fs";
import * as path from "node:path";
import { App, Duration } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import {
  RUN_LOG_MESSAGE,
  SQS_MAX_DELAY_SECONDS,
  WORKER_DURATION_ALARM_RATIO,
} from "../../infra/constructs/monitoring";
import { SyncFunction, type SyncResources } from "../../infra/constructs/sync-function";
import type { DeploySettingsInput } from "../../infra/deploy-config";
import { TikTokShopSyncStack } from "../../infra/stack";
import { ROUTES, type RouteAuthorization, routeKey, WEBHOOK_ROUTE } from "../../shared/http/routes";
import { METRIC_NAMESPACE, METRIC_POLICY, type MetricName } from "../../shared/observability/metric-names";
import { MAX_DELAY_SECONDS } from "../../shared/queues/sqs-send";
import {
  ORDERS_TABLE,
  STATE_TABLE,
  type TableDefinition,
  WEBHOOK_BATCH_SIZE,
  WEBHOOK_BATCHING_WINDOW_SECONDS,
  WEBHOOK_CONSUMER_TIMEOUT_SECONDS,
  WEBHOOK_QUEUE,
  WORK_QUEUE,
  WORKER_TIMEOUT_SECONDS,
} from "../../shared/resources";
import { PUSH_CONCURRENCY } from "../../shared/tiktok/rate-budget";
import { resourceKey } from "../support/iam-model";
import { buildApp, FIXTURE_ENTRIES, synthTemplate, testOutdir } from "./fixtures/synth";

// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation is untyped JSON; tests walk into it.
type CfnJson = any;
type Resource = {
  Type: string;
  Properties: Record<string, CfnJson>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

/** The route table is the contract; test/unit/routes.test.ts pins its route keys. */
const WEBHOOK_ROUTE_KEY = routeKey(WEBHOOK_ROUTE);
const CONTRACT_ROUTES = ROUTES.map(routeKey);
/** What API Gateway checks before a route's function runs: SigV4, or nothing (TikTok's own signature). */
const EXPECTED_AUTHORIZATION_TYPE: Readonly<Record<RouteAuthorization, string>> = {
  iam: "AWS_IAM",
  "tiktok-signature": "NONE",
};

/**
 * Actions AWS only accepts on Resource "*": X-Ray's PutTraceSegments/PutTelemetryRecords (added by
 * Tracing.ACTIVE) have no resource-level permissions. Nothing else may use "*" (the functions publish
 * metrics through EMF log lines, so cloudwatch:PutMetricData is not needed at all).
 */
const WILDCARD_RESOURCE_ACTIONS = new Set(["xray:PutTraceSegments", "xray:PutTelemetryRecords"]);

const CREDENTIAL_ENV = /(APP_KEY|APP_SECRET|ACCESS_TOKEN|REFRESH_TOKEN|PASSWORD)$|SECRET$/;

function resources(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

function logicalIdStartingWith(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(resources(template, type)).filter((id) => id.startsWith(prefix));
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

function functionsByName(template: Template): Record<"tick" | "api" | "worker" | "reconcile", Resource> {
  const all = resources(template, "AWS::Lambda::Function");
  const pick = (prefix: string) =>
    all[logicalIdStartingWith(template, "AWS::Lambda::Function", prefix)] as Resource;
  return {
    tick: pick("TickFunction"),
    api: pick("ApiFunction"),
    worker: pick("WorkerFunction"),
    reconcile: pick("ReconcileFunction"),
  };
}

/** Statements of the role's policies, flattened: the role is named by its construct id prefix. */
function statementsOfRole(template: Template, rolePrefix: string): Statement[] {
  const roleId = logicalIdStartingWith(template, "AWS::IAM::Role", rolePrefix);
  return Object.values(resources(template, "AWS::IAM::Policy"))
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/**
 * What a role may do on the resource whose logical id starts with `logicalIdPrefix`: `action` on the
 * resource itself, `action /index/<name>` on one of its indexes.
 */
function permissionsOn(statements: Statement[], logicalIdPrefix: string): string[] {
  return statements
    .flatMap((statement) =>
      asList(statement.Resource).flatMap((resource) => {
        const key = resourceKey(resource);
        if (!key.startsWith(logicalIdPrefix)) return [];
        const suffix = key.slice(key.search(/\/|$/));
        return asList(statement.Action).map((action) => (suffix ? `${action} ${suffix}` : action));
      }),
    )
    .sort();
}

function alarmNamed(template: Template, name: string): Record<string, CfnJson> {
  const found = Object.values(resources(template, "AWS::CloudWatch::Alarm")).filter(
    (a) => a.Properties.AlarmName === `TikTokShopSync-${name}`,
  );
  expect(found).toHaveLength(1);
  return (found[0] as Resource).Properties;
}

/** The dashboard body as CloudWatch will read it, with CloudFormation references shown as JSON. */
function dashboardBody(template: Template): string {
  const dashboards = Object.values(resources(template, "AWS::CloudWatch::Dashboard"));
  expect(dashboards).toHaveLength(1);
  const parts = (dashboards[0] as Resource).Properties.DashboardBody["Fn::Join"][1] as unknown[];
  return parts.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join("");
}

/** Custom metrics an alarm reads: plain metric alarms, metric math inputs and Metrics Insights queries. */
function customMetricsOf(alarm: Record<string, CfnJson>): { name: string; dimensions: string[] }[] {
  if (alarm.Namespace === METRIC_NAMESPACE) {
    return [{ name: alarm.MetricName, dimensions: (alarm.Dimensions ?? []).map((d: CfnJson) => d.Name) }];
  }
  return (alarm.Metrics ?? []).flatMap((query: CfnJson) => {
    const stat = query.MetricStat?.Metric;
    if (stat?.Namespace === METRIC_NAMESPACE) {
      return [{ name: stat.MetricName, dimensions: (stat.Dimensions ?? []).map((d: CfnJson) => d.Name) }];
    }
    const insights = /SELECT \w+\((\w+)\) FROM SCHEMA\("TikTokShopSync", (\w+)\)/.exec(
      query.Expression ?? "",
    );
    return insights ? [{ name: insights[1] as string, dimensions: [insights[2] as string] }] : [];
  });
}

/**
 * Every alarm on a custom metric reads it with the dimension set the policy publishes (shopId per
 * shop, none for totals); an alarm on a metric published only when above 0 (or only while a job
 * runs) treats missing data as not breaching, one on a metric published every tick as breaching.
 */
function expectMissingDataFollowsPolicy(template: Template): void {
  let checked = 0;
  for (const resource of Object.values(resources(template, "AWS::CloudWatch::Alarm"))) {
    const alarm = resource.Properties;
    const metrics = customMetricsOf(alarm);
    for (const metric of metrics) {
      const policy = METRIC_POLICY[metric.name as MetricName];
      expect(policy).toBeDefined();
      expect(metric.dimensions).toEqual(policy.scope === "shop" ? ["shopId"] : []);
    }
    if (metrics.length === 0) continue;
    checked += 1;
    // Even the always-published lag is silent before a shop's first tick and while the deployment is
    // not configured; a silent tick is TickNotRunning's (Lambda's own Invocations), never a custom metric's.
    expect({ alarm: alarm.AlarmName, missing: alarm.TreatMissingData }).toEqual({
      alarm: alarm.AlarmName,
      missing: "notBreaching",
    });
  }
  // 6, plus ReconciliationDriftPersisting and WebhookRejected.
  expect(checked).toBe(8);
}

function expectedTableProperties(definition: TableDefinition) {
  const attributes = new Map<string, string>();
  for (const key of [definition.partitionKey, definition.sortKey]) attributes.set(key.name, key.type);
  for (const index of definition.globalSecondaryIndexes) {
    for (const key of [index.partitionKey, index.sortKey]) attributes.set(key.name, key.type);
  }
  return {
    KeySchema: [
      { AttributeName: definition.partitionKey.name, KeyType: "HASH" },
      { AttributeName: definition.sortKey.name, KeyType: "RANGE" },
    ],
    AttributeDefinitions: Match.arrayEquals(
      [...attributes].map(([name, type]) => ({ AttributeName: name, AttributeType: type })),
    ),
    GlobalSecondaryIndexes:
      definition.globalSecondaryIndexes.length > 0
        ? definition.globalSecondaryIndexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: [
              { AttributeName: index.partitionKey.name, KeyType: "HASH" },
              { AttributeName: index.sortKey.name, KeyType: "RANGE" },
            ],
            Projection:
              index.projection.type === "KEYS_ONLY"
                ? { ProjectionType: "KEYS_ONLY" }
                : {
                    ProjectionType: "INCLUDE",
                    NonKeyAttributes: Match.arrayEquals([...index.projection.nonKeyAttributes]),
                  },
          }))
        : Match.absent(),
    BillingMode: "PAY_PER_REQUEST",
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: definition.pointInTimeRecovery },
    // AWS-managed KMS key (aws/dynamodb).
    SSESpecification: { SSEEnabled: true },
    TimeToLiveSpecification: { AttributeName: definition.timeToLiveAttribute, Enabled: true },
    StreamSpecification: definition.stream ? { StreamViewType: definition.stream } : Match.absent(),
  };
}

describe("TikTokShopSyncStack (defaults)", () => {
  let template: Template;
  beforeAll(() => {
    template = synthTemplate().template;
  });

  describe("tables", () => {
    it.each([
      ["orders", ORDERS_TABLE, "OrdersTable"],
      ["state", STATE_TABLE, "StateTable"],
    ] as const)("builds the %s table exactly from shared/resources.ts", (_name, definition, prefix) => {
      const id = logicalIdStartingWith(template, "AWS::DynamoDB::Table", prefix);
      const table = resources(template, "AWS::DynamoDB::Table")[id] as Resource;
      expect(table.Properties).toEqual(
        expect.objectContaining({ KeySchema: expectedTableProperties(definition).KeySchema }),
      );
      template.hasResource("AWS::DynamoDB::Table", {
        Properties: Match.objectLike(expectedTableProperties(definition)),
        DeletionPolicy: "Retain",
        UpdateReplacePolicy: "Retain",
      });
      expect(table.DeletionPolicy).toBe("Retain");
      expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    });

    it("projects keys plus the order summary into both order indexes, never ALL (issue 17)", () => {
      const id = logicalIdStartingWith(template, "AWS::DynamoDB::Table", "OrdersTable");
      const table = resources(template, "AWS::DynamoDB::Table")[id] as Resource;
      const indexes = table.Properties.GlobalSecondaryIndexes as {
        IndexName: string;
        Projection: { ProjectionType: string; NonKeyAttributes?: string[] };
      }[];
      expect(indexes.map((index) => index.IndexName).sort()).toEqual(["byCreateTime", "byUpdateTime"]);
      for (const index of indexes) {
        expect(index.Projection.ProjectionType).toBe("INCLUDE");
        expect([...(index.Projection.NonKeyAttributes ?? [])].sort()).toEqual([
          "currency",
          "lineCount",
          "status",
          "totalAmount",
        ]);
      }
      expect(JSON.stringify(template.toJSON())).not.toContain('"ProjectionType":"ALL"');
      // The stream stays: downstream consumers read whole orders from it.
      expect(table.Properties.StreamSpecification).toEqual({ StreamViewType: "NEW_IMAGE" });
    });

    it("streams new images of orders and keeps point-in-time recovery on both tables", () => {
      template.hasResourceProperties("AWS::DynamoDB::Table", {
        KeySchema: Match.arrayWith([{ AttributeName: "shopId", KeyType: "HASH" }]),
        StreamSpecification: { StreamViewType: "NEW_IMAGE" },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
      for (const table of Object.values(resources(template, "AWS::DynamoDB::Table"))) {
        expect(table.Properties.PointInTimeRecoverySpecification).toEqual({
          PointInTimeRecoveryEnabled: true,
        });
      }
    });
  });

  describe("queues", () => {
    it("redrives the work queue to the DLQ after maxReceiveCount receives", () => {
      const dlqId = logicalIdStartingWith(template, "AWS::SQS::Queue", "DeadLetterQueue");
      template.hasResourceProperties("AWS::SQS::Queue", {
        RedrivePolicy: {
          deadLetterTargetArn: { "Fn::GetAtt": [dlqId, "Arn"] },
          maxReceiveCount: WORK_QUEUE.maxReceiveCount,
        },
      });
    });

    it("keeps work invisible for at least 6x the worker timeout", () => {
      const workId = logicalIdStartingWith(template, "AWS::SQS::Queue", "WorkQueue");
      const work = resources(template, "AWS::SQS::Queue")[workId] as Resource;
      expect(work.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * WORKER_TIMEOUT_SECONDS);
      expect(work.Properties.VisibilityTimeout).toBe(WORK_QUEUE.visibilityTimeoutSeconds);
      expect(work.Properties.MessageRetentionPeriod).toBe(WORK_QUEUE.messageRetentionSeconds);
    });

    it("encrypts every queue (SQS-managed SSE) and refuses non-TLS access", () => {
      for (const queue of Object.values(resources(template, "AWS::SQS::Queue"))) {
        expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
      }
      const policies = Object.values(resources(template, "AWS::SQS::QueuePolicy"));
      // Work queue, webhook queue and their dead-letter queues.
      expect(policies).toHaveLength(4);
      for (const policy of policies) {
        expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
          expect.objectContaining({
            Effect: "Deny",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
        );
      }
    });
  });

  describe("functions", () => {
    it("runs every function on nodejs22.x, arm64, with active tracing and its own log group", () => {
      const all = Object.values(resources(template, "AWS::Lambda::Function"));
      expect(all).toHaveLength(6);
      const logGroups = resources(template, "AWS::Logs::LogGroup");
      for (const fn of all) {
        expect(fn.Properties.Runtime).toBe("nodejs22.x");
        expect(fn.Properties.Architectures).toEqual(["arm64"]);
        expect(fn.Properties.TracingConfig).toEqual({ Mode: "Active" });
        const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref as string;
        expect(logGroups[logGroupId]?.Properties.RetentionInDays).toBe(30);
        expect(fn.Properties.Environment.Variables).toEqual(
          expect.objectContaining({
            POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
            POWERTOOLS_SERVICE_NAME: expect.stringMatching(
              /^tiktok-shop-sync-(tick|api|worker|reconcile|webhook-receiver|webhook-consumer)$/,
            ),
            LOG_LEVEL: "INFO",
          }),
        );
      }
    });

    it("gives the worker WORKER_TIMEOUT_SECONDS and keeps sync functions inside the lock lease", () => {
      const { tick, api, worker } = functionsByName(template);
      expect(worker.Properties.Timeout).toBe(WORKER_TIMEOUT_SECONDS);
      const lease = Number(tick.Properties.Environment.Variables.SYNC_LOCK_LEASE_SECONDS);
      expect(tick.Properties.Timeout).toBeLessThan(lease);
      expect(api.Properties.Timeout).toBeLessThan(30); // API Gateway's integration limit
    });

    it("passes the configuration of shared/config.ts, resource names only for what is bound", () => {
      const { tick, api, worker, reconcile } = functionsByName(template);
      const settings = {
        TIKTOK_API_BASE_URL: "https://open-api.tiktokglobalshop.com",
        TIKTOK_AUTH_BASE_URL: "https://auth.tiktok-shops.com",
        TIKTOK_MAX_RPS: "5",
        WORKER_CONCURRENCY: "4",
        SYNC_INTERVAL_SECONDS: "300",
        SYNC_OVERLAP_SECONDS: "300",
        SYNC_SETTLE_SECONDS: "30",
        ORDERS_TABLE_NAME: { Ref: expect.stringMatching(/^OrdersTable/) },
        STATE_TABLE_NAME: { Ref: expect.stringMatching(/^StateTable/) },
        WORK_QUEUE_URL: { Ref: expect.stringMatching(/^WorkQueue/) },
        TIKTOK_SECRET_ARN: { Ref: expect.stringMatching(/^TikTokAppSecret/) },
      };
      for (const fn of [tick, api, worker, reconcile])
        expect(fn.Properties.Environment.Variables).toMatchObject(settings);
      for (const fn of [tick, api]) {
        expect(fn.Properties.Environment.Variables.DEAD_LETTER_QUEUE_URL).toEqual({
          Ref: expect.stringMatching(/^DeadLetterQueue/),
        });
      }
      expect(worker.Properties.Environment.Variables.DEAD_LETTER_QUEUE_URL).toBeUndefined();
      expect(reconcile.Properties.Environment.Variables.DEAD_LETTER_QUEUE_URL).toBeUndefined();
      expect(tick.Properties.Environment.Variables.TIKTOK_SHOP_ID).toBeUndefined();
    });

    it("never puts secret values in function environment", () => {
      for (const fn of Object.values(resources(template, "AWS::Lambda::Function"))) {
        const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
        for (const [name, value] of Object.entries(variables)) {
          expect(name).not.toMatch(CREDENTIAL_ENV);
          // Only the secret's ARN may point at the secret (a Ref), never its value (resolve / GetAtt).
          expect(JSON.stringify(value)).not.toMatch(/resolve:secretsmanager|SecretString/);
        }
      }
    });

    it("consumes the work queue with partial batch failures and bounded concurrency", () => {
      template.resourceCountIs("AWS::Lambda::EventSourceMapping", 2);
      template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
        EventSourceArn: { "Fn::GetAtt": [Match.stringLikeRegexp("^WorkQueue"), "Arn"] },
        FunctionName: { Ref: Match.stringLikeRegexp("^WorkerFunction") },
        // One message per invocation: a message pages its window for the invocation's time (a run).
        BatchSize: 1,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        ScalingConfig: { MaximumConcurrency: 4 },
      });
    });
  });

  describe("push (webhooks)", () => {
    it("redrives the webhook queue to its own DLQ, invisible for 6x the consumer timeout plus the window", () => {
      const dlqId = logicalIdStartingWith(template, "AWS::SQS::Queue", "WebhookDeadLetterQueue");
      const queueId = logicalIdStartingWith(template, "AWS::SQS::Queue", "WebhookQueue");
      const queue = resources(template, "AWS::SQS::Queue")[queueId] as Resource;
      expect(queue.Properties.RedrivePolicy).toEqual({
        deadLetterTargetArn: { "Fn::GetAtt": [dlqId, "Arn"] },
        maxReceiveCount: WEBHOOK_QUEUE.maxReceiveCount,
      });
      expect(queue.Properties.VisibilityTimeout).toBe(
        6 * WEBHOOK_CONSUMER_TIMEOUT_SECONDS + WEBHOOK_BATCHING_WINDOW_SECONDS,
      );
    });

    it("consumes the webhook queue in batches gathered over the batching window, partial failures", () => {
      template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
        EventSourceArn: { "Fn::GetAtt": [Match.stringLikeRegexp("^WebhookQueue"), "Arn"] },
        FunctionName: { Ref: Match.stringLikeRegexp("^WebhookConsumerFunction") },
        BatchSize: WEBHOOK_BATCH_SIZE,
        MaximumBatchingWindowInSeconds: WEBHOOK_BATCHING_WINDOW_SECONDS,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        ScalingConfig: { MaximumConcurrency: PUSH_CONCURRENCY },
      });
    });

    it("WebhookReceiverRole: send to the webhook queue and read the secret, nothing else", () => {
      const statements = statementsOfRole(template, "WebhookReceiverRole");
      expect(permissionsOn(statements, "WebhookQueue")).toEqual(["sqs:SendMessage"]);
      expect(permissionsOn(statements, "TikTokAppSecret")).toEqual(["secretsmanager:GetSecretValue"]);
      for (const other of [
        "OrdersTable",
        "StateTable",
        "WorkQueue",
        "DeadLetterQueue",
        "WebhookDeadLetter",
      ]) {
        expect(permissionsOn(statements, other)).toEqual([]);
      }
      const receiver = Object.values(resources(template, "AWS::Lambda::Function")).find(
        (fn) =>
          fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME === "tiktok-shop-sync-webhook-receiver",
      );
      expect(Object.keys(receiver?.Properties.Environment.Variables ?? {})).not.toContain(
        "ORDERS_TABLE_NAME",
      );
      expect(receiver?.Properties.Environment.Variables.WEBHOOK_QUEUE_URL).toEqual({
        Ref: expect.stringMatching(/^WebhookQueue/),
      });
    });

    it("WebhookConsumerRole: read and upsert orders, state items, hand back + consume its queue", () => {
      const statements = statementsOfRole(template, "WebhookConsumerRole");
      expect(permissionsOn(statements, "OrdersTable")).toEqual(["dynamodb:BatchGetItem", "dynamodb:PutItem"]);
      expect(permissionsOn(statements, "StateTable")).toEqual([
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
      ]);
      expect(permissionsOn(statements, "WebhookQueue")).toEqual([
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
      ]);
      expect(permissionsOn(statements, "WorkQueue")).toEqual([]);
      expect(permissionsOn(statements, "TikTokAppSecret")).toEqual(["secretsmanager:GetSecretValue"]);
    });

    it("serves POST /api/webhooks/tiktok without IAM, by the receiver, throttled on its own", () => {
      const routes = Object.values(resources(template, "AWS::ApiGatewayV2::Route"));
      const webhook = routes.find((route) => route.Properties.RouteKey === WEBHOOK_ROUTE_KEY);
      expect(webhook?.Properties.AuthorizationType).toBe("NONE");
      const integrationId = String(webhook?.Properties.Target["Fn::Join"][1][1].Ref);
      const integration = resources(template, "AWS::ApiGatewayV2::Integration")[integrationId] as Resource;
      expect(JSON.stringify(integration.Properties.IntegrationUri)).toMatch(/WebhookReceiverFunction/);
      const [stage] = Object.values(resources(template, "AWS::ApiGatewayV2::Stage"));
      expect(stage?.Properties.RouteSettings).toEqual({
        [WEBHOOK_ROUTE_KEY]: { ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 },
      });
    });

    it("alarms on a burst of rejected signatures and on any webhook dead letter", () => {
      // A total (no dimension), summed over 5 minutes.
      expect(alarmNamed(template, "WebhookRejected")).toMatchObject({
        Metrics: [
          expect.objectContaining({
            MetricStat: {
              Metric: { Namespace: METRIC_NAMESPACE, MetricName: "WebhookRejected" },
              Period: 300,
              Stat: "Sum",
            },
          }),
        ],
        Threshold: 20,
        ComparisonOperator: "GreaterThanThreshold",
        TreatMissingData: "notBreaching",
      });
      expect(alarmNamed(template, "WebhookDeadLetterQueue")).toMatchObject({
        MetricName: "ApproximateNumberOfMessagesVisible",
        Threshold: 0,
      });
      expect(JSON.stringify(alarmNamed(template, "WebhookDeadLetterQueue").Dimensions)).toContain(
        "WebhookDeadLetterQueue",
      );
    });
  });

  describe("least privilege", () => {
    it("uses no wildcard action and Resource '*' only where AWS requires it (X-Ray)", () => {
      const policies = [
        ...Object.values(resources(template, "AWS::IAM::Policy")),
        ...Object.values(resources(template, "AWS::IAM::ManagedPolicy")),
      ];
      expect(policies.length).toBeGreaterThan(0);
      for (const policy of policies) {
        for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
          const actions = asList(statement.Action);
          for (const action of actions) expect(action).not.toMatch(/(^|:)\*$/);
          if (asList(statement.Resource).includes("*")) {
            for (const action of actions) expect(WILDCARD_RESOURCE_ACTIONS).toContain(action);
          }
        }
      }
      // No role carries an AWS managed policy (e.g. AWSLambdaBasicExecutionRole's logs:* on "*").
      for (const role of Object.values(resources(template, "AWS::IAM::Role"))) {
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      }
    });

    // Exactly what each function's code sends (test/infra/iam-from-code.test.ts derives it from the
    // calls the handlers really make); here the template is pinned so a change shows in review.
    const ORDERS_SYNC = ["dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:Query /index/byUpdateTime"];
    const STATE_SYNC_AND_PLANNING = [
      "dynamodb:BatchWriteItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ];
    const SECRET_READ = ["secretsmanager:GetSecretValue"];

    it("TickRole: sync and plan, send work, DLQ depth only, secret value", () => {
      const statements = statementsOfRole(template, "TickRole");
      expect(permissionsOn(statements, "OrdersTable")).toEqual(ORDERS_SYNC);
      expect(permissionsOn(statements, "StateTable")).toEqual(STATE_SYNC_AND_PLANNING);
      expect(permissionsOn(statements, "WorkQueue")).toEqual(["sqs:SendMessage"]);
      expect(permissionsOn(statements, "DeadLetterQueue")).toEqual(["sqs:GetQueueAttributes"]);
      expect(permissionsOn(statements, "TikTokAppSecret")).toEqual(SECRET_READ);
    });

    it("ApiRole: like the tick, plus receiving and deleting dead letters for resume, and counting for reconcile", () => {
      const statements = statementsOfRole(template, "ApiRole");
      expect(permissionsOn(statements, "OrdersTable")).toEqual(
        [...ORDERS_SYNC, "dynamodb:Query /index/byCreateTime"].sort(),
      );
      expect(permissionsOn(statements, "StateTable")).toEqual(STATE_SYNC_AND_PLANNING);
      expect(permissionsOn(statements, "WorkQueue")).toEqual(["sqs:SendMessage"]);
      expect(permissionsOn(statements, "DeadLetterQueue")).toEqual([
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
      ]);
      expect(permissionsOn(statements, "TikTokAppSecret")).toEqual(SECRET_READ);
    });

    it("WorkerRole: pages and windows, send work + its event source's consume, no DLQ, secret value", () => {
      const statements = statementsOfRole(template, "WorkerRole");
      expect(permissionsOn(statements, "OrdersTable")).toEqual(ORDERS_SYNC);
      expect(permissionsOn(statements, "StateTable")).toEqual([
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
      ]);
      // Receive/delete/attributes are what Lambda's SQS poller needs (no GetQueueUrl, no visibility change).
      expect(permissionsOn(statements, "WorkQueue")).toEqual([
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
      ]);
      expect(permissionsOn(statements, "DeadLetterQueue")).toEqual([]);
      expect(permissionsOn(statements, "TikTokAppSecret")).toEqual(SECRET_READ);
    });

    it("ReconcileRole: counts through the create-time index only, plans its healing job, no lock, no DLQ", () => {
      const statements = statementsOfRole(template, "ReconcileRole");
      // No order item at all: the healing job's workers write the orders.
      expect(permissionsOn(statements, "OrdersTable")).toEqual(["dynamodb:Query /index/byCreateTime"]);
      expect(permissionsOn(statements, "StateTable")).toEqual([
        "dynamodb:BatchWriteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
      ]);
      expect(permissionsOn(statements, "WorkQueue")).toEqual(["sqs:SendMessage"]);
      expect(permissionsOn(statements, "DeadLetterQueue")).toEqual([]);
      expect(permissionsOn(statements, "TikTokAppSecret")).toEqual(SECRET_READ);
    });

    it("grants only the indexes the code queries, by name (from the shared definition), never index/*", () => {
      const json = JSON.stringify(resources(template, "AWS::IAM::Policy"));
      expect(json).not.toContain("/index/*");
      const defined = ORDERS_TABLE.globalSecondaryIndexes.map((index) => index.indexName);
      expect(defined).toEqual(expect.arrayContaining(["byUpdateTime", "byCreateTime"]));
      const granted = [...json.matchAll(/\/index\/(\w+)/g)].map((match) => match[1]);
      expect(new Set(granted)).toEqual(new Set(["byUpdateTime", "byCreateTime"]));
    });

    it("lets only the scheduler of this account assume the schedule role", () => {
      template.hasResourceProperties("AWS::IAM::Role", {
        AssumeRolePolicyDocument: {
          Statement: [
            {
              Action: "sts:AssumeRole",
              Effect: "Allow",
              Principal: { Service: "scheduler.amazonaws.com" },
              Condition: { StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } },
            },
          ],
        },
      });
    });
  });

  describe("schedule", () => {
    it("invokes the tick function at rate(5 minutes) by default", () => {
      template.hasResourceProperties("AWS::Scheduler::Schedule", {
        ScheduleExpression: "rate(5 minutes)",
        Target: Match.objectLike({ Arn: { "Fn::GetAtt": [Match.stringLikeRegexp("^TickFunction"), "Arn"] } }),
      });
    });

    it("invokes the reconciliation daily by default, with a role of its own, in Lambda's longest timeout", () => {
      template.resourceCountIs("AWS::Scheduler::Schedule", 2);
      template.hasResourceProperties("AWS::Scheduler::Schedule", {
        ScheduleExpression: "rate(1 day)",
        Target: Match.objectLike({
          Arn: { "Fn::GetAtt": [Match.stringLikeRegexp("^ReconcileFunction"), "Arn"] },
          RoleArn: { "Fn::GetAtt": [Match.stringLikeRegexp("^ReconcileScheduleRole"), "Arn"] },
          RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 },
        }),
      });
      // The schedule's role may invoke the reconciliation function only.
      const statements = statementsOfRole(template, "ReconcileScheduleRole");
      expect(statements.flatMap((statement) => asList(statement.Action))).toEqual(["lambda:InvokeFunction"]);
      expect(JSON.stringify(statements)).not.toContain("TickFunction");
      expect(functionsByName(template).reconcile.Properties.Timeout).toBe(900);
      // The run knows it was scheduled; a failed run is not retried by Lambda (the next run redoes it).
      const schedule = Object.values(resources(template, "AWS::Scheduler::Schedule")).find(
        (resource) => resource.Properties.ScheduleExpression === "rate(1 day)",
      );
      expect(JSON.parse(schedule?.Properties.Target.Input)).toEqual({
        source: "reconcile-schedule",
        scheduledTime: "<aws.scheduler.scheduled-time>",
      });
      template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
        FunctionName: { Ref: Match.stringLikeRegexp("^ReconcileFunction") },
        MaximumRetryAttempts: 0,
      });
    });
  });

  describe("HTTP API", () => {
    it("serves every route of the table, plus a $default catch-all, all with IAM (SigV4) authorization but the webhook", () => {
      const routes = Object.values(resources(template, "AWS::ApiGatewayV2::Route"));
      const authorizationByKey = Object.fromEntries(
        routes.map((route) => [route.Properties.RouteKey, route.Properties.AuthorizationType]),
      );
      // One resource per key: no route of the table created twice.
      expect(routes).toHaveLength(CONTRACT_ROUTES.length + 1);
      expect(authorizationByKey).toEqual({
        ...Object.fromEntries(
          ROUTES.map((route) => [routeKey(route), EXPECTED_AUTHORIZATION_TYPE[route.authorization]]),
        ),
        // Unknown routes reach the API function for the contract's 404, after SigV4 like any other.
        $default: "AWS_IAM",
      });
    });

    it("sends the IAM routes and $default to the API function, the webhook route to the receiver", () => {
      const integrations = resources(template, "AWS::ApiGatewayV2::Integration");
      // The logical id of the function an integration invokes, by its prefix (the rest is a hash).
      const functionBehind = (route: Resource): string => {
        const integrationId = String(route.Properties.Target["Fn::Join"][1][1].Ref);
        const uri = JSON.stringify(integrations[integrationId]?.Properties.IntegrationUri);
        if (/WebhookReceiverFunction/.test(uri)) return "webhook-receiver";
        return /ApiFunction/.test(uri) ? "api" : uri;
      };
      const routes = Object.values(resources(template, "AWS::ApiGatewayV2::Route"));
      expect(
        Object.fromEntries(routes.map((route) => [route.Properties.RouteKey, functionBehind(route)])),
      ).toEqual({
        ...Object.fromEntries(
          ROUTES.map((route) => [
            routeKey(route),
            route.authorization === "tiktok-signature" ? "webhook-receiver" : "api",
          ]),
        ),
        $default: "api",
      });
    });

    it("throttles the default stage and writes access logs to a log group", () => {
      const stage = Object.values(resources(template, "AWS::ApiGatewayV2::Stage"));
      expect(stage).toHaveLength(1);
      const properties = stage[0]?.Properties as Record<string, CfnJson>;
      expect(properties.StageName).toBe("$default");
      expect(properties.DefaultRouteSettings).toEqual({ ThrottlingBurstLimit: 20, ThrottlingRateLimit: 10 });
      expect(properties.AccessLogSettings.DestinationArn).toEqual({
        "Fn::GetAtt": [expect.stringMatching(/^ApiAccessLogs/), "Arn"],
      });
      expect(JSON.parse(properties.AccessLogSettings.Format)).toEqual(
        expect.objectContaining({ requestId: "$context.requestId", userArn: "$context.identity.userArn" }),
      );
    });
  });

  describe("secret", () => {
    it("creates the TikTok app secret with a generated placeholder, not a value in the template", () => {
      template.resourceCountIs("AWS::SecretsManager::Secret", 1);
      template.hasResourceProperties("AWS::SecretsManager::Secret", {
        GenerateSecretString: Match.objectLike({ PasswordLength: 32 }),
        SecretString: Match.absent(),
      });
    });
  });

  describe("monitoring", () => {
    const alarm = (name: string) => alarmNamed(template, name);

    it("alarms on sync lag above 3 intervals; silence is the tick-not-running alarm's, not the lag's", () => {
      // No lag before a shop's first tick or while the app secret is the placeholder: that must not alarm.
      expect(alarm("SyncLag")).toMatchObject({
        Threshold: 900,
        ComparisonOperator: "GreaterThanThreshold",
        TreatMissingData: "notBreaching",
      });
      expect(alarm("TickNotRunning")).toMatchObject({
        Namespace: "AWS/Lambda",
        MetricName: "Invocations",
        Statistic: "Sum",
        Period: 300,
        Threshold: 1,
        ComparisonOperator: "LessThanThreshold",
        EvaluationPeriods: 3,
        TreatMissingData: "breaching",
        Dimensions: [{ Name: "FunctionName", Value: { Ref: expect.stringMatching(/^TickFunction/) } }],
      });
    });

    it("alarms on any visible DLQ message", () => {
      expect(alarm("DeadLetterQueue")).toMatchObject({
        Namespace: "AWS/SQS",
        MetricName: "ApproximateNumberOfMessagesVisible",
        Dimensions: [
          {
            Name: "QueueName",
            Value: { "Fn::GetAtt": [expect.stringMatching(/^DeadLetterQueue/), "QueueName"] },
          },
        ],
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
      });
    });

    it.each([
      ["tick", "TickFunction"],
      ["api", "ApiFunction"],
      ["worker", "WorkerFunction"],
    ])("alarms on errors and on throttles of the %s function", (name, prefix) => {
      const dimensions = [
        { Name: "FunctionName", Value: { Ref: expect.stringMatching(new RegExp(`^${prefix}`)) } },
      ];
      expect(alarm(`FunctionErrors-${name}`)).toMatchObject({
        Namespace: "AWS/Lambda",
        MetricName: "Errors",
        Dimensions: dimensions,
        Threshold: 0,
      });
      expect(alarm(`FunctionThrottles-${name}`)).toMatchObject({
        Namespace: "AWS/Lambda",
        MetricName: "Throttles",
        Dimensions: dimensions,
        Statistic: "Sum",
        Period: 300,
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
        EvaluationPeriods: 1,
        TreatMissingData: "notBreaching",
      });
    });

    it("lets only the worker recurse through its own queue, and alarms when Lambda drops a recursion", () => {
      const { tick, api, worker } = functionsByName(template);
      expect(worker.Properties.RecursiveLoop).toBe("Allow");
      // Tick and API keep Lambda's default (Terminate): neither is invoked by a queue it writes to.
      for (const fn of [tick, api]) expect(fn.Properties.RecursiveLoop ?? "Terminate").toBe("Terminate");
      expect(alarm("RecursiveInvocationsDropped")).toMatchObject({
        Namespace: "AWS/Lambda",
        MetricName: "RecursiveInvocationsDropped",
        Dimensions: [{ Name: "FunctionName", Value: { Ref: expect.stringMatching(/^WorkerFunction/) } }],
        Statistic: "Sum",
        Period: 300,
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
        EvaluationPeriods: 1,
        TreatMissingData: "notBreaching",
      });
    });

    it("alarms when the work queue's oldest message outlives the longest delay plus every redelivery", () => {
      // The worker's longest delay (its own constant) plus every redelivery before the DLQ.
      expect(SQS_MAX_DELAY_SECONDS).toBe(MAX_DELAY_SECONDS);
      const threshold =
        MAX_DELAY_SECONDS + (WORK_QUEUE.maxReceiveCount ?? 0) * WORK_QUEUE.visibilityTimeoutSeconds;
      expect(threshold).toBe(1800);
      expect(alarm("WorkQueueAge")).toMatchObject({
        Namespace: "AWS/SQS",
        MetricName: "ApproximateAgeOfOldestMessage",
        Dimensions: [
          { Name: "QueueName", Value: { "Fn::GetAtt": [expect.stringMatching(/^WorkQueue/), "QueueName"] } },
        ],
        Statistic: "Maximum",
        Period: 300,
        Threshold: threshold,
        ComparisonOperator: "GreaterThanThreshold",
        EvaluationPeriods: 1,
        TreatMissingData: "notBreaching",
      });
    });

    it("alarms when the worker runs close to its timeout in 2 of 3 periods", () => {
      expect(alarm("WorkerDuration")).toMatchObject({
        Namespace: "AWS/Lambda",
        MetricName: "Duration",
        Dimensions: [{ Name: "FunctionName", Value: { Ref: expect.stringMatching(/^WorkerFunction/) } }],
        Statistic: "Maximum",
        Period: 300,
        Threshold: WORKER_DURATION_ALARM_RATIO * WORKER_TIMEOUT_SECONDS * 1000,
        ComparisonOperator: "GreaterThanThreshold",
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        TreatMissingData: "notBreaching",
      });
      expect(WORKER_DURATION_ALARM_RATIO).toBeGreaterThanOrEqual(0.8);
      expect(WORKER_DURATION_ALARM_RATIO).toBeLessThanOrEqual(0.9);
    });

    it("alarms when reconciliation drift persists after healing, across all shops without a shop id", () => {
      expect(alarm("ReconciliationDriftPersisting")).toMatchObject({
        Metrics: [
          expect.objectContaining({
            Expression: `SELECT MAX(ReconciliationDriftPersisting) FROM SCHEMA("TikTokShopSync", shopId)`,
            Period: 3600,
          }),
        ],
        Threshold: 0,
        EvaluationPeriods: 1,
        ComparisonOperator: "GreaterThanThreshold",
        TreatMissingData: "notBreaching",
      });
      expect(alarm("FunctionErrors-reconcile")).toMatchObject({ MetricName: "Errors", Threshold: 0 });
      expect(dashboardBody(template)).toContain("Reconciliation");
    });

    it("alarms on any 5xx of the HTTP API stage (HTTP API metric names and dimensions)", () => {
      expect(alarm("Api5xx")).toMatchObject({
        Namespace: "AWS/ApiGateway",
        MetricName: "5xx",
        Dimensions: [
          { Name: "ApiId", Value: { Ref: expect.stringMatching(/^HttpApi/) } },
          { Name: "Stage", Value: "$default" },
        ],
        Statistic: "Sum",
        Period: 300,
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
        EvaluationPeriods: 1,
        TreatMissingData: "notBreaching",
      });
    });

    it.each([
      ["TokenRefreshFailed", "SUM(TokenRefreshFailed)", 0, 1],
      ["NeedsReauth", "MAX(NeedsReauth)", 0, 1],
      ["OrdersQuarantined", "SUM(OrdersQuarantined)", 0, 1],
      ["ApiThrottling", "SUM(ApiThrottled)", 10, 3],
      ["JobStalled", "MAX(JobStalled)", 0, 2],
    ])("alarms on %s across all shops when no shop id is configured", (name, query, threshold, periods) => {
      expect(alarm(name)).toMatchObject({
        Metrics: [
          expect.objectContaining({ Expression: `SELECT ${query} FROM SCHEMA("TikTokShopSync", shopId)` }),
        ],
        Threshold: threshold,
        EvaluationPeriods: periods,
        DatapointsToAlarm: periods,
        ComparisonOperator: "GreaterThanThreshold",
        TreatMissingData: "notBreaching",
      });
    });

    it("treats missing data as not breaching on every metric published only when above 0", () => {
      expectMissingDataFollowsPolicy(template);
    });

    it("sends every alarm (and its recovery) to the alarm topic", () => {
      const topicId = logicalIdStartingWith(template, "AWS::SNS::Topic", "MonitoringAlarmTopic");
      const alarms = Object.values(resources(template, "AWS::CloudWatch::Alarm"));
      // 21 with reconciliation; push adds WebhookRejected, WebhookDeadLetterQueue and errors/throttles of
      // its 2 functions.
      expect(alarms).toHaveLength(27);
      for (const a of alarms) {
        expect(a.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
        expect(a.Properties.OKActions).toEqual([{ Ref: topicId }]);
      }
      template.resourceCountIs("AWS::SNS::Subscription", 0);
    });

    it("graphs per-shop metrics by shop and totals without dimension, as the metric policy publishes them", () => {
      const body = dashboardBody(template);
      for (const [name, policy] of Object.entries(METRIC_POLICY)) {
        if (policy.scope === "shop") {
          expect(body).toContain(`SEARCH('{TikTokShopSync,shopId} MetricName=\\"${name}\\"'`);
          expect(body).not.toContain(`["TikTokShopSync","${name}"`);
        } else {
          // A plain metric with no dimension after its name: exactly the series a total is.
          expect(body).toMatch(new RegExp(`\\["TikTokShopSync","${name}",\\{`));
          expect(body).not.toContain(`MetricName=\\"${name}\\"`);
        }
      }
      expect(body).toContain("ApproximateNumberOfMessagesVisible");
      expect(body).toContain("ApproximateAgeOfOldestMessage");
    });

    it("shows run count and duration from the tick function's own Lambda metrics", () => {
      const body = dashboardBody(template);
      const tickRef =
        /\["AWS\/Lambda","(Invocations|Duration)","FunctionName","\{"Ref":"TickFunction[0-9A-F]+"\}"/g;
      const found = [...body.matchAll(tickRef)].map((match) => match[1]);
      expect(new Set(found)).toEqual(new Set(["Invocations", "Duration"]));
    });

    it("queries the run log line of the tick and API log groups for per-run figures", () => {
      const body = dashboardBody(template);
      expect(body).toContain(`filter message = \\"${RUN_LOG_MESSAGE}\\"`);
      for (const group of ["TickLogs", "ApiLogs"]) {
        expect(body).toMatch(new RegExp(`SOURCE '\\{"Ref":"${group}[0-9A-F]+"\\}'`));
      }
      // The message really is the one the incremental run logs.
      const source = fs.readFileSync(path.resolve(__dirname, "../../shared/sync/incremental.ts"), "utf8");
      expect(source).toContain(`"${RUN_LOG_MESSAGE}"`);
    });
  });

  describe("security at a glance (docs/sync-protocol.md Guarantees)", () => {
    it("encrypts every table and every queue at rest, DLQ included", () => {
      const tables = Object.values(resources(template, "AWS::DynamoDB::Table"));
      expect(tables).toHaveLength(2);
      for (const table of tables) expect(table.Properties.SSESpecification).toEqual({ SSEEnabled: true });
      const queues = Object.entries(resources(template, "AWS::SQS::Queue"));
      expect(queues.map(([id]) => id.replace(/[0-9A-F]{8}$/, "")).sort()).toEqual([
        "DeadLetterQueue",
        "WebhookDeadLetterQueue",
        "WebhookQueue",
        "WorkQueue",
      ]);
      for (const [, queue] of queues) {
        expect(
          queue.Properties.SqsManagedSseEnabled === true || queue.Properties.KmsMasterKeyId,
        ).toBeTruthy();
      }
    });

    it("has no unauthenticated entry point: no function URL, only the signed webhook route without IAM, invoke only by API Gateway", () => {
      expect(Object.keys(resources(template, "AWS::Lambda::Url"))).toEqual([]);
      const routes = Object.values(resources(template, "AWS::ApiGatewayV2::Route"));
      expect(routes.length).toBe(CONTRACT_ROUTES.length + 1);
      // TikTok's webhooks carry its HMAC signature (verified by the receiver), not SigV4.
      expect(
        routes
          .filter((route) => route.Properties.AuthorizationType !== "AWS_IAM")
          .map((route) => route.Properties.RouteKey),
      ).toEqual([WEBHOOK_ROUTE_KEY]);
      const permissions = Object.values(resources(template, "AWS::Lambda::Permission"));
      expect(permissions.length).toBeGreaterThan(0);
      for (const permission of permissions) {
        expect(permission.Properties.Principal).toBe("apigateway.amazonaws.com");
        // Scoped to this API's own execute-api ARN, never any API of the account.
        expect(JSON.stringify(permission.Properties.SourceArn)).toMatch(/execute-api/);
      }
    });

    it("keeps the app secret and tokens only in Secrets Manager: nowhere in the template as a value", () => {
      const json = JSON.stringify(template.toJSON());
      expect(json).not.toMatch(/TIKTOK_(APP_SECRET|APP_KEY|ACCESS_TOKEN|REFRESH_TOKEN)"/);
      expect(json).not.toMatch(/"SecretString"/);
      expect(Object.keys(resources(template, "AWS::SecretsManager::Secret"))).toHaveLength(1);
    });
  });

  it("outputs the API URL, invoke ARN pattern, dashboard URL, table and queue names and secret ARN", () => {
    const outputs = template.findOutputs("*");
    expect(Object.keys(outputs).sort()).toEqual(
      [
        "AlarmTopicArn",
        "ApiInvokeArnPattern",
        "ApiUrl",
        "DashboardUrl",
        "DeadLetterQueueName",
        "OrdersTableName",
        "SecretArn",
        "StateTableName",
        "WebhookDeadLetterQueueName",
        "WebhookUrl",
        "WorkQueueName",
      ].sort(),
    );
    expect(JSON.stringify(outputs.ApiInvokeArnPattern)).toContain(":execute-api:");
    expect(JSON.stringify(outputs.ApiInvokeArnPattern)).toContain("/$default/*");
    expect(JSON.stringify(outputs.DashboardUrl)).toContain("#dashboards:name=");
    expect(JSON.stringify(outputs.WebhookUrl)).toMatch(/ApiEndpoint.*\/api\/webhooks\/tiktok/);
  });
});

describe("TikTokShopSyncStack (configured)", () => {
  it("honours scheduleMinutes for the schedule, the interval setting and the lag threshold", () => {
    const { template } = synthTemplate({ scheduleMinutes: 10 });
    template.hasResourceProperties("AWS::Scheduler::Schedule", { ScheduleExpression: "rate(10 minutes)" });
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: { Variables: Match.objectLike({ SYNC_INTERVAL_SECONDS: "600" }) },
    });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      AlarmName: "TikTokShopSync-SyncLag",
      Threshold: 1800,
    });
  });

  it("writes a one-minute schedule in the singular AWS expects", () => {
    const { template } = synthTemplate({ scheduleMinutes: 1 });
    template.hasResourceProperties("AWS::Scheduler::Schedule", { ScheduleExpression: "rate(1 minute)" });
  });

  it("honours reconcileIntervalHours; 0 leaves the reconciliation on demand only (no schedule, no role)", () => {
    const { template: sixHourly } = synthTemplate({ reconcileIntervalHours: 6 });
    sixHourly.hasResourceProperties("AWS::Scheduler::Schedule", { ScheduleExpression: "rate(6 hours)" });
    const { template: onDemand, stack } = synthTemplate({ reconcileIntervalHours: 0 });
    onDemand.resourceCountIs("AWS::Scheduler::Schedule", 1);
    expect(stack.reconcileScheduleRole).toBeUndefined();
    expect(JSON.stringify(onDemand.toJSON())).not.toContain("ReconcileScheduleRole");
    // The function and the route stay: POST /api/sync/reconcile runs it on demand.
    expect(functionsByName(onDemand).reconcile).toBeDefined();
  });

  it("watches the configured shop's metrics, with the job-stall metric math", () => {
    const { template } = synthTemplate({ shopId: "7495123", shopCipher: "ROW_abc", workerConcurrency: 6 });
    expectMissingDataFollowsPolicy(template);
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: Match.objectLike({ TIKTOK_SHOP_ID: "7495123", TIKTOK_SHOP_CIPHER: "ROW_abc" }),
      },
    });
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      ScalingConfig: { MaximumConcurrency: 6 },
    });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      AlarmName: "TikTokShopSync-SyncLag",
      Namespace: "TikTokShopSync",
      MetricName: "SyncLagSeconds",
      Dimensions: [{ Name: "shopId", Value: "7495123" }],
      Statistic: "Maximum",
      TreatMissingData: "notBreaching",
    });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      AlarmName: "TikTokShopSync-JobStalled",
      EvaluationPeriods: 2,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: "IF(openWindows > 0 AND (ordersMax - ordersMin) <= 0, 1, 0)" }),
        Match.objectLike({
          Id: "openWindows",
          MetricStat: Match.objectLike({
            Metric: {
              Namespace: "TikTokShopSync",
              MetricName: "JobWindowsOpen",
              Dimensions: [{ Name: "shopId", Value: "7495123" }],
            },
            Period: 900,
          }),
        }),
      ]),
    });
  });

  it("passes many-shop and data-protection settings to every function; orders expire through TTL", () => {
    const { template } = synthTemplate({
      shops: "7495123:ROW_abc,7495124@agency-b",
      authorizations: "default,agency-b",
      shopConcurrency: 8,
      orderRetentionDays: 730,
      storeRecipientData: false,
    });
    const functions = Object.values(resources(template, "AWS::Lambda::Function")).filter(
      (fn) => fn.Properties.Environment?.Variables?.ORDERS_TABLE_NAME !== undefined,
    );
    // Tick, API, worker, reconcile and webhook consumer (the receiver touches no table).
    expect(functions).toHaveLength(5);
    for (const fn of functions) {
      expect(fn.Properties.Environment.Variables).toMatchObject({
        TIKTOK_SHOPS: "7495123:ROW_abc,7495124@agency-b",
        TIKTOK_AUTHORIZATIONS: "default,agency-b",
        SHOP_CONCURRENCY: "8",
        ORDER_RETENTION_DAYS: "730",
        STORE_RECIPIENT_DATA: "false",
      });
    }
    // The orders table's TTL attribute is what ORDER_RETENTION_DAYS writes.
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      KeySchema: Match.arrayWith([{ AttributeName: "orderId", KeyType: "RANGE" }]),
      TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
    });
    // Re-authorization needed and failed refreshes page whoever is on call, across all shops.
    for (const name of ["TokenRefreshFailed", "NeedsReauth"]) {
      template.hasResourceProperties("AWS::CloudWatch::Alarm", { AlarmName: `TikTokShopSync-${name}` });
    }
  });

  it("refuses a bad shop list at synth, naming the setting and the variable", () => {
    expect(() => synthTemplate({ shops: "s1@nobody" })).toThrow(
      /shops: TIKTOK_SHOPS: shop s1 names authorization "nobody"/,
    );
    // The settings file is JSON: a string where a boolean belongs is refused, not coerced.
    expect(() => synthTemplate({ storeRecipientData: "maybe" } as unknown as DeploySettingsInput)).toThrow(
      /storeRecipientData: must be true or false \(a JSON boolean\) \(got "maybe"\)/,
    );
  });

  it("subscribes the alarm e-mail and imports an existing secret by ARN", () => {
    const secretArn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tiktok-app-AbCdEf";
    const { template } = synthTemplate({ alarmEmail: "ops@example.com", tiktokSecretArn: secretArn });
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "ops@example.com",
    });
    template.resourceCountIs("AWS::SecretsManager::Secret", 0);
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: { Variables: Match.objectLike({ TIKTOK_SECRET_ARN: secretArn }) },
    });
    template.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: "secretsmanager:GetSecretValue",
            Resource: secretArn,
          }),
        ]),
      },
    });
  });

  it("grantInvoke gives a role execute-api:Invoke on the deployed stage only", () => {
    const { stack } = buildApp();
    const caller = new Role(stack, "DashboardCaller", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
    });
    stack.grantInvoke(caller);
    const template = Template.fromStack(stack);
    const policyId = logicalIdStartingWith(template, "AWS::IAM::Policy", "DashboardCallerDefaultPolicy");
    const policy = resources(template, "AWS::IAM::Policy")[policyId] as Resource;
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      { Action: "execute-api:Invoke", Effect: "Allow", Resource: stack.resolve(stack.invokeArnPattern) },
    ]);
    expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain("/$default/*");
  });

  it("rejects configurations the runtime would reject, at synth time", () => {
    const build = (props: ConstructorParameters<typeof TikTokShopSyncStack>[2]) => () =>
      new TikTokShopSyncStack(new App({ outdir: testOutdir() }), "Bad", {
        entries: FIXTURE_ENTRIES,
        ...props,
      });
    expect(build({ overlapSeconds: 40 })).toThrow(/SYNC_OVERLAP_SECONDS/);
    expect(build({ scheduleMinutes: 0 })).toThrow(/scheduleMinutes/);
    expect(build({ reconcileIntervalHours: 721 })).toThrow(/reconcileIntervalHours/);
    expect(build({ reconcileIntervalHours: 1.5 })).toThrow(/reconcileIntervalHours/);
    expect(build({ workerConcurrency: 1 })).toThrow(/workerConcurrency/);
    expect(build({ tiktokApiBaseUrl: "not a url" })).toThrow(/TIKTOK_API_BASE_URL/);
  });

  it("refuses credentials or unbound resource names in a function's environment", () => {
    const { stack } = buildApp();
    const resources: SyncResources = {
      ordersTable: { table: stack.ordersTable, definition: ORDERS_TABLE },
      stateTable: { table: stack.stateTable, definition: STATE_TABLE },
      workQueue: stack.workQueue,
      dlq: stack.deadLetterQueue,
      webhookQueue: stack.webhookQueue,
      secret: stack.secret,
    };
    const withEnvironment = (name: string) => () =>
      new SyncFunction(stack, `Fn${name}`, {
        entry: FIXTURE_ENTRIES.tick,
        description: "test",
        timeout: Duration.seconds(3),
        resources,
        grants: {},
        environment: { [name]: "x" },
      });
    for (const name of [
      "TIKTOK_APP_SECRET",
      "TIKTOK_APP_KEY",
      "TIKTOK_REFRESH_TOKEN",
      "TIKTOK_ACCESS_TOKEN",
    ]) {
      expect(withEnvironment(name)).toThrow(/credential/);
    }
    expect(withEnvironment("ORDERS_TABLE_NAME")).toThrow(/binding/);
  });
});
