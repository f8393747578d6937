/**
 * TikTok Shop webhook events (TIKTOK_API.md "Webhooks") and the message the receiver hands to the
 * consumer through the webhook queue. The receiver validates the envelope only after the signature
 * checked out; the consumer parses the queued message again (it may come from a redrive or a replay).
 *
 * Every event is a hint, never data to store: order events name an order to re-read through Get Order
 * Detail, so a late, duplicated or replayed event can cost a request but never regress an order.
 */
import { z } from "zod";

/** Event types the product acts on (others carrying an order id are treated as order events). */
export const WebhookType = {
  orderStatusChange: 1,
  recipientAddressUpdate: 3,
  packageUpdate: 4,
  sellerDeauthorization: 6,
  authorizationExpiring: 7,
} as const;

const idText = z.union([z.string().trim().min(1).max(128), z.number().int().nonnegative()]).transform(String);
const unixSeconds = z.number().int().nonnegative().max(100_000_000_000);

/** The envelope every TikTok webhook has; unknown fields are kept (TikTok adds fields over time). */
export const webhookEventSchema = z.looseObject({
  type: z.number().int().min(0).max(1_000_000),
  shop_id: idText,
  /** TikTok's id of this notification: the same on every retry of one event. */
  tts_notification_id: idText.optional(),
  /** When TikTok sent it (unix seconds). */
  timestamp: unixSeconds,
  data: z.looseObject({}).optional(),
});

export type WebhookEvent = z.output<typeof webhookEventSchema>;

/** What the consumer reads from an event: the order it names, and the change time if it says one. */
export interface OrderHint {
  readonly orderId: string;
  /** `data.update_time` (unix s), when the event carries it. */
  readonly updateTime?: number;
  readonly status?: string;
}

export function orderHint(event: WebhookEvent): OrderHint | undefined {
  const data = event.data ?? {};
  const id = idText.safeParse(data.order_id);
  if (!id.success) return undefined;
  const updateTime = unixSeconds.safeParse(data.update_time);
  const status = typeof data.order_status === "string" ? data.order_status : undefined;
  return {
    orderId: id.data,
    ...(updateTime.success ? { updateTime: updateTime.data } : {}),
    ...(status ? { status } : {}),
  };
}

/**
 * The expiry an "authorization expiring" event announces (unix s), under whichever name it comes:
 * TikTok's sample payloads name it `expiration_time`; `expire_time` and `expires_at` are accepted too.
 */
export function announcedExpiry(event: WebhookEvent): number | undefined {
  const data = event.data ?? {};
  for (const name of ["expiration_time", "expire_time", "expires_at"]) {
    const parsed = unixSeconds.safeParse(data[name]);
    if (parsed.success) return parsed.data;
  }
  return undefined;
}

/** The webhook queue's message: one verified event, as received (schema version 1). */
export const webhookMessageSchema = z.strictObject({
  v: z.literal(1),
  /** When the receiver accepted it (epoch ms, the receiver's clock). */
  received_at_ms: z.number().int().nonnegative(),
  /** The app whose secret signed it. */
  app_key: z.string().min(1),
  event: webhookEventSchema,
  /** Re-reads already made because TikTok's order detail was behind the event (see the consumer). */
  attempt: z.number().int().nonnegative().optional(),
});

export type WebhookMessage = z.output<typeof webhookMessageSchema>;

export class InvalidWebhookMessageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InvalidWebhookMessageError";
  }
}

export function encodeWebhookMessage(message: WebhookMessage): string {
  return JSON.stringify(message);
}

export function parseWebhookMessage(body: string): WebhookMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new InvalidWebhookMessageError("webhook message is not JSON", { cause: error });
  }
  const parsed = webhookMessageSchema.safeParse(json);
  if (!parsed.success) {
    throw new InvalidWebhookMessageError(
      `webhook message is malformed: ${parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}
