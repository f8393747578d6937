/**
 * Shapes of the TikTok Shop Open API (version 202309) that the product uses. See TIKTOK_API.md.
 * Shared by the client and the emulator.
 */

export const API_PATHS = {
  searchOrders: "/order/202309/orders/search",
  orderDetail: "/order/202309/orders",
  shops: "/authorization/202309/shops",
  tokenGet: "/api/v2/token/get",
  tokenRefresh: "/api/v2/token/refresh",
} as const;

/** Documented error codes (TIKTOK_API.md "Response envelope" and "Tokens"). */
export const API_CODES = {
  ok: 0,
  invalidSign: 106001,
  accessTokenExpired: 105002,
  /** Reused for many failures: parameter errors (400) and invalid access token header (401). */
  parameterOrAuthError: 36009004,
  accessTokenInvalid: 36009005,
  missingShopCipher: 106013,
  rateLimited: 36009002,
  internalError: 36009003,
  gatewayTimeout: 36009007,
  badPath: 36009009,
  sandboxHourlyCap: 36009037,
  refreshTokenExpired: 36004001,
  noAuthRecord: 36004005,
} as const;

export const ORDER_STATUSES = [
  "UNPAID",
  "ON_HOLD",
  "AWAITING_SHIPMENT",
  "PARTIALLY_SHIPPING",
  "AWAITING_COLLECTION",
  "IN_TRANSIT",
  "DELIVERED",
  "COMPLETED",
  "CANCELLED",
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface ApiEnvelope<T> {
  readonly code: number;
  readonly message: string;
  readonly request_id: string;
  readonly data: T | null;
}

/** An order as TikTok returns it: the product validates only id, status and the two times. */
export interface TikTokOrder {
  readonly id: string;
  readonly status: OrderStatus | string;
  readonly create_time: number;
  readonly update_time: number;
  readonly [field: string]: unknown;
}

export interface SearchOrdersQuery {
  readonly page_size: number;
  readonly page_token?: string;
  readonly sort_field?: "create_time" | "update_time";
  readonly sort_order?: "ASC" | "DESC";
}

export interface SearchOrdersBody {
  readonly order_status?: string;
  readonly create_time_ge?: number;
  readonly create_time_lt?: number;
  readonly update_time_ge?: number;
  readonly update_time_lt?: number;
}

export interface SearchOrdersData {
  readonly orders: unknown[];
  readonly next_page_token?: string;
  readonly total_count: number;
}

export interface ShopInfo {
  readonly id: string;
  readonly name: string;
  readonly region: string;
  readonly seller_type: string;
  readonly cipher: string;
}

export interface TokenData {
  readonly access_token: string;
  /** Absolute unix seconds. */
  readonly access_token_expire_in: number;
  readonly refresh_token: string;
  /** Absolute unix seconds. */
  readonly refresh_token_expire_in: number;
  readonly open_id: string;
  readonly seller_name: string;
  readonly seller_base_region: string;
  readonly user_type: number;
  readonly granted_scopes: string[];
}

/** `data` of `GET /order/202309/orders`. */
export interface GetOrdersData {
  readonly orders: unknown[];
}

/** `data` of `GET /authorization/202309/shops`. */
export interface AuthorizedShopsData {
  readonly shops: ShopInfo[];
}

/** Most ids one order-detail call takes (TIKTOK_API.md "Order detail"). */
export const MAX_ORDER_IDS_PER_DETAIL_CALL = 50;
