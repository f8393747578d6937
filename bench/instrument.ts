/**
 * Meters the benchmark reads: AWS SDK middleware counting DynamoDB and SQS requests (and DynamoDB's
 * own capacity accounting), a resident-memory sampler, and CPU time per process from /proc.
 *
 * DynamoDB Local computes consumed capacity as DynamoDB does (item size rounded up to 1 KB per write,
 * 4 KB per read, global secondary index writes included, two index writes when an index key changes),
 * so every metered request asks for `ReturnConsumedCapacity: INDEXES` and the answer is summed. Two
 * things DynamoDB Local does not report are added here: transactional writes cost twice (it reports
 * one unit per KB), and a PutItem whose condition fails still costs the item's write units.
 */
import { readFileSync } from "node:fs";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";

const CAPACITY_COMMANDS = new Set([
  "PutItem",
  "UpdateItem",
  "DeleteItem",
  "GetItem",
  "BatchGetItem",
  "BatchWriteItem",
  "Query",
  "Scan",
  "TransactWriteItems",
  "TransactGetItems",
]);
const READ_COMMANDS = new Set(["GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"]);

export interface DynamoCounts {
  /** Requests by operation (PutItem, BatchGetItem, TransactWriteItems, …). */
  readonly requests: Record<string, number>;
  readUnits: number;
  writeUnits: number;
  /** Write units of the orders table alone (base table and its indexes). */
  orderWriteUnits: number;
  /** PutItem requests on the orders table: one per order written (the figure behind "writes/order"). */
  orderPuts: number;
  /** Orders written by BatchWriteItem (the baseline's and the store floor's unconditional writes). */
  orderBatchWrites: number;
  /** Bytes of the items sent in orders-table writes (DynamoDB's item-size rules). */
  orderItemBytes: number;
  /** Conditional writes refused (each still billed on AWS). */
  conditionFailures: number;
  /** Wall time with at least one DynamoDB request in flight. */
  busyMs: number;
}

export function emptyDynamoCounts(): DynamoCounts {
  return {
    requests: {},
    readUnits: 0,
    writeUnits: 0,
    orderWriteUnits: 0,
    orderPuts: 0,
    orderBatchWrites: 0,
    orderItemBytes: 0,
    conditionFailures: 0,
    busyMs: 0,
  };
}

export function diffDynamoCounts(after: DynamoCounts, before: DynamoCounts): DynamoCounts {
  return {
    requests: diffRecord(after.requests, before.requests),
    readUnits: after.readUnits - before.readUnits,
    writeUnits: after.writeUnits - before.writeUnits,
    orderWriteUnits: after.orderWriteUnits - before.orderWriteUnits,
    orderPuts: after.orderPuts - before.orderPuts,
    orderBatchWrites: after.orderBatchWrites - before.orderBatchWrites,
    orderItemBytes: after.orderItemBytes - before.orderItemBytes,
    conditionFailures: after.conditionFailures - before.conditionFailures,
    busyMs: after.busyMs - before.busyMs,
  };
}

export function diffRecord(after: Record<string, number>, before: Record<string, number>) {
  const result: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const delta = value - (before[key] ?? 0);
    if (delta !== 0) result[key] = delta;
  }
  return result;
}

export function sumRecord(record: Record<string, number>): number {
  return Object.values(record).reduce((total, value) => total + value, 0);
}

type AttributeValue = Record<string, unknown>;

/** An attribute value's size by DynamoDB's rules (strings in UTF-8, numbers ~1 byte per 2 digits). */
function valueBytes(value: AttributeValue): number {
  if (typeof value.S === "string") return Buffer.byteLength(value.S);
  if (typeof value.N === "string") return Math.ceil(value.N.replace(/^-|\./g, "").length / 2) + 1;
  if (value.B instanceof Uint8Array) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.M && typeof value.M === "object") return 3 + itemBytes(value.M as Record<string, AttributeValue>);
  if (Array.isArray(value.L)) {
    return 3 + (value.L as AttributeValue[]).reduce((total, element) => total + 1 + valueBytes(element), 0);
  }
  if (Array.isArray(value.SS)) return (value.SS as string[]).reduce((t, s) => t + Buffer.byteLength(s), 0);
  if (Array.isArray(value.NS))
    return (value.NS as string[]).reduce((t, n) => t + Math.ceil(n.length / 2) + 1, 0);
  return 0;
}

/** A marshalled item's size as DynamoDB bills it (attribute names included). */
export function itemBytes(item: Record<string, unknown>): number {
  let total = 0;
  for (const [name, value] of Object.entries(item)) {
    total += Buffer.byteLength(name) + valueBytes(value as AttributeValue);
  }
  return total;
}

interface ConsumedCapacity {
  readonly TableName?: string;
  readonly CapacityUnits?: number;
}

/**
 * Counts every request `client` sends (and documents clients built on it). `ordersTable` names the
 * table whose writes are reported per order. The counts object is live: snapshot it with
 * structuredClone and subtract with diffDynamoCounts.
 */
export function meterDynamoDb(client: DynamoDBClient, ordersTable: () => string | undefined): DynamoCounts {
  const counts = emptyDynamoCounts();
  let inFlight = 0;
  let busySince = 0;
  // Asks for the capacity accounting before the document client marshalls and the request is built.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? "").replace(/Command$/, "");
      if (!CAPACITY_COMMANDS.has(operation)) return next(args);
      return next({ ...args, input: { ...(args.input as object), ReturnConsumedCapacity: "INDEXES" } });
    },
    { step: "initialize", priority: "high", name: "benchDynamoCapacity" },
  );
  // Counts once the input is marshalled (the build step follows serialization), once per send.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? "Unknown").replace(/Command$/, "");
      const input = args.input as Record<string, unknown>;
      counts.requests[operation] = (counts.requests[operation] ?? 0) + 1;
      const orders = ordersTable();
      let putBytes = 0;
      if (operation === "PutItem" && input.TableName === orders) {
        putBytes = itemBytes(input.Item as Record<string, unknown>);
        counts.orderPuts += 1;
        counts.orderItemBytes += putBytes;
      }
      if (operation === "BatchWriteItem" && orders) {
        const requests = (input.RequestItems as Record<string, { PutRequest?: { Item: never } }[]>)[orders];
        for (const request of requests ?? []) {
          if (!request.PutRequest) continue;
          counts.orderBatchWrites += 1;
          counts.orderItemBytes += itemBytes(request.PutRequest.Item);
        }
      }
      if (inFlight === 0) busySince = performance.now();
      inFlight += 1;
      try {
        const result = await next(args);
        const output = result.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] };
        const consumed = output.ConsumedCapacity;
        const entries = consumed === undefined ? [] : Array.isArray(consumed) ? consumed : [consumed];
        const factor = operation === "TransactWriteItems" ? 2 : 1;
        for (const entry of entries) {
          const units = (entry.CapacityUnits ?? 0) * factor;
          if (READ_COMMANDS.has(operation)) counts.readUnits += units;
          else counts.writeUnits += units;
          if (!READ_COMMANDS.has(operation) && entry.TableName === orders) counts.orderWriteUnits += units;
        }
        return result;
      } catch (error) {
        if ((error as Error).name === "ConditionalCheckFailedException") {
          counts.conditionFailures += 1;
          // Billed on AWS at the item's size (base table only: nothing reaches the indexes).
          const units = Math.max(1, Math.ceil(putBytes / 1024));
          counts.writeUnits += units;
          if (putBytes > 0) counts.orderWriteUnits += units;
        }
        throw error;
      } finally {
        inFlight -= 1;
        if (inFlight === 0) counts.busyMs += performance.now() - busySince;
      }
    },
    { step: "build", name: "benchDynamoMeter" },
  );
  return counts;
}

/**
 * Counts every SQS request by action (each is billed: receives, deletes, sends, attribute reads);
 * receives are split into `ReceiveMessage:messages` and `ReceiveMessage:empty`.
 */
export function meterSqs(client: SQSClient): Record<string, number> {
  const counts: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => async (args) => {
      let action = (context.commandName ?? "Unknown").replace(/Command$/, "");
      try {
        const result = await next(args);
        if (action === "ReceiveMessage") {
          const messages = (result.output as { Messages?: unknown[] }).Messages ?? [];
          action = messages.length > 0 ? "ReceiveMessage:messages" : "ReceiveMessage:empty";
        }
        return result;
      } finally {
        counts[action] = (counts[action] ?? 0) + 1;
      }
    },
    { step: "build", name: "benchSqsMeter" },
  );
  return counts;
}

/** Times every request made through it: summed durations, and wall time with one or more in flight. */
export function timedFetch(meter: { calls: number; sumMs: number; busyMs: number }): typeof fetch {
  let inFlight = 0;
  let busySince = 0;
  return async (input, init) => {
    if (inFlight === 0) busySince = performance.now();
    inFlight += 1;
    const started = performance.now();
    try {
      return await fetch(input, init);
    } finally {
      meter.calls += 1;
      meter.sumMs += performance.now() - started;
      inFlight -= 1;
      if (inFlight === 0) meter.busyMs += performance.now() - busySince;
    }
  };
}

/** Samples this process's resident set size and heap; peaks since the last `reset()`. */
export class MemorySampler {
  private peakRss = 0;
  private peakHeap = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 100) {
    this.reset();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const { rss, heapUsed } = process.memoryUsage();
    if (rss > this.peakRss) this.peakRss = rss;
    if (heapUsed > this.peakHeap) this.peakHeap = heapUsed;
  }

  reset(): void {
    this.peakRss = 0;
    this.peakHeap = 0;
    this.sample();
  }

  peaks(): { rssBytes: number; heapBytes: number } {
    this.sample();
    return { rssBytes: this.peakRss, heapBytes: this.peakHeap };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far, or undefined if it is gone. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start at ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const total = values.reduce((sum, value) => sum + value, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    return { busy: (total - idle) / CLOCK_TICKS_PER_SECOND, total: total / CLOCK_TICKS_PER_SECOND };
  } catch {
    return { busy: 0, total: 0 };
  }
}
