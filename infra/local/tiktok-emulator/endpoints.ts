/** The endpoints the emulator serves, by name and by path. */
import { API_PATHS } from "../../../shared/tiktok/api-types";

export type EndpointName = "searchOrders" | "orderDetail" | "shops" | "tokenGet" | "tokenRefresh";

export interface EndpointSpec {
  readonly name: EndpointName;
  readonly method: "GET" | "POST";
  readonly path: string;
  /** Served under the auth base path, without signature or access token. */
  readonly authHost: boolean;
  /** Needs `shop_cipher`. */
  readonly shopScoped: boolean;
}

/** The auth host's routes live under this prefix of the same server (`authBaseUrl`). */
export const AUTH_BASE_PATH = "/auth";
export const ADMIN_BASE_PATH = "/__admin";

export const ENDPOINTS: readonly EndpointSpec[] = [
  { name: "searchOrders", method: "POST", path: API_PATHS.searchOrders, authHost: false, shopScoped: true },
  { name: "orderDetail", method: "GET", path: API_PATHS.orderDetail, authHost: false, shopScoped: true },
  { name: "shops", method: "GET", path: API_PATHS.shops, authHost: false, shopScoped: false },
  { name: "tokenGet", method: "GET", path: API_PATHS.tokenGet, authHost: true, shopScoped: false },
  { name: "tokenRefresh", method: "GET", path: API_PATHS.tokenRefresh, authHost: true, shopScoped: false },
];

/** The endpoint for a request, or undefined (answered 404 / 36009009). */
export function resolveEndpoint(method: string, path: string): EndpointSpec | undefined {
  return ENDPOINTS.find(
    (endpoint) =>
      endpoint.method === method &&
      (endpoint.authHost ? `${AUTH_BASE_PATH}${endpoint.path}` : endpoint.path) === path,
  );
}

/** Accepts an endpoint's name (`searchOrders`) or its path (`/order/202309/orders/search`). */
export function endpointByNameOrPath(nameOrPath: string): EndpointName | undefined {
  const endpoint = ENDPOINTS.find(
    (candidate) =>
      candidate.name === nameOrPath ||
      candidate.path === nameOrPath ||
      `${AUTH_BASE_PATH}${candidate.path}` === nameOrPath,
  );
  return endpoint?.name;
}
