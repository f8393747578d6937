/**
 * The one way the stores write state conditionally: an expression builder (every attribute through a
 * name placeholder, many are reserved words), update items built from it, and a writer that sends one
 * item as a conditional UpdateItem and several as TransactWriteItems. Transaction conflicts are retried
 * (conflict-retry.ts) and, when they persist, thrown as StateConflictError; failed conditions are
 * returned by item index, never thrown and never confused with conflicts.
 */
import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import {
  type ConflictRetryOptions,
  cancellationCodes,
  isTransactionConflict,
  retryOnConflict,
  StateConflictError,
} from "./conflict-retry";

export type TransactItems = NonNullable<
  ConstructorParameters<typeof TransactWriteCommand>[0]["TransactItems"]
>;
export type TransactItem = TransactItems[number];

/** Placeholders for one expression. */
export class Expr {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private counter = 0;

  name(attribute: string): string {
    const placeholder = `#${attribute}`;
    this.names[placeholder] = attribute;
    return placeholder;
  }

  value(value: unknown): string {
    const placeholder = `:v${this.counter++}`;
    this.values[placeholder] = value;
    return placeholder;
  }

  /** `attribute = value`. */
  eq(attribute: string, value: unknown): string {
    return `${this.name(attribute)} = ${this.value(value)}`;
  }

  /** SET / ADD / REMOVE clauses; undefined SET values and zero ADD values are skipped. */
  update(spec: UpdateSpec): string {
    const set = Object.entries(spec.set ?? {})
      .filter(([, value]) => value !== undefined)
      .map(([attribute, value]) => `${this.name(attribute)} = ${this.value(value)}`);
    const add = Object.entries(spec.add ?? {})
      .filter(([, value]) => value !== 0)
      .map(([attribute, value]) => `${this.name(attribute)} ${this.value(value)}`);
    const remove = (spec.remove ?? []).map((attribute) => this.name(attribute));
    return [
      set.length ? `SET ${set.join(", ")}` : "",
      add.length ? `ADD ${add.join(", ")}` : "",
      remove.length ? `REMOVE ${remove.join(", ")}` : "",
    ]
      .filter(Boolean)
      .join(" ");
  }

  /** Names/values for a command (DynamoDB rejects empty maps). */
  attributes() {
    return {
      ...(Object.keys(this.names).length ? { ExpressionAttributeNames: this.names } : {}),
      ...(Object.keys(this.values).length ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

export interface UpdateSpec {
  readonly set?: Record<string, unknown>;
  readonly add?: Record<string, number>;
  readonly remove?: readonly string[];
}

/**
 * An Update item of `key`: `build` gets a fresh Expr and returns the update expression (a raw string,
 * or a spec for Expr.update) and the condition, if any.
 */
export function updateItem(
  tableName: string,
  key: Record<string, string>,
  build: (expr: Expr) => { readonly update: string | UpdateSpec; readonly condition?: string },
): TransactItem {
  const expr = new Expr();
  const { update, condition } = build(expr);
  return {
    Update: {
      TableName: tableName,
      Key: key,
      UpdateExpression: typeof update === "string" ? update : expr.update(update),
      ...(condition ? { ConditionExpression: condition } : {}),
      ...expr.attributes(),
    },
  };
}

export type WriteResult = { readonly ok: true } | { readonly ok: false; readonly failed: readonly number[] };

export class ConditionalWriter {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    /** What the writes are about, for StateConflictError (e.g. "a full-resync job"). */
    private readonly scope: string,
    private readonly conflictRetry: ConflictRetryOptions,
  ) {}

  /**
   * Writes `items` all or none. One item needs no transaction: a conditional UpdateItem, PutItem or
   * DeleteItem is just as atomic and costs half the write units (a transaction writes each item twice).
   */
  async write(items: TransactItems): Promise<WriteResult> {
    const send = items.length === 1 && items[0] ? singleWrite(this.documents, items[0]) : undefined;
    try {
      await retryOnConflict<unknown>(
        send ?? (() => this.documents.send(new TransactWriteCommand({ TransactItems: items }))),
        this.conflictRetry,
      );
      return { ok: true };
    } catch (error) {
      if (isTransactionConflict(error)) {
        throw new StateConflictError(this.scope, this.conflictRetry.retries + 1, { cause: error });
      }
      if (error instanceof Error && error.name === "ConditionalCheckFailedException") {
        return { ok: false, failed: [0] };
      }
      if (error instanceof TransactionCanceledException) {
        const failed = cancellationCodes(error)
          .map((code, index) => (code === "ConditionalCheckFailed" ? index : -1))
          .filter((index) => index >= 0);
        if (failed.length > 0) return { ok: false, failed };
      }
      throw error;
    }
  }

  /** One conditional write: false when its condition failed. */
  async update(item: TransactItem): Promise<boolean> {
    return (await this.write([item])).ok;
  }
}

/** The single-item command of a transaction item, or undefined for a ConditionCheck (transactions only). */
function singleWrite(
  documents: DynamoDBDocumentClient,
  item: TransactItem,
): (() => Promise<unknown>) | undefined {
  if (item.Update) {
    const update = item.Update;
    return () => documents.send(new UpdateCommand(update));
  }
  if (item.Put) {
    const put = item.Put;
    return () => documents.send(new PutCommand(put));
  }
  if (item.Delete) {
    const remove = item.Delete;
    return () => documents.send(new DeleteCommand(remove));
  }
  return undefined;
}
