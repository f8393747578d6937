/**
 * Dashboard and alarms from the metric names of DESIGN "Metrics" (shared/observability/metric-names.ts)
 * and their emission policy (shared/observability/metric-names.ts), plus the AWS metrics of the functions, queues and
 * HTTP API.
 *
 * Per-shop custom metrics carry exactly one dimension, `shopId`; totals carry none (Powertools'
 * default `service` dimension must be cleared by the emitter), or neither the dashboard nor the
 * alarms will see them. The dashboard graphs per-shop metrics with SEARCH expressions over
 * `{TikTokShopSync,shopId}`, so every shop shows up without redeploying, and totals as plain metrics.
 * Alarms cannot use SEARCH: with a configured shop id they watch that shop's metrics; without one
 * they watch Metrics Insights aggregates across all shops.
 *
 * Metrics emitted only when above 0 have no data in healthy periods: their alarms treat missing data
 * as not breaching. Only the lag (emitted every tick) treats silence as breaching.
 */
import { Duration, Stack } from "aws-cdk-lib";
import type { IHttpStage } from "aws-cdk-lib/aws-apigatewayv2";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  LogQueryWidget,
  MathExpression,
  Metric,
  Stats,
  TextWidget,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import type { ILogGroup } from "aws-cdk-lib/aws-logs";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import {
  METRIC_DIMENSION,
  METRIC_NAMESPACE,
  METRIC_POLICY,
  MetricName,
} from "../../shared/observability/metric-names";

export interface SyncMonitoringProps {
  /** The configured shop (TIKTOK_SHOP_ID); without it alarms aggregate over all shops. */
  readonly shopId?: string;
  /** Minutes between scheduled ticks; the lag threshold and several periods derive from it. */
  readonly syncIntervalMinutes: number;
  /** Functions whose errors and throttles raise an alarm each, keyed by a short name (tick, api, worker). */
  readonly functions: Readonly<Record<string, IFunction>>;
  /** The scheduled tick: its invocations and duration are the dashboard's run count and run time. */
  readonly tickFunction: IFunction;
  /** The full-resync worker: its duration and dropped recursive invocations are watched. */
  readonly worker: { readonly function: IFunction; readonly timeout: Duration };
  readonly workQueue: IQueue;
  /** The work queue's redelivery settings; the oldest-message alarm derives from them. */
  readonly workQueueRedelivery: {
    readonly visibilityTimeoutSeconds: number;
    readonly maxReceiveCount: number;
  };
  readonly deadLetterQueue: IQueue;
  /** The HTTP API's stage: its 5xx count raises an alarm. */
  readonly apiStage: IHttpStage;
  /** Push (issue 18): the webhook dead-letter queue; alarms on rejected signatures and dead events. */
  readonly push?: {
    readonly webhookDeadLetterQueue: IQueue;
    /** Webhook requests refused for a bad signature per 5 minutes that raise the alarm. @default 20 */
    readonly rejectedThreshold?: number;
  };
  /** Log groups holding the "incremental sync completed" line (tick and API functions). */
  readonly runLogGroups: readonly ILogGroup[];
  /** Subscribed to the alarm topic when given. */
  readonly alarmEmail?: string;
  /** 429 responses per 5 minutes that count as throttled. @default 10 */
  readonly throttledCallsThreshold?: number;
  /** Consecutive throttled 5-minute periods before the alarm fires. @default 3 */
  readonly throttlePeriods?: number;
  /** Consecutive stall periods (each 3 sync intervals) before the job-stalled alarm fires. @default 2 */
  readonly jobStallPeriods?: number;
}

/** Alarms by purpose; per-function alarms are keyed `functionErrors:<name>` and `functionThrottles:<name>`. */
export type SyncAlarmKey =
  | "syncLag"
  | "tickNotRunning"
  | "deadLetterQueue"
  | "tokenRefreshFailed"
  | "needsReauth"
  | "ordersQuarantined"
  | "jobStalled"
  | "reconciliationDriftPersisting"
  | "apiThrottling"
  | "recursiveInvocationsDropped"
  | "workQueueAge"
  | "workerDuration"
  | "api5xx"
  | "webhookRejected"
  | "webhookDeadLetterQueue"
  | `functionErrors:${string}`
  | `functionThrottles:${string}`;

type Statistic = "Maximum" | "Minimum" | "Sum" | "SampleCount";

const INSIGHTS_FUNCTION: Record<Statistic, string> = {
  Maximum: "MAX",
  Minimum: "MIN",
  Sum: "SUM",
  SampleCount: "COUNT",
};

/** Share of the worker's timeout above which its longest invocation raises the duration alarm. */
export const WORKER_DURATION_ALARM_RATIO = 0.85;

/**
 * SQS's longest DelaySeconds, the delay the worker gives a throttled or parked page at most
 * (shared/sync/full-resync/work-queue.ts; not imported, to keep the SQS client out of the CDK app).
 */
export const SQS_MAX_DELAY_SECONDS = 900;

/** The structured log line of every completed incremental run (shared/sync/incremental.ts). */
export const RUN_LOG_MESSAGE = "incremental sync completed";

const FIVE_MINUTES = Duration.minutes(5);
const DASHBOARD_PERIOD = FIVE_MINUTES;
const WIDGET_WIDTH = 8;
const WIDGET_HEIGHT = 6;

/**
 * Seconds after which the work queue's oldest message means the worker is not draining it. A healthy
 * page message waits seconds. The longest legitimate waits are a page deliberately re-sent with the
 * longest SQS delay (a throttled page, or a shop waiting for re-authorization: 900 s), and a failing
 * message's redeliveries before the DLQ takes it (maxReceiveCount × visibility timeout = 5 × 180 s).
 * Older than both together (1,800 s by default), the queue is stuck: event source disabled, worker
 * throttled or failing before it reports batch failures.
 */
export function workQueueAgeThresholdSeconds(redelivery: SyncMonitoringProps["workQueueRedelivery"]): number {
  return SQS_MAX_DELAY_SECONDS + redelivery.maxReceiveCount * redelivery.visibilityTimeoutSeconds;
}

export class SyncMonitoring extends Construct {
  readonly dashboard: Dashboard;
  readonly alarmTopic: Topic;
  readonly alarms = new Map<SyncAlarmKey, Alarm>();
  /** Seconds of lag that raise the sync-lag alarm (3 sync intervals). */
  readonly lagThresholdSeconds: number;
  /** Age of the work queue's oldest message that raises the queue alarm. */
  readonly workQueueAgeThresholdSeconds: number;
  /** Worker duration (ms) that raises the duration alarm. */
  readonly workerDurationThresholdMs: number;
  private readonly shopId: string | undefined;
  private readonly alarmNamePrefix: string;

  constructor(scope: Construct, id: string, props: SyncMonitoringProps) {
    super(scope, id);
    this.shopId = props.shopId;
    this.alarmNamePrefix = Stack.of(this).stackName;
    const interval = Duration.minutes(props.syncIntervalMinutes);
    this.lagThresholdSeconds = 3 * interval.toSeconds();
    this.workQueueAgeThresholdSeconds = workQueueAgeThresholdSeconds(props.workQueueRedelivery);
    this.workerDurationThresholdMs = Math.round(
      WORKER_DURATION_ALARM_RATIO * props.worker.timeout.toMilliseconds(),
    );

    this.alarmTopic = new Topic(this, "AlarmTopic", {
      displayName: `${this.alarmNamePrefix} alarms`,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    this.createSyncAlarms(props, interval);
    this.createOperationsAlarms(props);
    this.createPushAlarms(props);
    this.dashboard = new Dashboard(this, "Dashboard", {
      dashboardName: `${this.alarmNamePrefix}-sync`,
      defaultInterval: Duration.hours(6),
    });
    this.addWidgets(props);
  }

  /** The metric of one shop when configured, else a Metrics Insights aggregate over all shops. */
  shopMetric(name: MetricName, statistic: Statistic, period: Duration): IMetric {
    if (METRIC_POLICY[name].scope !== "shop") throw new Error(`${name} is a total, not a per-shop metric`);
    if (this.shopId) {
      return new Metric({
        namespace: METRIC_NAMESPACE,
        metricName: name,
        dimensionsMap: { [METRIC_DIMENSION]: this.shopId },
        statistic,
        period,
      });
    }
    return new MathExpression({
      expression: `SELECT ${INSIGHTS_FUNCTION[statistic]}(${name}) FROM SCHEMA("${METRIC_NAMESPACE}", ${METRIC_DIMENSION})`,
      usingMetrics: {},
      period,
      label: name,
    });
  }

  /** A metric published without dimensions (a total over all shops). */
  totalMetric(name: MetricName, statistic: string, period: Duration = DASHBOARD_PERIOD): Metric {
    if (METRIC_POLICY[name].scope !== "total") throw new Error(`${name} is a per-shop metric, not a total`);
    const detailed = METRIC_POLICY[name].emission === "detailed";
    return new Metric({
      namespace: METRIC_NAMESPACE,
      metricName: name,
      statistic,
      period,
      label: detailed ? `${name} (DETAILED_METRICS only)` : name,
    });
  }

  private createSyncAlarms(props: SyncMonitoringProps, interval: Duration): void {
    // A shop has no lag before its first tick, and none while the app secret is still the placeholder
    // ("not configured", which must not alarm): missing lag is not breaching. A tick that stopped
    // running altogether is the next alarm's job, on Lambda's own invocation count.
    this.addAlarm("syncLag", "SyncLag", {
      metric: this.shopMetric(MetricName.SyncLagSeconds, "Maximum", interval),
      threshold: this.lagThresholdSeconds,
      evaluationPeriods: 2,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      description: `Sync lag above ${this.lagThresholdSeconds}s (3 sync intervals).`,
    });
    this.addAlarm("tickNotRunning", "TickNotRunning", {
      metric: props.tickFunction.metricInvocations({ statistic: Stats.SUM, period: interval }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
      // Lambda publishes no Invocations data point for a period without an invocation.
      treatMissingData: TreatMissingData.BREACHING,
      description:
        "The scheduled tick was not invoked for 3 sync intervals: the schedule is disabled or failing to invoke it.",
    });
    this.addAlarm("deadLetterQueue", "DeadLetterQueue", {
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: Stats.MAXIMUM,
        period: FIVE_MINUTES,
      }),
      threshold: 0,
      description: "Full-resync work reached the dead-letter queue; see status dlq_depth and redrive.",
    });
    // The rest are emitted only when above 0 (METRIC_POLICY): no data is good news.
    this.addAlarm("tokenRefreshFailed", "TokenRefreshFailed", {
      metric: this.shopMetric(MetricName.TokenRefreshFailed, "Sum", FIVE_MINUTES),
      threshold: 0,
      description: "Refreshing the TikTok access token failed.",
    });
    this.addAlarm("needsReauth", "NeedsReauth", {
      metric: this.shopMetric(MetricName.NeedsReauth, "Maximum", interval),
      threshold: 0,
      description: "The shop must be authorised again in TikTok Partner Center (refresh token refused).",
    });
    this.addAlarm("ordersQuarantined", "OrdersQuarantined", {
      metric: this.shopMetric(MetricName.OrdersQuarantined, "Sum", FIVE_MINUTES),
      threshold: 0,
      description: "Orders failed validation and were quarantined; see status last_run.quarantined.",
    });
    const throttled = props.throttledCallsThreshold ?? 10;
    const throttlePeriods = props.throttlePeriods ?? 3;
    this.addAlarm("apiThrottling", "ApiThrottling", {
      metric: this.shopMetric(MetricName.ApiThrottled, "Sum", FIVE_MINUTES),
      threshold: throttled,
      evaluationPeriods: throttlePeriods,
      description: `More than ${throttled} throttled TikTok calls in each of ${throttlePeriods} consecutive 5-minute periods.`,
    });
    this.addAlarm("jobStalled", "JobStalled", {
      metric: this.jobStalledMetric(Duration.minutes(3 * props.syncIntervalMinutes)),
      threshold: 0,
      evaluationPeriods: props.jobStallPeriods ?? 2,
      description: "A full-resync job has open windows but stored no new orders for several periods.",
    });
    // One data point per reconciliation run, only when drift outlived its healing (issue 18).
    this.addAlarm("reconciliationDriftPersisting", "ReconciliationDriftPersisting", {
      metric: this.shopMetric(MetricName.ReconciliationDriftPersisting, "Maximum", Duration.hours(1)),
      threshold: 0,
      description:
        "Drift between DynamoDB and TikTok persists after healing: a range healed by the last reconciliation differs again, or its healing job failed or was cancelled. See status reconciliation.persisting_drift and heal_failed.",
    });
  }

  /** AWS's own metrics of the functions, the work queue and the HTTP API (all only present when used). */
  private createOperationsAlarms(props: SyncMonitoringProps): void {
    for (const [name, fn] of Object.entries(props.functions)) {
      this.addAlarm(`functionErrors:${name}`, `FunctionErrors-${name}`, {
        metric: fn.metricErrors({ statistic: Stats.SUM, period: FIVE_MINUTES }),
        threshold: 0,
        description: `The ${name} function failed (errors or timeouts).`,
      });
      this.addAlarm(`functionThrottles:${name}`, `FunctionThrottles-${name}`, {
        metric: fn.metricThrottles({ statistic: Stats.SUM, period: FIVE_MINUTES }),
        threshold: 0,
        description: `Lambda refused invocations of the ${name} function (account or function concurrency exhausted).`,
      });
    }
    this.addAlarm("recursiveInvocationsDropped", "RecursiveInvocationsDropped", {
      metric: props.worker.function.metric("RecursiveInvocationsDropped", {
        statistic: Stats.SUM,
        period: FIVE_MINUTES,
      }),
      threshold: 0,
      description:
        "Lambda stopped a recursive SQS -> worker -> SQS chain: the worker's RecursiveLoop setting is no longer Allow, so full-resync windows stop after ~16 pages and their messages go to the DLQ.",
    });
    this.addAlarm("workQueueAge", "WorkQueueAge", {
      metric: props.workQueue.metricApproximateAgeOfOldestMessage({
        statistic: Stats.MAXIMUM,
        period: FIVE_MINUTES,
      }),
      threshold: this.workQueueAgeThresholdSeconds,
      description: `The oldest full-resync work message is older than ${this.workQueueAgeThresholdSeconds}s (longest SQS delay + all redeliveries): the worker is not draining the queue.`,
    });
    this.addAlarm("workerDuration", "WorkerDuration", {
      metric: props.worker.function.metricDuration({ statistic: Stats.MAXIMUM, period: FIVE_MINUTES }),
      threshold: this.workerDurationThresholdMs,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      description: `The worker ran longer than ${Math.round(WORKER_DURATION_ALARM_RATIO * 100)}% of its ${props.worker.timeout.toSeconds()}s timeout in 2 of 3 five-minute periods: it is close to being killed mid-page.`,
    });
    this.addAlarm("api5xx", "Api5xx", {
      metric: props.apiStage.metricServerError({ statistic: Stats.SUM, period: FIVE_MINUTES }),
      threshold: 0,
      description:
        "The HTTP API answered 5xx (bad input is always 4xx): the API function failed, timed out or was throttled.",
    });
  }

  /**
   * A burst of webhook requests with a bad signature (WebhookRejected): someone probing the public
   * route, or the app secret rotated in Partner Center but not in Secrets Manager (then every genuine
   * event is refused too). A stray forgery now and then stays below the threshold.
   */
  private createPushAlarms(props: SyncMonitoringProps): void {
    if (!props.push) return;
    const rejected = props.push.rejectedThreshold ?? 20;
    this.addAlarm("webhookRejected", "WebhookRejected", {
      metric: this.totalMetric(MetricName.WebhookRejected, Stats.SUM, FIVE_MINUTES),
      threshold: rejected,
      description: `More than ${rejected} webhook requests with a bad or missing signature in 5 minutes: probing of the public webhook route, or the app secret in Secrets Manager no longer matches TikTok's.`,
    });
    this.addAlarm("webhookDeadLetterQueue", "WebhookDeadLetterQueue", {
      metric: props.push.webhookDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: Stats.MAXIMUM,
        period: FIVE_MINUTES,
      }),
      threshold: 0,
      description:
        "Webhook events failed 5 times and reached the webhook dead-letter queue (the ticks still sync those orders).",
    });
  }

  /**
   * 1 while a job has open windows and its order count did not move within the period, else 0.
   * Needs the shop dimension (alarms cannot combine Metrics Insights queries); without a shop id the
   * reconciler's own JobStalled count is watched instead.
   */
  private jobStalledMetric(period: Duration): IMetric {
    if (!this.shopId) return this.shopMetric(MetricName.JobStalled, "Maximum", period);
    return new MathExpression({
      expression: "IF(openWindows > 0 AND (ordersMax - ordersMin) <= 0, 1, 0)",
      usingMetrics: {
        openWindows: this.shopMetric(MetricName.JobWindowsOpen, "Maximum", period),
        ordersMax: this.shopMetric(MetricName.JobOrders, "Maximum", period),
        ordersMin: this.shopMetric(MetricName.JobOrders, "Minimum", period),
      },
      period,
      label: "Job stalled",
    });
  }

  private addAlarm(
    key: SyncAlarmKey,
    name: string,
    options: {
      metric: IMetric;
      threshold: number;
      description: string;
      evaluationPeriods?: number;
      datapointsToAlarm?: number;
      treatMissingData?: TreatMissingData;
      /** @default above the threshold */
      comparisonOperator?: ComparisonOperator;
    },
  ): void {
    const evaluationPeriods = options.evaluationPeriods ?? 1;
    const alarm = new Alarm(this, `${name}Alarm`, {
      alarmName: `${this.alarmNamePrefix}-${name}`,
      alarmDescription: options.description,
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator: options.comparisonOperator ?? ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods,
      datapointsToAlarm: options.datapointsToAlarm ?? evaluationPeriods,
      // Counters and AWS error metrics only have data when something happened: no data is good news.
      treatMissingData: options.treatMissingData ?? TreatMissingData.NOT_BREACHING,
    });
    const action = new SnsAction(this.alarmTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.set(key, alarm);
  }

  private addWidgets(props: SyncMonitoringProps): void {
    const search = (name: MetricName, statistic: string) => {
      if (METRIC_POLICY[name].scope !== "shop") throw new Error(`${name} is a total: graph it as one`);
      return new MathExpression({
        expression: `SEARCH('{${METRIC_NAMESPACE},${METRIC_DIMENSION}} MetricName="${name}"', '${statistic}', ${DASHBOARD_PERIOD.toSeconds()})`,
        usingMetrics: {},
        label: `${name} \${PROP('Dim.${METRIC_DIMENSION}')}`,
        period: DASHBOARD_PERIOD,
      });
    };
    const total = (name: MetricName, statistic: string) => this.totalMetric(name, statistic);
    const graph = (title: string, left: IMetric[], right: IMetric[] = []) =>
      new GraphWidget({ title, left, right, width: WIDGET_WIDTH, height: WIDGET_HEIGHT });
    const functions = Object.entries(props.functions);
    const tick = props.tickFunction;

    this.dashboard.addWidgets(
      new TextWidget({
        markdown: [
          "# TikTok Shop sync",
          `Shop: ${this.shopId ?? "all shops"}. Metrics: namespace \`${METRIC_NAMESPACE}\`; per-shop metrics by \`${METRIC_DIMENSION}\`, totals without dimension.`,
          "Counters are published only when above 0: an empty graph means nothing happened.",
        ].join("\n"),
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Sync lag (s)",
        left: [search(MetricName.SyncLagSeconds, "Maximum")],
        leftAnnotations: [{ value: this.lagThresholdSeconds, label: "lag alarm" }],
        width: WIDGET_WIDTH,
        height: WIDGET_HEIGHT,
      }),
      graph(
        "Ticks (count)",
        [
          tick.metricInvocations({
            label: "tick invocations",
            statistic: Stats.SUM,
            period: DASHBOARD_PERIOD,
          }),
        ],
        [tick.metricErrors({ label: "tick errors", statistic: Stats.SUM, period: DASHBOARD_PERIOD })],
      ),
      graph("Tick duration (ms)", [
        tick.metricDuration({ label: "tick p50", statistic: Stats.p(50), period: DASHBOARD_PERIOD }),
        tick.metricDuration({ label: "tick max", statistic: Stats.MAXIMUM, period: DASHBOARD_PERIOD }),
        total(MetricName.RunDurationMs, Stats.MAXIMUM),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        "TikTok API calls",
        [total(MetricName.ApiCalls, "Sum")],
        [search(MetricName.ApiThrottled, "Sum")],
      ),
      graph("Orders written (all shops)", [
        total(MetricName.OrdersInserted, "Sum"),
        total(MetricName.OrdersUpdated, "Sum"),
        total(MetricName.OrdersUnchanged, "Sum"),
      ]),
      graph("Orders skipped", [
        search(MetricName.OrdersStale, "Sum"),
        search(MetricName.OrdersQuarantined, "Sum"),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        "Full-resync job",
        [search(MetricName.JobWindowsOpen, "Maximum"), search(MetricName.JobStalled, "Maximum")],
        [search(MetricName.JobOrders, "Maximum")],
      ),
      graph(
        "Work queues",
        [
          props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            label: "DLQ visible",
            statistic: Stats.MAXIMUM,
            period: DASHBOARD_PERIOD,
          }),
          search(MetricName.DlqDepth, "Maximum"),
          props.workQueue.metricApproximateNumberOfMessagesVisible({
            label: "Work queue visible",
            statistic: Stats.MAXIMUM,
            period: DASHBOARD_PERIOD,
          }),
        ],
        [
          props.workQueue.metricApproximateAgeOfOldestMessage({
            label: "Work queue oldest message (s)",
            statistic: Stats.MAXIMUM,
            period: DASHBOARD_PERIOD,
          }),
        ],
      ),
      graph(
        "Function errors and throttles",
        functions.map(([name, fn]) =>
          fn.metricErrors({ label: `${name} errors`, statistic: Stats.SUM, period: DASHBOARD_PERIOD }),
        ),
        functions.map(([name, fn]) =>
          fn.metricThrottles({ label: `${name} throttles`, statistic: Stats.SUM, period: DASHBOARD_PERIOD }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Worker duration (ms) and dropped recursion",
        left: [
          props.worker.function.metricDuration({
            label: "worker max",
            statistic: Stats.MAXIMUM,
            period: DASHBOARD_PERIOD,
          }),
        ],
        leftAnnotations: [{ value: this.workerDurationThresholdMs, label: "duration alarm" }],
        right: [
          props.worker.function.metric("RecursiveInvocationsDropped", {
            label: "recursive invocations dropped",
            statistic: Stats.SUM,
            period: DASHBOARD_PERIOD,
          }),
        ],
        width: WIDGET_WIDTH,
        height: WIDGET_HEIGHT,
      }),
      graph(
        "HTTP API responses",
        [
          props.apiStage.metricServerError({ label: "5xx", statistic: Stats.SUM, period: DASHBOARD_PERIOD }),
          props.apiStage.metricClientError({ label: "4xx", statistic: Stats.SUM, period: DASHBOARD_PERIOD }),
        ],
        [props.apiStage.metricCount({ label: "requests", statistic: Stats.SUM, period: DASHBOARD_PERIOD })],
      ),
      graph("Tokens", [
        search(MetricName.TokenRefreshFailed, "Sum"),
        search(MetricName.NeedsReauth, "Maximum"),
      ]),
    );
    if (props.push) {
      this.dashboard.addWidgets(
        graph(
          "Webhooks (push)",
          [total(MetricName.WebhookEvents, "Sum"), total(MetricName.WebhookRejected, "Sum")],
          [
            props.push.webhookDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
              label: "Webhook DLQ visible",
              statistic: Stats.MAXIMUM,
              period: DASHBOARD_PERIOD,
            }),
          ],
        ),
        new GraphWidget({
          title: "Push lag, change to DynamoDB (ms)",
          left: [total(MetricName.WebhookLagMs, Stats.p(50)), total(MetricName.WebhookLagMs, Stats.p(95))],
          width: WIDGET_WIDTH,
          height: WIDGET_HEIGHT,
        }),
      );
    }
    this.dashboard.addWidgets(
      graph(
        "Reconciliation: drift found (orders) and persisting after healing (ranges)",
        [search(MetricName.ReconciliationDrift, "Maximum")],
        [search(MetricName.ReconciliationDriftPersisting, "Maximum")],
      ),
    );
    this.dashboard.addWidgets(
      // Per-run figures without a metric each: the run's own structured log line.
      new LogQueryWidget({
        title: "Incremental runs (from the run log line)",
        logGroupNames: props.runLogGroups.map((group) => group.logGroupName),
        queryLines: [
          `filter message = "${RUN_LOG_MESSAGE}"`,
          "stats count(*) as runs, sum(inserted) as inserted, sum(updated) as updated, sum(unchanged) as unchanged, sum(apiCalls) as apiCalls, max(durationMs) as maxMs by shopId, bin(1h)",
        ],
        width: 12,
        height: WIDGET_HEIGHT,
      }),
      new AlarmStatusWidget({
        title: "Alarms",
        alarms: [...this.alarms.values()],
        width: 12,
        height: WIDGET_HEIGHT,
      }),
    );
  }
}
