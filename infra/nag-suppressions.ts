/**
 * cdk-nag acknowledgements, each scoped to the one construct it concerns and each with the reason it
 * is acceptable. cdk-nag 3 reads them from `Validations.of(construct).acknowledge(...)`; findings with
 * detail (e.g. IAM5) are acknowledged finding by finding, never the whole rule.
 */
import { type CfnElement, Validations } from "aws-cdk-lib";
import type { IRole } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { type ISecret, Secret } from "aws-cdk-lib/aws-secretsmanager";
import type { IConstruct } from "constructs";

/** A function's role and the function, as `SyncFunction` carries them. */
interface AcknowledgedFunction {
  readonly role: IRole;
  readonly function: IFunction;
}

/**
 * What the acknowledgements read from the stack. stack.ts imports this module and passes itself, so
 * the stack is described by what is read rather than imported back (which would be an import cycle).
 */
export interface AcknowledgedStack {
  getLogicalId(element: CfnElement): string;
  readonly functions: Readonly<Record<string, AcknowledgedFunction>> & {
    readonly tick: AcknowledgedFunction;
    readonly reconcile: AcknowledgedFunction;
  };
  readonly tickScheduleRole: IConstruct;
  readonly reconcileScheduleRole: IConstruct | undefined;
  readonly webhookRoute: IConstruct;
  readonly secret: ISecret;
  readonly api: IConstruct;
  readonly apiStage: { readonly stageName: string };
}

export const XRAY_WILDCARD_REASON =
  "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so AWS requires Resource '*'. Every other statement in this policy names its resources.";

export const RUNTIME_PIN_REASON =
  "Runtime pinned to nodejs22.x on purpose: the bundle targets node22 and is tested on it; moving to a newer runtime is a deliberate change together with the esbuild target.";

function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

export function applyNagSuppressions(stack: AcknowledgedStack): void {
  for (const syncFunction of Object.values(stack.functions)) {
    acknowledge(
      syncFunction.role.node.findChild("DefaultPolicy"),
      "AwsSolutions-IAM5[Resource::*]",
      XRAY_WILDCARD_REASON,
    );
    acknowledge(syncFunction.function, "AwsSolutions-L1", RUNTIME_PIN_REASON);
  }

  const tickLogicalId = stack.getLogicalId(stack.functions.tick.function.node.defaultChild as CfnElement);
  acknowledge(
    stack.tickScheduleRole.node.findChild("DefaultPolicy"),
    `AwsSolutions-IAM5[Resource::<${tickLogicalId}.Arn>:*]`,
    "Lambda's grantInvoke (used by the Scheduler target) also covers qualified ARNs (versions/aliases) of the tick function, and only of that function.",
  );

  acknowledge(
    stack.webhookRoute,
    "AwsSolutions-APIG4",
    "TikTok Shop cannot sign requests with SigV4: this route is authenticated by TikTok's HMAC-SHA256 signature, verified in constant time on the raw body before anything else (401 otherwise), and throttled on its own.",
  );
  if (stack.reconcileScheduleRole) {
    const reconcileLogicalId = stack.getLogicalId(
      stack.functions.reconcile.function.node.defaultChild as CfnElement,
    );
    acknowledge(
      stack.reconcileScheduleRole.node.findChild("DefaultPolicy"),
      `AwsSolutions-IAM5[Resource::<${reconcileLogicalId}.Arn>:*]`,
      "Lambda's grantInvoke (used by the Scheduler target) also covers qualified ARNs (versions/aliases) of the reconciliation function, and only of that function.",
    );
  }

  if (stack.secret instanceof Secret) {
    acknowledge(
      stack.secret,
      "AwsSolutions-SMG4",
      "The app key/secret are issued by TikTok Partner Center and cannot be rotated by a rotation Lambda; the rotating access/refresh token pair lives in the state table's versioned TOKEN item and is refreshed by the sync itself.",
    );
  }
}

/**
 * `stack.grantInvoke(role)` grants `execute-api:Invoke` on `<api>/$default/*`: the routes carry a
 * `{job_id}` path parameter, so a stage-wide pattern is the narrowest stable grant. For a grantee in the
 * same stack the finding is acknowledged on that grantee only (a grantee elsewhere acknowledges its own).
 */
export function acknowledgeInvokeGrant(stack: AcknowledgedStack, grantee: IConstruct): void {
  const apiLogicalId = stack.getLogicalId(stack.api.node.defaultChild as CfnElement);
  const arn = `arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiLogicalId}>/${stack.apiStage.stageName}/*`;
  acknowledge(
    grantee,
    `AwsSolutions-IAM5[Resource::${arn}]`,
    "execute-api:Invoke on every route of this API's $default stage: routes carry a {job_id} path parameter, so the stage-wide pattern is the narrowest stable grant.",
  );
}
