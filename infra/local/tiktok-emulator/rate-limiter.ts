/** Token buckets per app+shop (per app for calls without a shop), refilled by real time. */
export type RateDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly nowMs: () => number = () => performance.now()) {}

  /** Takes one token from `key`'s bucket; unlimited when `qps` is 0 or null. */
  take(key: string, qps: number | null, burst: number | null): RateDecision {
    if (!qps) return { allowed: true };
    const capacity = burst || Math.max(1, qps);
    const now = this.nowMs();
    const bucket = this.buckets.get(key) ?? { tokens: capacity, updatedMs: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.updatedMs) / 1000) * qps);
    bucket.updatedMs = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    // Whole seconds, as the header carries; at least 1 so a client never retries in a tight loop.
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / qps)) };
  }

  reset(): void {
    this.buckets.clear();
  }
}
