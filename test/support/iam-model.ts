/**
 * IAM from the code itself: turns the AWS calls a function really sent into the IAM permissions they
 * need (general rules per API, never a per-function list), reads the permissions a function's role
 * has from the synthesized template, and compares the two.
 *
 * A permission is an IAM action on a stack resource, named by the resource's logical id
 * (`OrdersTable1A2B3C4D`, `OrdersTable1A2B3C4D/index/byUpdateTime`) or, for an imported resource, by
 * its literal ARN.
 */
import type { RecordedAwsCall } from "./recording-aws-endpoint";

export interface Permission {
  readonly action: string;
  readonly resource: string;
}

/** Maps what a call names (table name, queue URL, secret id) to the stack resource it stands for. */
export type ResourceResolver = (service: RecordedAwsCall["service"], identifier: string) => string;

export class NoIamRuleError extends Error {
  constructor(call: RecordedAwsCall, detail: string) {
    super(
      `no IAM rule for ${call.service}:${call.operation} (${detail}); add one to test/support/iam-model.ts`,
    );
    this.name = "NoIamRuleError";
  }
}

const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};

/** DynamoDB operations on one table (or, for Query/Scan with IndexName, on one index). */
const DYNAMODB_TABLE_OPERATIONS = new Set([
  "GetItem",
  "PutItem",
  "UpdateItem",
  "DeleteItem",
  "Query",
  "Scan",
  "DescribeTable",
]);

/** Transaction items are authorized as the item operation they stand for (DynamoDB developer guide). */
const TRANSACT_ITEM_ACTIONS: Readonly<Record<string, string>> = {
  Put: "PutItem",
  Update: "UpdateItem",
  Delete: "DeleteItem",
  ConditionCheck: "ConditionCheckItem",
  Get: "GetItem",
};

function dynamoDbPermissions(call: RecordedAwsCall, resolve: ResourceResolver): Permission[] {
  const { operation, input } = call;
  const table = (name: unknown) => {
    if (typeof name !== "string") throw new NoIamRuleError(call, "no TableName");
    return resolve("dynamodb", name);
  };
  if (DYNAMODB_TABLE_OPERATIONS.has(operation)) {
    const resource = table(input.TableName);
    const index = input.IndexName;
    return [
      {
        action: `dynamodb:${operation}`,
        resource: typeof index === "string" ? `${resource}/index/${index}` : resource,
      },
    ];
  }
  if (operation === "BatchGetItem" || operation === "BatchWriteItem") {
    // One action, authorized on every table the batch names.
    return Object.keys(asRecord(input.RequestItems)).map((name) => ({
      action: `dynamodb:${operation}`,
      resource: table(name),
    }));
  }
  if (operation === "TransactWriteItems" || operation === "TransactGetItems") {
    const items = Array.isArray(input.TransactItems) ? input.TransactItems : [];
    return items.flatMap((item) =>
      Object.entries(asRecord(item)).map(([kind, request]) => {
        const action = TRANSACT_ITEM_ACTIONS[kind];
        if (!action) throw new NoIamRuleError(call, `transaction item kind ${kind}`);
        return { action: `dynamodb:${action}`, resource: table(asRecord(request).TableName) };
      }),
    );
  }
  throw new NoIamRuleError(call, "unknown DynamoDB operation");
}

function sqsPermissions(call: RecordedAwsCall, resolve: ResourceResolver): Permission[] {
  const queueUrl = call.input.QueueUrl;
  if (typeof queueUrl !== "string") throw new NoIamRuleError(call, "no QueueUrl");
  // SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch are authorized by the
  // single-message action (SQS has no *Batch IAM actions).
  const action = call.operation.replace(/Batch$/, "");
  return [{ action: `sqs:${action}`, resource: resolve("sqs", queueUrl) }];
}

function secretsManagerPermissions(call: RecordedAwsCall, resolve: ResourceResolver): Permission[] {
  const secretId = call.input.SecretId;
  if (typeof secretId !== "string") throw new NoIamRuleError(call, "no SecretId");
  return [{ action: `secretsmanager:${call.operation}`, resource: resolve("secretsmanager", secretId) }];
}

/** The IAM permissions one recorded call needs. */
export function permissionsFor(call: RecordedAwsCall, resolve: ResourceResolver): Permission[] {
  switch (call.service) {
    case "dynamodb":
      return dynamoDbPermissions(call, resolve);
    case "sqs":
      return sqsPermissions(call, resolve);
    case "secretsmanager":
      return secretsManagerPermissions(call, resolve);
  }
}

// -------------------------------------------------------------------------------------------------
// The synthesized template

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped; the walkers below check shapes.
type Cfn = any;

export interface CfnTemplate {
  readonly Resources: Record<string, { Type: string; Properties?: Cfn }>;
}

const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * The resource a policy `Resource` entry names: `{Fn::GetAtt: [id, Arn]}` and `{Ref: id}` → `id`,
 * `{Fn::Join: ["", [{Fn::GetAtt: [id, Arn]}, "/index/name"]]}` → `id/index/name`, a string → itself.
 */
export function resourceKey(value: Cfn): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value?.["Fn::GetAtt"]) && value["Fn::GetAtt"][1] === "Arn") return value["Fn::GetAtt"][0];
  if (typeof value?.Ref === "string") return value.Ref;
  const join = value?.["Fn::Join"];
  if (Array.isArray(join) && join[0] === "" && Array.isArray(join[1])) {
    return join[1].map((part: Cfn) => resourceKey(part)).join("");
  }
  return JSON.stringify(value);
}

/** Logical id of the resource a Lambda property refers to (`{Ref}` or `{Fn::GetAtt}`). */
function referencedId(value: Cfn): string | undefined {
  if (typeof value?.Ref === "string") return value.Ref;
  if (Array.isArray(value?.["Fn::GetAtt"])) return value["Fn::GetAtt"][0];
  return undefined;
}

export interface TemplateFunction {
  readonly logicalId: string;
  readonly roleId: string;
  /** Environment variables: literal strings, or the intrinsic that names a bound resource. */
  readonly environment: Readonly<Record<string, Cfn>>;
}

export function templateFunction(template: CfnTemplate, logicalIdPrefix: string): TemplateFunction {
  const matches = Object.entries(template.Resources).filter(
    ([id, resource]) => resource.Type === "AWS::Lambda::Function" && id.startsWith(logicalIdPrefix),
  );
  if (matches.length !== 1)
    throw new Error(`expected one function ${logicalIdPrefix}*, found ${matches.length}`);
  const [logicalId, resource] = matches[0] as [string, { Properties: Cfn }];
  const roleId = referencedId(resource.Properties.Role);
  if (!roleId) throw new Error(`${logicalId}: role is not a reference to the stack's own role`);
  return { logicalId, roleId, environment: resource.Properties.Environment?.Variables ?? {} };
}

/**
 * Permissions the role needs that no code of ours uses, each with the rule that expects it:
 * - the function's log group: the Lambda runtime writes stdout/stderr there;
 * - X-Ray segments: sent by Lambda's active tracing, not by an SDK call of ours;
 * - KMS: used by DynamoDB/SQS/Secrets Manager on the caller's behalf for customer-managed keys (the
 *   stack uses AWS-managed/owned keys, so none is expected today);
 * - an SQS event source mapping's queue: Lambda's poller receives and deletes with the function's
 *   role (the Lambda developer guide lists sqs:ReceiveMessage, sqs:DeleteMessage and
 *   sqs:GetQueueAttributes as the execution role's permissions for an SQS event source). Stated here
 *   from AWS's documentation, not imported from the stack, so the stack cannot vouch for itself.
 */
export const SQS_EVENT_SOURCE_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"];

export interface RoleGrants {
  /** Permissions code must account for. */
  readonly comparable: readonly Permission[];
  /** Permissions explained by a rule other than the code's calls (with the rule). */
  readonly explained: readonly (Permission & { readonly rule: string })[];
  /** Permissions the event source mappings of the function need on its behalf. */
  readonly eventSource: readonly Permission[];
}

export function roleGrants(template: CfnTemplate, fn: TemplateFunction): RoleGrants {
  const policies = Object.values(template.Resources).filter(
    (resource) =>
      resource.Type === "AWS::IAM::Policy" &&
      asList(resource.Properties?.Roles).some((role: Cfn) => referencedId(role) === fn.roleId),
  );
  const comparable: Permission[] = [];
  const explained: (Permission & { rule: string })[] = [];
  for (const policy of policies) {
    for (const statement of asList<Cfn>(policy.Properties.PolicyDocument.Statement)) {
      if (statement.Effect !== "Allow") continue;
      if (statement.Condition !== undefined || statement.NotAction !== undefined) {
        throw new Error(`${fn.roleId}: conditional or NotAction statements are not modelled`);
      }
      for (const action of asList<string>(statement.Action)) {
        for (const entry of asList<Cfn>(statement.Resource)) {
          const resource = resourceKey(entry);
          const type = template.Resources[resource]?.Type;
          const permission = { action, resource };
          if (type === "AWS::Logs::LogGroup" && action.startsWith("logs:")) {
            explained.push({ ...permission, rule: "log group: written by the Lambda runtime" });
          } else if (action.startsWith("xray:") && resource === "*") {
            explained.push({ ...permission, rule: "X-Ray: sent by Lambda's active tracing" });
          } else if (action.startsWith("kms:")) {
            explained.push({ ...permission, rule: "KMS: used by the AWS service on the caller's behalf" });
          } else {
            comparable.push(permission);
          }
        }
      }
    }
  }
  const eventSource = Object.values(template.Resources)
    .filter(
      (resource) =>
        resource.Type === "AWS::Lambda::EventSourceMapping" &&
        referencedId(resource.Properties?.FunctionName) === fn.logicalId,
    )
    .flatMap((mapping) => {
      const queue = resourceKey(mapping.Properties.EventSourceArn);
      if (template.Resources[queue]?.Type !== "AWS::SQS::Queue") {
        throw new Error(`${fn.logicalId}: only SQS event sources are modelled (got ${queue})`);
      }
      return SQS_EVENT_SOURCE_ACTIONS.map((action) => ({ action, resource: queue }));
    });
  return { comparable, explained, eventSource };
}

// -------------------------------------------------------------------------------------------------
// Comparison

const key = (permission: Permission) => `${permission.action} on ${permission.resource}`;

/** `OrdersTable1A2B3C4D/index/byUpdateTime` → `OrdersTable/index/byUpdateTime` for messages. */
export function readableResource(resource: string): string {
  return resource.replace(/^([A-Za-z]+?)[0-9A-F]{8}(?=$|\/)/, "$1");
}

/**
 * Problems of one function's role against what its code sent, one line each naming the function, the
 * action, the resource and whether the grant is missing or unused. Empty = the role is exact.
 */
export function compareGrants(
  functionName: string,
  used: readonly Permission[],
  grants: RoleGrants,
): string[] {
  const needed = new Map<string, Permission>();
  for (const permission of [...used, ...grants.eventSource]) needed.set(key(permission), permission);
  const granted = new Map<string, Permission>();
  for (const permission of grants.comparable) granted.set(key(permission), permission);
  const problems: string[] = [];
  for (const [id, permission] of needed) {
    if (!granted.has(id)) {
      const why = used.some((each) => key(each) === id)
        ? "its code sends it"
        : "its SQS event source needs it";
      problems.push(
        `${functionName}: ${permission.action} on ${readableResource(permission.resource)} is missing (${why})`,
      );
    }
  }
  for (const [id, permission] of granted) {
    if (!needed.has(id)) {
      problems.push(
        `${functionName}: ${permission.action} on ${readableResource(permission.resource)} is unused (its code never sends it)`,
      );
    }
  }
  return problems.sort();
}
