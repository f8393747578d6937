/**
 * Turns what TikTok returned into what we store: validates the few fields the sync relies on
 * (id, status, create_time, update_time), computes the content hash over the stored object, and
 * sends anything invalid to quarantine instead of dropping it.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { TikTokOrder } from "../tiktok/api-types";

const unixSeconds = z.number().int().nonnegative();

/** Only what the sync depends on; every other field is stored as TikTok sent it. */
const syncFieldsSchema = z
  .object({
    id: z.string().trim().min(1).max(128),
    status: z.string().min(1).max(64),
    create_time: unixSeconds,
    update_time: unixSeconds,
  })
  .passthrough();

export interface NormalizedOrder {
  readonly orderId: string;
  readonly status: string;
  readonly createTime: number;
  readonly updateTime: number;
  readonly order: TikTokOrder;
  readonly contentHash: string;
}

export interface InvalidOrder {
  /** The id if one could be read, else a hash of the raw payload so it can still be keyed. */
  readonly quarantineId: string;
  readonly reason: string;
  readonly raw: unknown;
}

/** Recipient personal data removed when the shop opts out of storing it (hash taken after). */
const RECIPIENT_FIELDS = ["recipient_address", "buyer_email", "buyer_message"] as const;

export interface NormalizeOptions {
  readonly storeRecipientData: boolean;
}

/** JSON with object keys sorted at every depth, so equal content always hashes equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value as Record<string, unknown>)
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export function contentHashOf(order: unknown): string {
  return createHash("sha256").update(canonicalJson(order)).digest("hex");
}

function withoutRecipientData(order: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...order };
  for (const field of RECIPIENT_FIELDS) delete copy[field];
  return copy;
}

export function normalizeOrder(raw: unknown, options: NormalizeOptions): NormalizedOrder | InvalidOrder {
  const parsed = syncFieldsSchema.safeParse(raw);
  if (!parsed.success) {
    const id = (raw as { id?: unknown } | null)?.id;
    return {
      quarantineId: typeof id === "string" && id.length > 0 ? id : `raw-${contentHashOf(raw).slice(0, 24)}`,
      reason: parsed.error.issues
        .map((issue) => `${issue.path.join(".") || "order"}: ${issue.message}`)
        .join("; "),
      raw,
    };
  }
  const stored = (options.storeRecipientData
    ? parsed.data
    : withoutRecipientData(parsed.data)) as unknown as TikTokOrder;
  return {
    orderId: parsed.data.id,
    status: parsed.data.status,
    createTime: parsed.data.create_time,
    updateTime: parsed.data.update_time,
    order: stored,
    contentHash: contentHashOf(stored),
  };
}

export function isInvalidOrder(value: NormalizedOrder | InvalidOrder): value is InvalidOrder {
  return "quarantineId" in value;
}

/**
 * Keeps one entry per order id, the one with the highest update_time (a later entry wins a tie, as it
 * was fetched later). DynamoDB batches fail whole on duplicate keys, and the newest is what we keep.
 */
export function dedupeByOrderId(orders: readonly NormalizedOrder[]): NormalizedOrder[] {
  const newest = new Map<string, NormalizedOrder>();
  for (const order of orders) {
    const current = newest.get(order.orderId);
    if (!current || order.updateTime >= current.updateTime) newest.set(order.orderId, order);
  }
  return [...newest.values()];
}
