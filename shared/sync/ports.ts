/** What the sync core needs from the outside world; adapters live in shared/tiktok and shared/store. */

import type { SearchOrdersBody, SearchOrdersQuery } from "../tiktok/api-types";
import type { ApiCallEvent } from "../tiktok/client";
import type { Deadline } from "../time-budget";

/** One page of an order search: its orders (raw), the next page's token, and the query's total. */
export interface SearchPage {
  orders: unknown[];
  nextPageToken?: string | undefined;
  totalCount: number;
}

export interface OrderSearchPort {
  searchOrders(request: {
    shopCipher: string;
    query: SearchOrdersQuery;
    body: SearchOrdersBody;
    signal?: AbortSignal;
    /** The call (retries and waits included) ends by then, or throws DeadlineExceededError. */
    deadline?: Deadline;
  }): Promise<SearchPage>;
}

export interface ShopRef {
  readonly shopId: string;
  readonly shopCipher: string;
}

/** Counts the HTTP requests sent to TikTok (retries included), fed by the client's onApiCall. */
export class ApiCallMeter {
  calls = 0;
  successful = 0;
  throttled = 0;
  successfulSearches = 0;

  readonly record = (event: ApiCallEvent): void => {
    this.calls += 1;
    if (event.ok) this.successful += 1;
    if (event.throttled) this.throttled += 1;
    if (event.ok && event.endpoint.endsWith("/orders/search")) this.successfulSearches += 1;
  };

  snapshot(): ApiCallSnapshot {
    return {
      calls: this.calls,
      successful: this.successful,
      throttled: this.throttled,
      successfulSearches: this.successfulSearches,
    };
  }

  since(before: ApiCallSnapshot): ApiCallSnapshot {
    return {
      calls: this.calls - before.calls,
      successful: this.successful - before.successful,
      throttled: this.throttled - before.throttled,
      successfulSearches: this.successfulSearches - before.successfulSearches,
    };
  }
}

export interface ApiCallSnapshot {
  readonly calls: number;
  readonly successful: number;
  readonly throttled: number;
  readonly successfulSearches: number;
}
