/**
 * The emulator's webhooks (TIKTOK_API.md "Webhooks"): every change the emulator makes to an order
 * (a mutation step, a new order, a flood) is announced to a configured URL as TikTok would announce it,
 * an order status change (type 1), signed with the app's secret (`Authorization` = hex HMAC-SHA256 of
 * app key + body). Real TikTok delivers late, twice, out of order or not at all; each is an option:
 * `delayMs` (+ a seeded `jitterMs`, which reorders events closer together than it), `duplicateRate`
 * (the same notification delivered again after its own delay), `dropRate` (never sent). A delivery
 * answered other than 200 is retried (TikTok retries for 72 hours; here `maxAttempts`, 1 s doubling).
 *
 * Deliveries are logged (body and signature included: tests replay them) and counted.
 */
import { signWebhook } from "../../../shared/tiktok/signing";
import { SeededRandom } from "./prng";

export interface WebhookOptions {
  /** Where events are POSTed (e.g. the local API's `/api/webhooks/tiktok`). */
  readonly url: string;
  /** Delay of every delivery (ms). */
  readonly delayMs?: number;
  /** Extra delay drawn uniformly in [0, jitterMs]: events closer together than this can swap order. */
  readonly jitterMs?: number;
  /** Probability that an event is delivered a second time (same notification id, its own delay). */
  readonly duplicateRate?: number;
  /** Probability that an event is never delivered. */
  readonly dropRate?: number;
  /** The app whose secret signs (default: the emulator's first app). */
  readonly appKey?: string;
  /** Attempts per delivery while the receiver answers other than 200 (default 3). */
  readonly maxAttempts?: number;
}

/** One event as TikTok sends it. */
export interface WebhookEnvelope {
  readonly type: number;
  readonly tts_notification_id: string;
  readonly shop_id: string;
  readonly timestamp: number;
  readonly data: Record<string, unknown>;
}

export interface WebhookDelivery {
  readonly seq: number;
  readonly notificationId: string;
  readonly type: number;
  readonly shopId: string;
  readonly orderId?: string;
  /** The exact body sent, and its signature (what a replay sends again). */
  readonly body: string;
  readonly signature: string;
  /** `dropped`, `pending`, or the last HTTP status (0: no answer). */
  status: "dropped" | "pending" | number;
  attempts: number;
  /** A second delivery of the same notification (the duplicate fault). */
  readonly duplicate: boolean;
  /** When the change happened and when the delivery was last attempted (epoch ms, wall clock). */
  readonly emittedAtMs: number;
  sentAtMs?: number;
}

export interface WebhookCounters {
  emitted: number;
  dropped: number;
  duplicated: number;
  delivered: number;
  failed: number;
  pending: number;
}

/**
 * An app whose secret signs deliveries. Declared here rather than taken from config.ts, which imports
 * this module for `WebhookOptions`: the emulator's `EmulatorApp` fits it as is.
 */
export interface SigningApp {
  readonly appKey: string;
  readonly appSecret: string;
}

/** Deliveries kept in the log. */
const LOG_SIZE = 5_000;

/** An event the emulator sends: its type, shop and data; id and time are drawn when absent. */
export interface EmulatedWebhookEvent {
  readonly type: number;
  readonly shopId: string;
  readonly data?: Record<string, unknown>;
  readonly notificationId?: string;
  readonly timestamp?: number;
}

export class WebhookSender {
  private options: WebhookOptions | null = null;
  private random: SeededRandom;
  private notificationSeq = 0;
  private deliverySeq = 0;
  private readonly log: WebhookDelivery[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly idleWaiters: (() => void)[] = [];
  readonly counters: WebhookCounters = {
    emitted: 0,
    dropped: 0,
    duplicated: 0,
    delivered: 0,
    failed: 0,
    pending: 0,
  };
  private stopped = false;

  constructor(
    private readonly deps: {
      readonly apps: readonly SigningApp[];
      readonly seed: number;
      /** The emulator's clock (unix seconds): the events' `timestamp`. */
      readonly now: () => number;
      readonly diagnostics: (line: string) => void;
    },
  ) {
    this.random = new SeededRandom(deps.seed);
  }

  configure(options: WebhookOptions | null): void {
    this.options = options;
  }

  get enabled(): boolean {
    return this.options !== null && !this.stopped;
  }

  /** Announces order changes (type 1 each) under the configured options. */
  ordersChanged(
    changes: readonly { shopId: string; orderId: string; status: string; updateTime: number }[],
  ): void {
    if (!this.enabled) return;
    for (const change of changes) {
      this.emit(
        {
          type: 1,
          shopId: change.shopId,
          data: {
            order_id: change.orderId,
            order_status: change.status,
            update_time: change.updateTime,
            is_on_hold_order: change.status === "ON_HOLD",
          },
        },
        { faults: true },
      );
    }
  }

  /**
   * Sends one event (any type) now, without the drop/duplicate faults: what tests use for types 3, 6,
   * 7, unknown shops and the like. Needs a URL (configured, or given here).
   */
  send(event: EmulatedWebhookEvent, url?: string): WebhookDelivery {
    const target = url ?? this.options?.url;
    if (!target) throw new Error("no webhook URL configured");
    return this.emit(event, { faults: false, url: target });
  }

  private emit(event: EmulatedWebhookEvent, how: { faults: boolean; url?: string }): WebhookDelivery {
    const options = this.options ?? { url: how.url ?? "" };
    const url = how.url ?? options.url;
    this.notificationSeq += 1;
    const envelope: WebhookEnvelope = {
      type: event.type,
      tts_notification_id:
        event.notificationId ??
        `7${String(Date.now()).slice(-9)}${String(this.notificationSeq).padStart(8, "0")}`,
      shop_id: event.shopId,
      timestamp: event.timestamp ?? this.deps.now(),
      data: event.data ?? {},
    };
    const app = this.deps.apps.find((candidate) => candidate.appKey === options.appKey) ?? this.deps.apps[0];
    if (!app) throw new Error("the emulator has no app to sign webhooks with");
    const body = JSON.stringify(envelope);
    const signature = signWebhook(app.appKey, app.appSecret, body);
    this.counters.emitted += 1;
    const orderId = typeof envelope.data.order_id === "string" ? envelope.data.order_id : undefined;
    const delivery = (duplicate: boolean): WebhookDelivery => ({
      seq: ++this.deliverySeq,
      notificationId: envelope.tts_notification_id,
      type: envelope.type,
      shopId: envelope.shop_id,
      ...(orderId ? { orderId } : {}),
      body,
      signature,
      status: "pending",
      attempts: 0,
      duplicate,
      emittedAtMs: Date.now(),
    });
    const first = delivery(false);
    this.remember(first);
    if (how.faults && this.random.next() < (options.dropRate ?? 0)) {
      first.status = "dropped";
      this.counters.dropped += 1;
      return first;
    }
    this.schedule(first, url, how.faults ? options : {});
    if (how.faults && this.random.next() < (options.duplicateRate ?? 0)) {
      const second = delivery(true);
      this.remember(second);
      this.counters.duplicated += 1;
      this.schedule(second, url, options);
    }
    return first;
  }

  private remember(delivery: WebhookDelivery): void {
    this.log.push(delivery);
    if (this.log.length > LOG_SIZE) this.log.splice(0, this.log.length - LOG_SIZE);
  }

  private schedule(delivery: WebhookDelivery, url: string, options: Partial<WebhookOptions>): void {
    const delay = (options.delayMs ?? 0) + this.random.next() * (options.jitterMs ?? 0);
    const attempts = Math.max(1, options.maxAttempts ?? 3);
    this.counters.pending += 1;
    this.later(delay, () => this.deliver(delivery, url, attempts));
  }

  private later(delayMs: number, run: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.stopped) return;
      const running = run().finally(() => {
        this.inFlight.delete(running);
        this.wakeIdle();
      });
      this.inFlight.add(running);
    }, delayMs);
    this.timers.add(timer);
  }

  private async deliver(delivery: WebhookDelivery, url: string, attemptsLeft: number): Promise<void> {
    delivery.attempts += 1;
    delivery.sentAtMs = Date.now();
    let status = 0;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: delivery.signature },
        body: delivery.body,
        signal: AbortSignal.timeout(10_000),
      });
      status = response.status;
      await response.arrayBuffer().catch(() => undefined);
    } catch (error) {
      if (!this.stopped) {
        this.deps.diagnostics(
          `webhook delivery to ${url} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    delivery.status = status;
    if (status === 200) {
      this.counters.delivered += 1;
      this.counters.pending -= 1;
      return;
    }
    if (attemptsLeft > 1 && !this.stopped) {
      const backoffMs = 1000 * 2 ** (delivery.attempts - 1);
      this.later(backoffMs, () => this.deliver(delivery, url, attemptsLeft - 1));
      return;
    }
    this.counters.failed += 1;
    this.counters.pending -= 1;
  }

  /** Deliveries after `afterSeq` (most recent LOG_SIZE kept). */
  deliveries(afterSeq = 0): WebhookDelivery[] {
    return this.log.filter((delivery) => delivery.seq > afterSeq).map((delivery) => ({ ...delivery }));
  }

  /** Resolves once no delivery is waiting or under way. */
  idle(): Promise<void> {
    if (this.counters.pending === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wakeIdle(): void {
    if (this.counters.pending !== 0 || this.inFlight.size !== 0) return;
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  reseed(seed: number): void {
    this.random = new SeededRandom(seed);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}
