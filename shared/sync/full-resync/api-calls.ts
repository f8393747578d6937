/**
 * Per-message attribution of TikTok API calls. The client reports every HTTP request through one
 * `onApiCall` callback; when several messages are processed concurrently in one process (the local
 * poller's lanes share their dependencies), an AsyncLocalStorage scope tells which message made it.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ApiCallEvent } from "../../tiktok/client";
import { ApiCallMeter } from "../ports";

export class ScopedApiCallMeter extends ApiCallMeter {
  private readonly scopes = new AsyncLocalStorage<ApiCallMeter>();

  /** Wire this as the TikTok client's `onApiCall`: counts globally and in the current scope. */
  override readonly record = (event: ApiCallEvent): void => {
    this.calls += 1;
    if (event.ok) this.successful += 1;
    if (event.throttled) this.throttled += 1;
    if (event.ok && event.endpoint.endsWith("/orders/search")) this.successfulSearches += 1;
    this.scopes.getStore()?.record(event);
  };

  /** Runs `work` with its own meter; read `meter` afterwards even if `work` threw. */
  async measure<T>(meter: ApiCallMeter, work: () => Promise<T>): Promise<T> {
    return this.scopes.run(meter, work);
  }
}
