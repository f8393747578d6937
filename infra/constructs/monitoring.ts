/**
 * Dashboard and alarms from the metric names of DESIGN "Metrics" (shared/observability/metric-names.ts).
 *
 * The dashboard uses SEARCH expressions over `{TikTokShopSync,shopId}`, so every shop shows up without
 * redeploying. Alarms cannot use SEARCH: with a configured shop id they watch that shop's metrics
 * (dimension `shopId`); without one they watch Metrics Insights aggregates across all shops.
 *
 * Runtime requirement: custom metrics must carry exactly one dimension, `shopId` (Powertools adds a
 * `service` dimension by default; the emitter must clear it), or neither the dashboard nor the alarms
 * will see them.
 */
import { Duration, Stack } from "aws-cdk-lib";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  Stats,
  TextWidget,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRIC_DIMENSION, METRIC_NAMESPACE, MetricName } from "../../shared/observability/metric-names";

export interface SyncMonitoringProps {
  /** The configured shop (TIKTOK_SHOP_ID); without it alarms aggregate over all shops. */
  readonly shopId?: string;
  /** Minutes between scheduled ticks; the lag threshold and several periods derive from it. */
  readonly syncIntervalMinutes: number;
  /** Functions whose errors raise an alarm each, keyed by a short name (tick, api, worker). */
  readonly functions: Readonly<Record<string, IFunction>>;
  readonly workQueue: IQueue;
  readonly deadLetterQueue: IQueue;
  /** Subscribed to the alarm topic when given. */
  readonly alarmEmail?: string;
  /** 429 responses per 5 minutes that count as throttled. @default 10 */
  readonly throttledCallsThreshold?: number;
  /** Consecutive throttled 5-minute periods before the alarm fires. @default 3 */
  readonly throttlePeriods?: number;
  /** Consecutive stall periods (each 3 sync intervals) before the job-stalled alarm fires. @default 2 */
  readonly jobStallPeriods?: number;
}

/** Alarms by purpose; function error alarms are keyed `functionErrors:<name>`. */
export type SyncAlarmKey =
  | "syncLag"
  | "deadLetterQueue"
  | "tokenRefreshFailed"
  | "needsReauth"
  | "ordersQuarantined"
  | "jobStalled"
  | "apiThrottling"
  | `functionErrors:${string}`;

type Statistic = "Maximum" | "Minimum" | "Sum" | "SampleCount";

const INSIGHTS_FUNCTION: Record<Statistic, string> = {
  Maximum: "MAX",
  Minimum: "MIN",
  Sum: "SUM",
  SampleCount: "COUNT",
};

const DASHBOARD_PERIOD = Duration.minutes(5);
const WIDGET_WIDTH = 8;
const WIDGET_HEIGHT = 6;

export class SyncMonitoring extends Construct {
  readonly dashboard: Dashboard;
  readonly alarmTopic: Topic;
  readonly alarms = new Map<SyncAlarmKey, Alarm>();
  /** Seconds of lag that raise the sync-lag alarm (3 sync intervals). */
  readonly lagThresholdSeconds: number;
  private readonly shopId: string | undefined;
  private readonly alarmNamePrefix: string;

  constructor(scope: Construct, id: string, props: SyncMonitoringProps) {
    super(scope, id);
    this.shopId = props.shopId;
    this.alarmNamePrefix = Stack.of(this).stackName;
    const interval = Duration.minutes(props.syncIntervalMinutes);
    this.lagThresholdSeconds = 3 * interval.toSeconds();

    this.alarmTopic = new Topic(this, "AlarmTopic", {
      displayName: `${this.alarmNamePrefix} alarms`,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    this.createAlarms(props, interval);
    this.dashboard = new Dashboard(this, "Dashboard", {
      dashboardName: `${this.alarmNamePrefix}-sync`,
      defaultInterval: Duration.hours(6),
    });
    this.addWidgets(props);
  }

  /** The metric of one shop when configured, else a Metrics Insights aggregate over all shops. */
  shopMetric(name: MetricName, statistic: Statistic, period: Duration): IMetric {
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

  private createAlarms(props: SyncMonitoringProps, interval: Duration): void {
    const fiveMinutes = Duration.minutes(5);
    // Silence means the tick stopped: missing lag data is breaching.
    this.addAlarm("syncLag", "SyncLag", {
      metric: this.shopMetric(MetricName.SyncLagSeconds, "Maximum", interval),
      threshold: this.lagThresholdSeconds,
      evaluationPeriods: 2,
      treatMissingData: TreatMissingData.BREACHING,
      description: `Sync lag above ${this.lagThresholdSeconds}s (3 sync intervals), or no lag reported.`,
    });
    this.addAlarm("deadLetterQueue", "DeadLetterQueue", {
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: Stats.MAXIMUM,
        period: fiveMinutes,
      }),
      threshold: 0,
      description: "Full-resync work reached the dead-letter queue; see status dlq_depth and redrive.",
    });
    for (const [name, fn] of Object.entries(props.functions)) {
      this.addAlarm(`functionErrors:${name}`, `FunctionErrors-${name}`, {
        metric: fn.metricErrors({ statistic: Stats.SUM, period: fiveMinutes }),
        threshold: 0,
        description: `The ${name} function failed (errors or timeouts).`,
      });
    }
    this.addAlarm("tokenRefreshFailed", "TokenRefreshFailed", {
      metric: this.shopMetric(MetricName.TokenRefreshFailed, "Sum", fiveMinutes),
      threshold: 0,
      description: "Refreshing the TikTok access token failed.",
    });
    this.addAlarm("needsReauth", "NeedsReauth", {
      metric: this.shopMetric(MetricName.NeedsReauth, "Maximum", interval),
      threshold: 0,
      description: "The shop must be authorised again in TikTok Partner Center (refresh token refused).",
    });
    this.addAlarm("ordersQuarantined", "OrdersQuarantined", {
      metric: this.shopMetric(MetricName.OrdersQuarantined, "Sum", fiveMinutes),
      threshold: 0,
      description: "Orders failed validation and were quarantined; see status last_run.quarantined.",
    });
    const throttled = props.throttledCallsThreshold ?? 10;
    const throttlePeriods = props.throttlePeriods ?? 3;
    this.addAlarm("apiThrottling", "ApiThrottling", {
      metric: this.shopMetric(MetricName.ApiThrottled, "Sum", fiveMinutes),
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
      treatMissingData?: TreatMissingData;
    },
  ): void {
    const evaluationPeriods = options.evaluationPeriods ?? 1;
    const alarm = new Alarm(this, `${name}Alarm`, {
      alarmName: `${this.alarmNamePrefix}-${name}`,
      alarmDescription: options.description,
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods,
      datapointsToAlarm: evaluationPeriods,
      // Counters are only emitted when something happened: no data is good news.
      treatMissingData: options.treatMissingData ?? TreatMissingData.NOT_BREACHING,
    });
    const action = new SnsAction(this.alarmTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.set(key, alarm);
  }

  private addWidgets(props: SyncMonitoringProps): void {
    const search = (name: MetricName, statistic: string) =>
      new MathExpression({
        expression: `SEARCH('{${METRIC_NAMESPACE},${METRIC_DIMENSION}} MetricName="${name}"', '${statistic}', ${DASHBOARD_PERIOD.toSeconds()})`,
        usingMetrics: {},
        label: `${name} \${PROP('Dim.${METRIC_DIMENSION}')}`,
        period: DASHBOARD_PERIOD,
      });
    const graph = (title: string, left: IMetric[], right: IMetric[] = []) =>
      new GraphWidget({ title, left, right, width: WIDGET_WIDTH, height: WIDGET_HEIGHT });
    const functions = Object.entries(props.functions);
    const lag = new GraphWidget({
      title: "Sync lag (s)",
      left: [search(MetricName.SyncLagSeconds, "Maximum")],
      leftAnnotations: [{ value: this.lagThresholdSeconds, label: "lag alarm" }],
      width: WIDGET_WIDTH,
      height: WIDGET_HEIGHT,
    });

    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# TikTok Shop sync\nShop: ${this.shopId ?? "all shops"}. Metrics: namespace \`${METRIC_NAMESPACE}\`, dimension \`${METRIC_DIMENSION}\`.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      lag,
      graph("Runs (count)", [search(MetricName.RunDurationMs, "SampleCount")]),
      graph("Run duration (ms)", [
        search(MetricName.RunDurationMs, "p50"),
        search(MetricName.RunDurationMs, "Maximum"),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        "TikTok API calls",
        [search(MetricName.ApiCalls, "Sum")],
        [search(MetricName.ApiThrottled, "Sum")],
      ),
      graph("Orders written", [
        search(MetricName.OrdersInserted, "Sum"),
        search(MetricName.OrdersUpdated, "Sum"),
        search(MetricName.OrdersUnchanged, "Sum"),
      ]),
      graph("Orders skipped", [
        search(MetricName.OrdersStale, "Sum"),
        search(MetricName.OrdersQuarantined, "Sum"),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        "Full-resync job",
        [search(MetricName.JobWindowsOpen, "Maximum")],
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
        ],
        [
          props.workQueue.metricApproximateNumberOfMessagesVisible({
            label: "Work queue visible",
            statistic: Stats.MAXIMUM,
            period: DASHBOARD_PERIOD,
          }),
        ],
      ),
      graph(
        "Function errors",
        functions.map(([name, fn]) =>
          fn.metricErrors({ label: `${name} errors`, statistic: Stats.SUM, period: DASHBOARD_PERIOD }),
        ),
        functions.map(([name, fn]) =>
          fn.metricThrottles({ label: `${name} throttles`, statistic: Stats.SUM, period: DASHBOARD_PERIOD }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      graph("Tokens", [
        search(MetricName.TokenRefreshFailed, "Sum"),
        search(MetricName.NeedsReauth, "Maximum"),
      ]),
      new AlarmStatusWidget({
        title: "Alarms",
        alarms: [...this.alarms.values()],
        width: 16,
        height: WIDGET_HEIGHT,
      }),
    );
  }
}
