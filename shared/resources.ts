/**
 * The single definition of the product's tables, indexes and queues.
 *
 * Both the CDK stack (infra/) and the local twin (infra/local/) build their resources from these
 * objects, so the laptop and AWS cannot drift apart. Keys follow DESIGN.md "Stored data" (contract).
 */

export type AttributeType = "S" | "N";

export interface KeyDefinition {
  readonly name: string;
  readonly type: AttributeType;
}

/**
 * What a global secondary index copies from each item: its keys (and the table's) only, or those plus
 * a few named attributes. Never ALL: a full copy per index triples every order's write cost (DESIGN
 * "Stored data"). A projection cannot be changed in place on an existing table (see
 * docs/deploy.md, upgrading from ALL indexes).
 */
export type IndexProjection =
  | { readonly type: "KEYS_ONLY" }
  | { readonly type: "INCLUDE"; readonly nonKeyAttributes: readonly string[] };

export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: KeyDefinition;
  readonly sortKey: KeyDefinition;
  readonly projection: IndexProjection;
}

export interface TableDefinition {
  /** Logical id, also the suffix of the physical table name. */
  readonly id: "orders" | "state";
  readonly partitionKey: KeyDefinition;
  readonly sortKey: KeyDefinition;
  readonly globalSecondaryIndexes: readonly IndexDefinition[];
  readonly timeToLiveAttribute?: string;
  /** DynamoDB Streams view type; orders stream new images for downstream consumers. */
  readonly stream?: "NEW_IMAGE";
  readonly pointInTimeRecovery: boolean;
  /** Kept when the stack is deleted. */
  readonly retainOnDelete: boolean;
}

/**
 * The order summary the indexes carry beside the keys: enough for a dashboard's list of orders (status,
 * total, currency, line count) without reading each order. Top-level attributes of every order item,
 * taken from the order by shared/orders/stored-order.ts.
 */
export const ORDER_SUMMARY_ATTRIBUTES = ["status", "totalAmount", "currency", "lineCount"] as const;

const ORDER_SUMMARY: IndexProjection = { type: "INCLUDE", nonKeyAttributes: ORDER_SUMMARY_ATTRIBUTES };

export const ORDERS_TABLE: TableDefinition = {
  id: "orders",
  partitionKey: { name: "shopId", type: "S" },
  sortKey: { name: "orderId", type: "S" },
  globalSecondaryIndexes: [
    {
      indexName: "byCreateTime",
      partitionKey: { name: "shopId", type: "S" },
      sortKey: { name: "createTime", type: "N" },
      projection: ORDER_SUMMARY,
    },
    {
      indexName: "byUpdateTime",
      partitionKey: { name: "shopId", type: "S" },
      sortKey: { name: "updateTime", type: "N" },
      projection: ORDER_SUMMARY,
    },
  ],
  timeToLiveAttribute: "expiresAt",
  stream: "NEW_IMAGE",
  pointInTimeRecovery: true,
  retainOnDelete: true,
};

export const STATE_TABLE: TableDefinition = {
  id: "state",
  partitionKey: { name: "pk", type: "S" },
  sortKey: { name: "sk", type: "S" },
  globalSecondaryIndexes: [],
  timeToLiveAttribute: "expiresAt",
  pointInTimeRecovery: true,
  retainOnDelete: true,
};

export const TABLES: readonly TableDefinition[] = [ORDERS_TABLE, STATE_TABLE];

export interface QueueDefinition {
  readonly id: "work" | "work-dlq" | "webhook" | "webhook-dlq";
  /** Seconds a received message stays invisible; on AWS ≥ 6× the worker's timeout. */
  readonly visibilityTimeoutSeconds: number;
  readonly messageRetentionSeconds: number;
  /** Receives before a message moves to the dead-letter queue. */
  readonly maxReceiveCount?: number;
  readonly deadLetterQueueId?: QueueDefinition["id"];
}

/** The worker Lambda's timeout; the queue's visibility timeout is derived from it. */
export const WORKER_TIMEOUT_SECONDS = 30;

/** The tick Lambda's timeout (the local scheduler gives each tick the same time). */
export const TICK_TIMEOUT_SECONDS = 90;

/** The API Lambda's timeout: API Gateway gives a request 29 s (the local HTTP server too). */
export const API_TIMEOUT_SECONDS = 29;

/**
 * The reconciliation Lambda's timeout (issue 18): Lambda's longest, so one scheduled run compares the
 * whole history of many shops (a run that still runs short continues its sweeps next time).
 */
export const RECONCILE_TIMEOUT_SECONDS = 900;

export const WORK_DLQ: QueueDefinition = {
  id: "work-dlq",
  visibilityTimeoutSeconds: 30,
  messageRetentionSeconds: 14 * 24 * 3600,
};

export const WORK_QUEUE: QueueDefinition = {
  id: "work",
  visibilityTimeoutSeconds: 6 * WORKER_TIMEOUT_SECONDS,
  messageRetentionSeconds: 4 * 24 * 3600,
  maxReceiveCount: 5,
  deadLetterQueueId: "work-dlq",
};

/** The webhook consumer Lambda's timeout; the webhook queue's visibility timeout is derived from it. */
export const WEBHOOK_CONSUMER_TIMEOUT_SECONDS = 30;

/** The webhook receiver Lambda's timeout: it verifies and enqueues (API Gateway would wait 29 s at most). */
export const WEBHOOK_RECEIVER_TIMEOUT_SECONDS = 10;

/**
 * The webhook consumer's batching window: its event source gathers events this long (or until
 * WEBHOOK_BATCH_SIZE) before invoking it, so one Get Order Detail call covers many changed orders.
 * Added to the push lag; the local poller uses the same.
 */
export const WEBHOOK_BATCHING_WINDOW_SECONDS = 1;
/** Events per consumer invocation at most (a batching window allows more than SQS's 10). */
export const WEBHOOK_BATCH_SIZE = 100;

export const WEBHOOK_DLQ: QueueDefinition = {
  id: "webhook-dlq",
  visibilityTimeoutSeconds: 30,
  messageRetentionSeconds: 14 * 24 * 3600,
};

/**
 * Verified TikTok webhook events waiting for the consumer (issue 18). Its own queue, not the work
 * queue: push events are small, many and latency-bound, full-resync pages are few and long; sharing
 * one queue would put a push event behind a full resync's pages and mix their DLQs and alarms. Lambda
 * asks for a visibility timeout of 6× the function timeout plus the batching window. An event is
 * useless once ticks have read its order (minutes), so a day of retention is plenty.
 */
export const WEBHOOK_QUEUE: QueueDefinition = {
  id: "webhook",
  visibilityTimeoutSeconds: 6 * WEBHOOK_CONSUMER_TIMEOUT_SECONDS + WEBHOOK_BATCHING_WINDOW_SECONDS,
  messageRetentionSeconds: 24 * 3600,
  maxReceiveCount: 5,
  deadLetterQueueId: "webhook-dlq",
};

/** Dead-letter queues first: a queue's redrive policy needs its DLQ's ARN. */
export const QUEUES: readonly QueueDefinition[] = [WORK_DLQ, WORK_QUEUE, WEBHOOK_DLQ, WEBHOOK_QUEUE];

/** Physical name of a resource under a namespace, e.g. `tss-orders` or `test-12-orders`. */
export function physicalName(namespace: string, id: string): string {
  return `${namespace}-${id}`;
}
