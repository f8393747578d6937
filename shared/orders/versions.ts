/**
 * Which copy of an order wins (DESIGN rule 5): an order is written iff it is new, or its update_time is
 * newer, or equal with other content fetched later. The order repository (a port, ../sync/ports.ts)
 * applies it with a conditional write; the webhook consumer and the pre-read decide with it first.
 */
import type { NormalizedOrder } from "./normalize";

export interface UpsertCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  stale: number;
}

export interface UpsertResult extends UpsertCounts {
  /** PutItem requests sent (each costs write units on AWS, even when its condition fails). */
  readonly writeRequests: number;
  /** Items read by BatchGetItem before writing. */
  readonly itemsRead: number;
  /** Orders DynamoDB refused as larger than an item (not written, not counted above). */
  readonly tooLarge: readonly NormalizedOrder[];
}

export interface StoredVersion {
  readonly updateTime: number;
  readonly contentHash: string;
  readonly fetchedAt: number;
}

export type Decision = "insert" | "update" | "unchanged" | "stale";

/** Rule 5 in code, shared by the pre-read decision and the post-failure classification. */
export function decideWrite(incoming: StoredVersion, stored: StoredVersion | undefined): Decision {
  if (!stored) return "insert";
  if (incoming.updateTime > stored.updateTime) return "update";
  if (incoming.updateTime < stored.updateTime) return "stale";
  if (incoming.contentHash === stored.contentHash) return "unchanged";
  return incoming.fetchedAt > stored.fetchedAt ? "update" : "stale";
}

/** Stored versions a caller already read: of `ids`, those stored then (an id absent from `versions`: none). */
export interface VersionsRead {
  readonly ids: ReadonlySet<string>;
  readonly versions: ReadonlyMap<string, StoredVersion>;
}
