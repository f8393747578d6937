/**
 * The TikTok Shop API emulator over real HTTP, with a small signing client written here (node fetch).
 * Each block starts its own emulator, so clock moves and runtime configuration never leak between blocks.
 */

import {
  DEFAULT_RUNTIME_OPTIONS,
  MAX_LINE_ITEMS,
  type OrderSummary,
  PAGE_TOKEN_REFUSAL_OTHER_CODE,
  PAGE_TOKEN_REFUSED,
  PAGE_TOKEN_REFUSED_GENERIC,
  PAGE_TOKEN_REFUSED_OTHER_CODE,
  startTikTokEmulator,
  type TikTokEmulator,
  type TikTokEmulatorOptions,
} from "../../infra/local/tiktok-emulator";
import type { ApiEnvelope, SearchOrdersData, ShopInfo, TokenData } from "../../shared/tiktok/api-types";
import { API_CODES, API_PATHS } from "../../shared/tiktok/api-types";
import { sign } from "../../shared/tiktok/signing";

jest.setTimeout(120_000);

/** A fixed emulator time, so datasets are reproducible (the gateway checks `timestamp` on the wall clock). */
const T0 = 1_750_000_000;
const SHOP_A = {
  id: "7494000000000000101",
  cipher: "ROW_shop_a",
  orders: 1200,
  seed: 11,
  burstFraction: 0.3,
};
const SHOP_B = { id: "7494000000000000102", cipher: "ROW_shop_b", orders: 100, seed: 12 };
const BASE_OPTIONS: TikTokEmulatorOptions = {
  seed: 7,
  shops: [SHOP_A, SHOP_B],
  bursts: { minSize: 150, maxSize: 200 },
  clock: { start: T0, frozen: true },
};

interface WireOrder {
  readonly id: string;
  readonly status: string;
  readonly create_time: number;
  readonly update_time: number;
  readonly [field: string]: unknown;
}
type SearchData = Omit<SearchOrdersData, "orders"> & { orders: WireOrder[] };

interface RequestOptions {
  readonly method?: "GET" | "POST";
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number>>;
  /** Sent as is when a string, else JSON-encoded. */
  readonly body?: unknown;
  readonly shopCipher?: string;
  /** null sends no token header. */
  readonly accessToken?: string | null;
  readonly timestamp?: number;
  readonly appKey?: string;
  readonly appSecret?: string;
  /** Body text to sign when it should differ from the one sent. */
  readonly signedBody?: string;
  readonly signOverride?: string;
  readonly signal?: AbortSignal;
}

interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

interface ApiResponse<T> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: ApiEnvelope<T>;
}

const wallNow = () => Math.floor(Date.now() / 1000);

/** A minimal TikTok client: signs decoded query values plus the exact body, as TIKTOK_API.md says. */
class SigningClient {
  constructor(
    private readonly emulator: TikTokEmulator,
    public accessToken: string,
  ) {}

  async raw(options: RequestOptions): Promise<RawResponse> {
    const appKey = options.appKey ?? this.emulator.appKey;
    const appSecret = options.appSecret ?? this.emulator.appSecret;
    const query: Record<string, string> = {
      app_key: appKey,
      timestamp: String(options.timestamp ?? wallNow()),
    };
    if (options.shopCipher !== undefined) query.shop_cipher = options.shopCipher;
    for (const [key, value] of Object.entries(options.query ?? {})) query[key] = String(value);
    const method = options.method ?? (options.body === undefined ? "GET" : "POST");
    const bodyText =
      options.body === undefined
        ? ""
        : typeof options.body === "string"
          ? options.body
          : JSON.stringify(options.body);
    query.sign =
      options.signOverride ??
      sign({ appSecret, path: options.path, query, body: options.signedBody ?? bodyText });
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    const token = options.accessToken === undefined ? this.accessToken : options.accessToken;
    if (token !== null) headers["x-tts-access-token"] = token;
    const response = await fetch(`${this.emulator.baseUrl}${options.path}?${new URLSearchParams(query)}`, {
      method,
      headers,
      ...(method === "POST" ? { body: bodyText } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  async api<T>(options: RequestOptions): Promise<ApiResponse<T>> {
    const response = await this.raw(options);
    return {
      status: response.status,
      headers: response.headers,
      body: JSON.parse(response.text) as ApiEnvelope<T>,
    };
  }

  search(
    shopCipher: string,
    query: Readonly<Record<string, string | number>>,
    body: unknown = {},
  ): Promise<ApiResponse<SearchData>> {
    return this.api<SearchData>({ path: API_PATHS.searchOrders, shopCipher, query, body });
  }

  /** Follows next_page_token to the end; `between(page)` runs after each page (to mutate mid-paging). */
  async pageAll(
    shopCipher: string,
    query: Readonly<Record<string, string | number>>,
    body: unknown,
    between?: (pageIndex: number, orders: WireOrder[]) => void,
  ): Promise<{ pages: WireOrder[][]; totalCounts: number[] }> {
    const pages: WireOrder[][] = [];
    const totalCounts: number[] = [];
    let pageToken = "";
    do {
      const response = await this.search(
        shopCipher,
        { page_size: 100, ...query, ...(pageToken ? { page_token: pageToken } : {}) },
        body,
      );
      expect(response.body.code).toBe(0);
      const data = response.body.data as SearchData;
      pages.push(data.orders);
      totalCounts.push(data.total_count);
      between?.(pages.length - 1, data.orders);
      pageToken = data.next_page_token ?? "";
      if (pages.length > 1000) throw new Error("paging does not end");
    } while (pageToken !== "");
    return { pages, totalCounts };
  }
}

async function adminCall<T>(emulator: TikTokEmulator, method: "GET" | "POST", route: string, body?: unknown) {
  const response = await fetch(`${emulator.adminBaseUrl}/${route}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

async function authCall(emulator: TikTokEmulator, path: string, query: Record<string, string>) {
  const response = await fetch(`${emulator.authBaseUrl}${path}?${new URLSearchParams(query)}`);
  return { status: response.status, body: (await response.json()) as ApiEnvelope<TokenData> };
}

function byKey(field: "create_time" | "update_time", ascending: boolean) {
  return (left: WireOrder | OrderSummary, right: WireOrder | OrderSummary) => {
    const order = left[field] - right[field] || (left.id < right.id ? -1 : left.id > right.id ? 1 : 0);
    return ascending ? order : -order;
  };
}

function expectSorted(orders: WireOrder[], field: "create_time" | "update_time", ascending: boolean) {
  const compare = byKey(field, ascending);
  for (let index = 1; index < orders.length; index++) {
    expect(compare(orders[index - 1] as WireOrder, orders[index] as WireOrder)).toBeLessThan(0);
  }
}

/** Seconds shared by at least `size` orders on `field`. */
function crowdedSeconds(orders: readonly OrderSummary[], field: "create_time" | "update_time", size: number) {
  const counts = new Map<number, number>();
  for (const order of orders) counts.set(order[field], (counts.get(order[field]) ?? 0) + 1);
  return [...counts].filter(([, count]) => count >= size).map(([second]) => second);
}

describe("gateway checks", () => {
  let emulator: TikTokEmulator;
  let client: SigningClient;

  beforeAll(async () => {
    emulator = await startTikTokEmulator(BASE_OPTIONS);
    client = new SigningClient(emulator, emulator.issueTokens().access_token);
  });
  afterAll(() => emulator.stop());

  it("lists the shops the token is authorized for", async () => {
    const response = await client.api<{ shops: ShopInfo[] }>({ path: API_PATHS.shops });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ code: 0, message: "Success" });
    expect(typeof response.body.request_id).toBe("string");
    expect(response.body.data?.shops.map((shop) => shop.cipher)).toEqual([SHOP_A.cipher, SHOP_B.cipher]);
    expect(response.body.data?.shops[0]).toMatchObject({ id: SHOP_A.id, region: "US", seller_type: "LOCAL" });

    const onlyB = new SigningClient(emulator, emulator.issueTokens({ shopIds: [SHOP_B.id] }).access_token);
    const limited = await onlyB.api<{ shops: ShopInfo[] }>({ path: API_PATHS.shops });
    expect(limited.body.data?.shops.map((shop) => shop.id)).toEqual([SHOP_B.id]);
    const refused = await onlyB.search(SHOP_A.cipher, { page_size: 10 });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toContain("shop_cipher");
  });

  it("refuses a bad or missing sign with 401 / 106001 and data null", async () => {
    const wrong = await client.api({ path: API_PATHS.shops, signOverride: "0".repeat(64) });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ code: API_CODES.invalidSign, data: null });
    const otherSecret = await client.api({ path: API_PATHS.shops, appSecret: "not-the-secret" });
    expect(otherSecret.body.code).toBe(API_CODES.invalidSign);
    const tamperedBody = await client.search(SHOP_A.cipher, { page_size: 5 }, { create_time_ge: 1 });
    expect(tamperedBody.body.code).toBe(0);
    const bodyMismatch = await client.api({
      path: API_PATHS.searchOrders,
      shopCipher: SHOP_A.cipher,
      query: { page_size: 5 },
      body: '{"create_time_ge":1}',
      signedBody: '{"create_time_ge":2}',
    });
    expect(bodyMismatch.body.code).toBe(API_CODES.invalidSign);
  });

  it("accepts a literal {} body signed with or without it", async () => {
    const request = {
      path: API_PATHS.searchOrders,
      shopCipher: SHOP_A.cipher,
      query: { page_size: 1 },
      body: "{}",
    };
    expect((await client.api(request)).body.code).toBe(0);
    expect((await client.api({ ...request, signedBody: "" })).body.code).toBe(0);
  });

  it("checks the timestamp window [now - 300 s, now + 30 s] on both sides", async () => {
    const attempt = (offset: number) => client.api({ path: API_PATHS.shops, timestamp: wallNow() + offset });
    for (const offset of [-310, -400, 40, 3600]) {
      const refused = await attempt(offset);
      expect(refused.status).toBe(400);
      expect(refused.body.code).toBe(API_CODES.parameterOrAuthError);
      expect(refused.body.message).toContain("timestamp");
    }
    for (const offset of [-290, 0, 25]) expect((await attempt(offset)).body.code).toBe(0);
  });

  it("requires shop_cipher where it is taken and refuses it where it is not", async () => {
    const missing = await client.api({ path: API_PATHS.searchOrders, query: { page_size: 10 }, body: {} });
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe(API_CODES.missingShopCipher);
    const unexpected = await client.api({ path: API_PATHS.shops, shopCipher: SHOP_A.cipher });
    expect(unexpected.status).toBe(400);
    expect(unexpected.body.code).toBe(API_CODES.parameterOrAuthError);
    expect(unexpected.body.message).toContain("Unexpected identifier");
    const unknown = await client.search("ROW_unknown", { page_size: 10 });
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe(API_CODES.parameterOrAuthError);
    expect(unknown.body.message).toContain("shop_cipher");
  });

  it("refuses an unknown app_key, an unknown or missing token, and an unknown path", async () => {
    const app = await client.api({ path: API_PATHS.shops, appKey: "someone_else" });
    expect(app.status).toBe(400);
    expect(app.body.message).toContain("app_key");
    for (const accessToken of ["ROW_not_a_token", null]) {
      const token = await client.api({ path: API_PATHS.shops, accessToken });
      expect(token.status).toBe(401);
      expect(token.body.code).toBe(API_CODES.parameterOrAuthError);
      expect(token.body.message).toContain("access_token header is invalid");
    }
    const path = await client.api({ path: "/order/202309/nothing" });
    expect(path.status).toBe(404);
    expect(path.body).toMatchObject({ code: API_CODES.badPath, data: null });
    const method = await client.api({
      path: API_PATHS.searchOrders,
      method: "GET",
      shopCipher: SHOP_A.cipher,
    });
    expect(method.body.code).toBe(API_CODES.badPath);
  });

  it("returns order details for up to 50 ids", async () => {
    const ids = emulator.truthSummary(SHOP_A.id).map((order) => order.id);
    const detail = await client.api<{ orders: WireOrder[] }>({
      path: API_PATHS.orderDetail,
      shopCipher: SHOP_A.cipher,
      query: { ids: ids.slice(0, 3).join(",") },
    });
    expect(detail.body.data?.orders.map((order) => order.id)).toEqual(ids.slice(0, 3));
    expect(detail.body.data?.orders[0]).toEqual(emulator.truth(SHOP_A.id, { limit: 1 })[0]);
    const tooMany = await client.api({
      path: API_PATHS.orderDetail,
      shopCipher: SHOP_A.cipher,
      query: { ids: ids.slice(0, 51).join(",") },
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.code).toBe(API_CODES.parameterOrAuthError);
  });
});

describe("tokens", () => {
  let emulator: TikTokEmulator;

  beforeEach(async () => {
    emulator = await startTikTokEmulator({ ...BASE_OPTIONS, shops: [SHOP_B] });
  });
  afterEach(() => emulator.stop());

  const credentials = (emulatorUnderTest: TikTokEmulator) => ({
    app_key: emulatorUnderTest.appKey,
    app_secret: emulatorUnderTest.appSecret,
  });

  it("exchanges an auth code once for a pair with absolute expiry", async () => {
    const code = emulator.createAuthCode();
    const query = { ...credentials(emulator), auth_code: code, grant_type: "authorized_code" };
    const first = await authCall(emulator, API_PATHS.tokenGet, query);
    expect(first.body.code).toBe(0);
    const tokens = first.body.data as TokenData;
    expect(tokens.access_token_expire_in).toBe(T0 + 7 * 86_400);
    expect(tokens.refresh_token_expire_in).toBeGreaterThan(tokens.access_token_expire_in);
    expect(tokens).toMatchObject({ seller_base_region: "US", user_type: 0 });
    expect(tokens.granted_scopes.length).toBeGreaterThan(0);
    const client = new SigningClient(emulator, tokens.access_token);
    expect((await client.api({ path: API_PATHS.shops })).body.code).toBe(0);

    const reused = await authCall(emulator, API_PATHS.tokenGet, query);
    expect(reused.body).toMatchObject({ code: API_CODES.noAuthRecord, data: null });
    const wrongSecret = await authCall(emulator, API_PATHS.tokenGet, { ...query, app_secret: "nope" });
    expect(wrongSecret.body.code).toBe(API_CODES.parameterOrAuthError);
    expect(wrongSecret.body.message).toContain("app_secret");
    // The auth host lives under authBaseUrl only.
    const wrongHost = await fetch(`${emulator.baseUrl}${API_PATHS.tokenGet}?${new URLSearchParams(query)}`);
    expect(wrongHost.status).toBe(404);
  });

  it("expires access tokens by the emulator clock (401 / 105002)", async () => {
    const tokens = emulator.issueTokens();
    const client = new SigningClient(emulator, tokens.access_token);
    emulator.advance(7 * 86_400 - 1);
    expect((await client.api({ path: API_PATHS.shops })).body.code).toBe(0);
    emulator.advance(1);
    const expired = await client.api({ path: API_PATHS.shops });
    expect(expired.status).toBe(401);
    expect(expired.body.code).toBe(API_CODES.accessTokenExpired);

    const fresh = new SigningClient(emulator, emulator.issueTokens().access_token);
    expect((await fresh.api({ path: API_PATHS.shops })).body.code).toBe(0);
    expect(emulator.expireAccessTokens()).toBeGreaterThan(0);
    expect((await fresh.api({ path: API_PATHS.shops })).body.code).toBe(API_CODES.accessTokenExpired);
  });

  it("refresh rotates both tokens; the old ones are refused", async () => {
    const original = emulator.issueTokens();
    emulator.advance(3_600);
    const refreshed = await authCall(emulator, API_PATHS.tokenRefresh, {
      ...credentials(emulator),
      refresh_token: original.refresh_token,
      grant_type: "refresh_token",
    });
    expect(refreshed.body.code).toBe(0);
    const next = refreshed.body.data as TokenData;
    expect(next.access_token).not.toBe(original.access_token);
    expect(next.refresh_token).not.toBe(original.refresh_token);
    expect(next.access_token_expire_in).toBe(T0 + 3_600 + 7 * 86_400);

    const oldClient = new SigningClient(emulator, original.access_token);
    const oldAccess = await oldClient.api({ path: API_PATHS.shops });
    expect(oldAccess.status).toBe(401);
    expect(oldAccess.body.message).toContain("access_token header is invalid");
    expect(
      (await new SigningClient(emulator, next.access_token).api({ path: API_PATHS.shops })).body.code,
    ).toBe(0);

    const oldRefresh = await authCall(emulator, API_PATHS.tokenRefresh, {
      ...credentials(emulator),
      refresh_token: original.refresh_token,
      grant_type: "refresh_token",
    });
    expect(oldRefresh.body).toMatchObject({ code: API_CODES.noAuthRecord, data: null });
    // TikTok's Node SDK sends grant_type=authorized_code on refresh; accepted too.
    const sdkStyle = await authCall(emulator, API_PATHS.tokenRefresh, {
      ...credentials(emulator),
      refresh_token: next.refresh_token,
      grant_type: "authorized_code",
    });
    expect(sdkStyle.body.code).toBe(0);
  });

  it("can keep the old access token alive on refresh when configured", async () => {
    emulator.configure({ revokeAccessTokenOnRefresh: false, rotateRefreshToken: false });
    const original = emulator.issueTokens();
    const refreshed = await authCall(emulator, API_PATHS.tokenRefresh, {
      ...credentials(emulator),
      refresh_token: original.refresh_token,
      grant_type: "refresh_token",
    });
    expect(refreshed.body.data?.refresh_token).toBe(original.refresh_token);
    expect(
      (await new SigningClient(emulator, original.access_token).api({ path: API_PATHS.shops })).body.code,
    ).toBe(0);
  });

  it("answers 36004001 for an expired refresh token and 36004005 for a revoked one", async () => {
    const shortLived = emulator.issueTokens({ refreshTokenTtlSeconds: 60 });
    emulator.advance(61);
    const expired = await authCall(emulator, API_PATHS.tokenRefresh, {
      ...credentials(emulator),
      refresh_token: shortLived.refresh_token,
      grant_type: "refresh_token",
    });
    expect(expired.status).toBe(200);
    expect(expired.body).toMatchObject({ code: API_CODES.refreshTokenExpired, data: null });

    const revoked = emulator.issueTokens();
    expect(emulator.revokeRefreshToken(revoked.refresh_token)).toBe(true);
    const refused = await authCall(emulator, API_PATHS.tokenRefresh, {
      ...credentials(emulator),
      refresh_token: revoked.refresh_token,
      grant_type: "refresh_token",
    });
    expect(refused.body.code).toBe(API_CODES.noAuthRecord);
    emulator.configure({ authErrorHttpStatus: 400 });
    const asHttpError = await authCall(emulator, API_PATHS.tokenRefresh, {
      ...credentials(emulator),
      refresh_token: "unknown",
      grant_type: "refresh_token",
    });
    expect(asHttpError.status).toBe(400);
  });

  it("can check the timestamp against the emulator clock instead of the wall clock", async () => {
    const client = new SigningClient(
      emulator,
      emulator.issueTokens({ accessTokenTtlSeconds: 10 ** 9 }).access_token,
    );
    emulator.configure({ timestampReference: "emulator" });
    const wall = await client.api({ path: API_PATHS.shops });
    expect(wall.body.message).toContain("timestamp");
    expect((await client.api({ path: API_PATHS.shops, timestamp: emulator.now() })).body.code).toBe(0);
  });
});

describe("search semantics", () => {
  let emulator: TikTokEmulator;
  let client: SigningClient;
  let truth: OrderSummary[];

  beforeAll(async () => {
    emulator = await startTikTokEmulator(BASE_OPTIONS);
    client = new SigningClient(emulator, emulator.issueTokens().access_token);
    truth = emulator.truthSummary(SHOP_A.id);
  });
  afterAll(() => emulator.stop());

  it("generates a realistic dataset with same-second bursts", () => {
    const full = emulator.truth(SHOP_A.id);
    expect(full).toHaveLength(SHOP_A.orders);
    const statuses = new Set(full.map((order) => order.status));
    // UNPAID and ON_HOLD last minutes to hours, so a year of history rarely holds one at `now`.
    for (const status of ["AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED", "COMPLETED", "CANCELLED"]) {
      expect(statuses).toContain(status);
    }
    for (const order of full) {
      expect(order.update_time).toBeGreaterThanOrEqual(order.create_time);
      expect(order.update_time).toBeLessThanOrEqual(T0);
      expect(order.create_time).toBeGreaterThanOrEqual(T0 - 365 * 86_400);
      if (order.status !== "UNPAID" && order.status !== "CANCELLED") expect(order.paid_time).toBeDefined();
    }
    const sample = full.find((order) => order.status === "IN_TRANSIT") as Record<string, unknown>;
    expect(sample).toMatchObject({
      user_id: expect.stringMatching(/^\d{19}$/),
      buyer_email: expect.stringContaining("@"),
      payment: { currency: "USD", total_amount: expect.stringMatching(/^\d+\.\d{2}$/) },
      recipient_address: { name: expect.any(String), phone_number: expect.any(String) },
      tracking_number: expect.stringMatching(/\d{10,}/),
    });
    expect((sample.line_items as unknown[]).length).toBeGreaterThan(0);
    expect((sample.packages as unknown[]).length).toBe(1);
    expect(crowdedSeconds(truth, "create_time", 150).length).toBeGreaterThanOrEqual(1);
    expect(crowdedSeconds(truth, "update_time", 150).length).toBeGreaterThanOrEqual(1);
  });

  it("validates page_size (required, 1..100)", async () => {
    for (const pageSize of [undefined, 0, 101, "abc", -1]) {
      const response = await client.search(
        SHOP_A.cipher,
        pageSize === undefined ? {} : { page_size: pageSize },
      );
      expect(response.status).toBe(400);
      expect(response.body.code).toBe(API_CODES.parameterOrAuthError);
      expect(response.body.message).toContain("page_size");
    }
    const max = await client.search(SHOP_A.cipher, { page_size: 100 });
    expect(max.body.data?.orders).toHaveLength(100);
    const badSort = await client.search(SHOP_A.cipher, { page_size: 10, sort_field: "id" });
    expect(badSort.status).toBe(400);
    const badBody = await client.search(SHOP_A.cipher, { page_size: 10 }, { update_time_ge: "yesterday" });
    expect(badBody.status).toBe(400);
  });

  it("sorts by create_time DESC by default and honours explicit sorting, ties by id", async () => {
    const defaults = await client.search(SHOP_A.cipher, { page_size: 100 });
    const orders = defaults.body.data?.orders ?? [];
    expectSorted(orders, "create_time", false);
    expect(orders.map((order) => order.id)).toEqual(
      [...truth]
        .sort(byKey("create_time", false))
        .slice(0, 100)
        .map((order) => order.id),
    );
    expect(defaults.body.data?.total_count).toBe(SHOP_A.orders);

    const explicit = await client.pageAll(
      SHOP_A.cipher,
      { sort_field: "update_time", sort_order: "ASC" },
      {},
    );
    const all = explicit.pages.flat();
    expectSorted(all, "update_time", true);
    expect(all.map((order) => order.id)).toEqual(
      [...truth].sort(byKey("update_time", true)).map((order) => order.id),
    );
  });

  it.each(["create_time", "update_time"] as const)(
    "treats %s _ge as inclusive and _lt as exclusive",
    async (field) => {
      const sorted = [...truth].sort(byKey(field, true));
      const lower = (sorted[200] as OrderSummary)[field];
      const upper = (sorted[420] as OrderSummary)[field];
      const expected = truth.filter((order) => order[field] >= lower && order[field] < upper);
      const result = await client.pageAll(
        SHOP_A.cipher,
        { sort_field: field, sort_order: "ASC" },
        { [`${field}_ge`]: lower, [`${field}_lt`]: upper },
      );
      const ids = result.pages.flat().map((order) => order.id);
      expect(new Set(ids)).toEqual(new Set(expected.map((order) => order.id)));
      expect(ids).toHaveLength(expected.length);
      expect(result.totalCounts[0]).toBe(expected.length);
      expect(ids).toEqual(expect.arrayContaining(truth.filter((o) => o[field] === lower).map((o) => o.id)));
      expect(ids).not.toEqual(expect.arrayContaining([truth.find((o) => o[field] === upper)?.id]));
      // Filtering on the other field (checked per order) agrees with the truth too.
      const other = field === "create_time" ? "update_time" : "create_time";
      const crossed = await client.search(
        SHOP_A.cipher,
        { page_size: 100, sort_field: other },
        { [`${field}_ge`]: lower, [`${field}_lt`]: upper },
      );
      expect(crossed.body.data?.total_count).toBe(expected.length);
    },
  );

  it("filters by order_status", async () => {
    const expected = truth.filter((order) => order.status === "CANCELLED");
    const result = await client.pageAll(SHOP_A.cipher, {}, { order_status: "CANCELLED" });
    expect(result.pages.flat().map((order) => order.id)).toEqual(
      [...expected].sort(byKey("create_time", false)).map((order) => order.id),
    );
    expect(result.totalCounts[0]).toBe(expected.length);
  });

  it.each(["keyset", "offset"] as const)(
    "%s paging visits every order exactly once, page boundaries inside same-second bursts",
    async (tokenMode) => {
      emulator.configure({ tokenMode });
      const passes = [
        ["create_time", "ASC"],
        ["create_time", "DESC"],
        ["update_time", "ASC"],
        ["update_time", "DESC"],
      ] as const;
      for (const [field, sortOrder] of passes) {
        const result = await client.pageAll(
          SHOP_A.cipher,
          { sort_field: field, sort_order: sortOrder },
          {
            [`${field}_ge`]: 0,
            [`${field}_lt`]: T0 + 1,
          },
        );
        const all = result.pages.flat();
        expectSorted(all, field, sortOrder === "ASC");
        const ids = all.map((order) => order.id);
        expect(ids).toHaveLength(SHOP_A.orders);
        expect(new Set(ids).size).toBe(SHOP_A.orders);
        const crowded = new Set(crowdedSeconds(truth, field, 150));
        const splitInsideBurst = result.pages.some((page, index) => {
          const next = result.pages[index + 1]?.[0];
          const last = page[page.length - 1];
          return (
            next !== undefined &&
            last !== undefined &&
            last[field] === next[field] &&
            crowded.has(next[field])
          );
        });
        expect(splitInsideBurst).toBe(true);
      }
      emulator.configure({ tokenMode: "keyset" });
    },
  );

  it("ends the last page with next_page_token empty, or absent when configured", async () => {
    const last = await client.search(SHOP_B.cipher, { page_size: 100 });
    expect(last.body.data).toHaveProperty("next_page_token", "");
    emulator.configure({ lastPageToken: "absent" });
    const absent = await client.search(SHOP_B.cipher, { page_size: 100 });
    expect(absent.body.data).not.toHaveProperty("next_page_token");
    expect(absent.body.data?.orders).toHaveLength(SHOP_B.orders);
    emulator.configure({ lastPageToken: "empty" });
  });

  it("ends paging silently at the result cap while total_count tells the truth", async () => {
    emulator.configure({ resultCap: 250 });
    const capped = await client.pageAll(SHOP_A.cipher, {}, {});
    expect(capped.pages.map((page) => page.length)).toEqual([100, 100, 50]);
    expect(capped.totalCounts).toEqual([SHOP_A.orders, SHOP_A.orders, SHOP_A.orders]);
    emulator.configure({ resultCap: null });
    expect((await client.pageAll(SHOP_A.cipher, {}, {})).pages.flat()).toHaveLength(SHOP_A.orders);
  });

  it("refuses expired, foreign and forged page tokens", async () => {
    const query = { page_size: 50, sort_field: "update_time", sort_order: "ASC" };
    const first = await client.search(SHOP_A.cipher, query, {});
    const token = first.body.data?.next_page_token as string;
    expect(token).not.toBe("");

    emulator.advance(599);
    const stillValid = await client.search(SHOP_A.cipher, { ...query, page_token: token }, {});
    expect(stillValid.body.code).toBe(0);
    const nextToken = stillValid.body.data?.next_page_token as string;
    emulator.advance(601);
    const expired = await client.search(SHOP_A.cipher, { ...query, page_token: nextToken }, {});
    expect(expired.status).toBe(400);
    expect(expired.body).toMatchObject({ code: API_CODES.parameterOrAuthError, message: PAGE_TOKEN_REFUSED });

    const fresh = (await client.search(SHOP_A.cipher, query, {})).body.data?.next_page_token as string;
    const otherSort = await client.search(
      SHOP_A.cipher,
      { ...query, page_token: fresh, sort_order: "DESC" },
      {},
    );
    expect(otherSort.status).toBe(400);
    expect(otherSort.body.code).toBe(API_CODES.parameterOrAuthError);
    expect(otherSort.body.message).toContain("page_token");
    const otherFilter = await client.search(
      SHOP_A.cipher,
      { ...query, page_token: fresh },
      { update_time_ge: 5 },
    );
    expect(otherFilter.status).toBe(400);
    const otherShop = await client.search(SHOP_B.cipher, { ...query, page_token: fresh }, {});
    expect(otherShop.status).toBe(400);
    const forged = `${fresh.slice(0, 10)}${fresh[10] === "A" ? "B" : "A"}${fresh.slice(11)}`;
    const refused = await client.search(SHOP_A.cipher, { ...query, page_token: forged }, {});
    expect(refused.body).toMatchObject({ code: API_CODES.parameterOrAuthError, message: PAGE_TOKEN_REFUSED });
  });
});

describe("paging while orders change", () => {
  let emulator: TikTokEmulator;
  let client: SigningClient;

  beforeEach(async () => {
    emulator = await startTikTokEmulator({ ...BASE_OPTIONS, shops: [SHOP_A] });
    client = new SigningClient(emulator, emulator.issueTokens().access_token);
  });
  afterEach(() => emulator.stop());

  /** Pages an update_time window and updates one order of page 1 right after reading it. */
  async function pageWhileUpdating(tokenMode: "keyset" | "offset") {
    emulator.configure({ tokenMode });
    const window = { update_time_ge: 0, update_time_lt: emulator.now() };
    const before = emulator
      .truthSummary(SHOP_A.id)
      .filter((order) => order.update_time < window.update_time_lt);
    let updatedId = "";
    const result = await client.pageAll(
      SHOP_A.cipher,
      { sort_field: "update_time", sort_order: "ASC" },
      window,
      (page, orders) => {
        if (page !== 0) return;
        updatedId = (orders[5] as WireOrder).id;
        const [moved] = emulator.mutate({ orderIds: [updatedId] });
        expect(moved?.update_time).toBe(emulator.now());
      },
    );
    const seen = new Set(result.pages.flat().map((order) => order.id));
    const missed = before.filter((order) => !seen.has(order.id));
    return { missed, updatedId, seenCount: result.pages.flat().length };
  }

  it("offset tokens skip one unchanged order when an earlier order leaves the window", async () => {
    const { missed, updatedId } = await pageWhileUpdating("offset");
    expect(missed).toHaveLength(1);
    expect(missed[0]?.id).not.toBe(updatedId);
  });

  it("keyset tokens skip no unchanged order", async () => {
    const { missed, seenCount } = await pageWhileUpdating("keyset");
    expect(missed).toHaveLength(0);
    expect(seenCount).toBe(SHOP_A.orders);
  });

  it("moves an updated order to its new place in update_time order", async () => {
    const target = emulator.truthSummary(SHOP_A.id)[10] as OrderSummary;
    emulator.advance(120);
    emulator.mutate({ orderIds: [target.id] });
    const latest = await client.search(SHOP_A.cipher, { page_size: 5, sort_field: "update_time" }, {});
    expect(latest.body.data?.orders[0]).toMatchObject({ id: target.id, update_time: T0 + 120 });
    const ascending = await client.search(
      SHOP_A.cipher,
      { page_size: 5, sort_field: "update_time", sort_order: "ASC" },
      { update_time_ge: T0 + 1 },
    );
    expect(ascending.body.data?.orders.map((order) => order.id)).toEqual([target.id]);
  });

  it("creates orders at emulator now; a lone _ge bound reaches up to now", async () => {
    emulator.advance(30);
    const created = emulator.createOrders({ count: 3 });
    expect(created.every((order) => order.create_time === T0 + 30 && order.status === "UNPAID")).toBe(true);
    const recent = await client.search(SHOP_A.cipher, { page_size: 10 }, { create_time_ge: T0 + 30 });
    expect(recent.body.data?.orders.map((order) => order.id).sort()).toEqual(
      created.map((order) => order.id).sort(),
    );
    expect(emulator.orderCount(SHOP_A.id)).toBe(SHOP_A.orders + 3);
  });

  it("mutates random orders one step with update_time = now, never decreasing", async () => {
    const before = new Map(emulator.truthSummary(SHOP_A.id).map((order) => [order.id, order]));
    emulator.advance(60);
    const mutated = emulator.mutate({ count: 20, seed: 3 });
    expect(mutated).toHaveLength(20);
    for (const order of mutated) {
      expect(order.update_time).toBe(T0 + 60);
      expect(order.update_time).toBeGreaterThanOrEqual(before.get(order.id)?.update_time ?? 0);
    }
    expect(mutated.some((order) => order.status !== before.get(order.id)?.status)).toBe(true);
  });

  it("mutates continuously per second of emulator time", () => {
    emulator.configure({ continuousMutation: { updatesPerSecond: 10, createsPerSecond: 1 } });
    const start = emulator.now();
    emulator.advance(5);
    const changed = emulator.truthSummary(SHOP_A.id).filter((order) => order.update_time > start);
    expect(changed.length).toBeGreaterThanOrEqual(40);
    expect(changed.length).toBeLessThanOrEqual(55);
    expect(changed.every((order) => order.update_time <= start + 5)).toBe(true);
    expect(emulator.orderCount(SHOP_A.id)).toBe(SHOP_A.orders + 5);
    emulator.configure({ continuousMutation: null });
  });
});

describe("rate limiting and faults", () => {
  let emulator: TikTokEmulator;
  let client: SigningClient;

  beforeAll(async () => {
    emulator = await startTikTokEmulator({ ...BASE_OPTIONS, shops: [SHOP_B] });
    client = new SigningClient(emulator, emulator.issueTokens().access_token);
  });
  afterAll(() => emulator.stop());
  afterEach(() => {
    emulator.configure({ qps: null, retryAfter: true, faults: {} });
    emulator.clearFaultQueue();
    emulator.resetCounters();
  });

  it("answers 429 / 36009002 with Retry-After over the QPS limit", async () => {
    // One request per second with a bucket of 1: eight concurrent calls cannot all pass, even on a slow host.
    emulator.configure({ qps: 1, burst: 1 });
    const burst = await Promise.all(
      Array.from({ length: 8 }, () => client.search(SHOP_B.cipher, { page_size: 1 }, {})),
    );
    const limited = burst.filter((response) => response.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(2);
    expect(burst.filter((response) => response.status === 200).length).toBe(8 - limited.length);
    expect(limited[0]?.body).toMatchObject({ code: API_CODES.rateLimited, data: null });
    expect(Number(limited[0]?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(emulator.counters().byOutcome.rateLimited).toBe(limited.length);

    emulator.configure({ retryAfter: false });
    const more = await Promise.all(
      Array.from({ length: 4 }, () => client.search(SHOP_B.cipher, { page_size: 1 }, {})),
    );
    const withoutHeader = more.filter((response) => response.status === 429);
    expect(withoutHeader.length).toBeGreaterThan(0);
    expect(withoutHeader.every((response) => response.headers.get("retry-after") === null)).toBe(true);
  });

  it("fails the next calls with the requested fault, optionally for one endpoint", async () => {
    emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "http500" });
    emulator.failNext({ count: 1, endpoint: API_PATHS.searchOrders, fault: "http504" });
    const shops = await client.api({ path: API_PATHS.shops });
    expect(shops.body.code).toBe(0);
    const first = await client.search(SHOP_B.cipher, { page_size: 1 }, {});
    expect(first.status).toBe(500);
    expect(first.body).toMatchObject({ code: API_CODES.internalError, data: null });
    const second = await client.search(SHOP_B.cipher, { page_size: 1 }, {});
    expect(second.status).toBe(504);
    expect(second.body.code).toBe(API_CODES.gatewayTimeout);
    expect((await client.search(SHOP_B.cipher, { page_size: 1 }, {})).status).toBe(200);

    emulator.failNext({ count: 1, fault: "malformedJson" });
    const malformed = await client.raw({ path: API_PATHS.shops });
    expect(malformed.status).toBe(200);
    expect(() => JSON.parse(malformed.text)).toThrow();

    emulator.failNext({ count: 2, fault: "rateLimit" });
    const spurious = await client.api({ path: API_PATHS.shops });
    expect(spurious.status).toBe(429);
    expect(spurious.headers.get("retry-after")).toBe("1");
    expect((await client.api({ path: API_PATHS.shops })).status).toBe(429);

    emulator.failNext({ count: 1, fault: "expiredAccessToken" });
    expect((await client.api({ path: API_PATHS.shops })).body.code).toBe(API_CODES.accessTokenExpired);
    expect((await client.api({ path: API_PATHS.shops })).body.code).toBe(0);

    const counters = emulator.counters();
    expect(counters.byEndpoint.searchOrders).toMatchObject({ total: 3, ok: 1, serverError: 2 });
    expect(counters.byEndpoint.shops).toMatchObject({
      ok: 2,
      malformedJson: 1,
      rateLimited: 2,
      authError: 1,
    });
    expect(counters.successfulSearchCalls).toBe(1);
    expect(counters.faultsInjected).toBe(6);
    expect(counters.faultsByKind).toEqual({
      http500: 1,
      http504: 1,
      malformedJson: 1,
      rateLimit: 2,
      expiredAccessToken: 1,
    });
  });

  it("answers 429 without Retry-After on demand (rateLimitNoRetryAfter), whatever retryAfter says", async () => {
    emulator.configure({ retryAfter: true });
    emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "rateLimitNoRetryAfter" });
    emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "rateLimit" });
    const bare = await client.search(SHOP_B.cipher, { page_size: 1 }, {});
    expect(bare.status).toBe(429);
    expect(bare.body).toMatchObject({ code: API_CODES.rateLimited, data: null });
    expect(bare.headers.get("retry-after")).toBeNull();
    const withHeader = await client.search(SHOP_B.cipher, { page_size: 1 }, {});
    expect(withHeader.status).toBe(429);
    expect(withHeader.headers.get("retry-after")).toBe("1");
    expect(emulator.counters().byOutcome.rateLimited).toBe(2);
  });

  it("expires a page token on demand, only on a request that carries one", async () => {
    emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "expiredPageToken" });
    const first = await client.search(SHOP_B.cipher, { page_size: 10 }, {});
    expect(first.body.code).toBe(0);
    const token = first.body.data?.next_page_token as string;
    const refused = await client.search(SHOP_B.cipher, { page_size: 10, page_token: token }, {});
    expect(refused.body).toMatchObject({ code: API_CODES.parameterOrAuthError, message: PAGE_TOKEN_REFUSED });
    expect((await client.search(SHOP_B.cipher, { page_size: 10, page_token: token }, {})).body.code).toBe(0);
  });

  it("holds a request then drops it (timeout) and resets connections", async () => {
    emulator.configure({ hangMs: 200 });
    emulator.failNext({ count: 1, fault: "timeout" });
    await expect(client.raw({ path: API_PATHS.shops, signal: AbortSignal.timeout(5_000) })).rejects.toThrow();
    emulator.failNext({ count: 1, fault: "connectionReset" });
    await expect(client.raw({ path: API_PATHS.shops })).rejects.toThrow();
    expect(emulator.counters().byOutcome).toMatchObject({ timeout: 1, connectionReset: 1 });
    expect((await client.api({ path: API_PATHS.shops })).body.code).toBe(0);
  });

  it("injects faults by rate, deterministically from the seed", async () => {
    const outcomes = async (target: TikTokEmulator) => {
      const targetClient = new SigningClient(target, target.issueTokens().access_token);
      const statuses: number[] = [];
      for (let call = 0; call < 30; call++)
        statuses.push((await targetClient.raw({ path: API_PATHS.shops })).status);
      return statuses;
    };
    const options = {
      ...BASE_OPTIONS,
      shops: [SHOP_B],
      faults: { http500: 0.2, http504: 0.1, rateLimit: 0.1 },
    };
    const twin = await startTikTokEmulator(options);
    const other = await startTikTokEmulator({ ...options, seed: 8 });
    try {
      emulator.configure({ faults: options.faults });
      emulator.loadDataset({ seed: 7 });
      const [mine, twins, others] = [await outcomes(emulator), await outcomes(twin), await outcomes(other)];
      expect(mine).toEqual(twins);
      expect(mine).not.toEqual(others);
      expect(new Set(mine)).toEqual(new Set([200, 500, 504, 429]));
    } finally {
      await Promise.all([twin.stop(), other.stop()]);
    }
  });

  it("adds the configured latency", async () => {
    emulator.configure({ latencyMs: 150 });
    const started = performance.now();
    await client.api({ path: API_PATHS.shops });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    emulator.configure({ latencyMs: 0 });
  });
});

describe("several shops: per-shop faults, counters, request log, expiry and revocation", () => {
  let emulator: TikTokEmulator;

  beforeAll(async () => {
    emulator = await startTikTokEmulator({ ...BASE_OPTIONS, shops: [SHOP_A, SHOP_B] });
  });
  afterAll(() => emulator.stop());

  it("fails only the configured shop's calls at its own rate and counts calls per shop", async () => {
    const client = new SigningClient(emulator, emulator.issueTokens().access_token);
    emulator.configure({ shopFaults: { [SHOP_A.id]: { http500: 1 } } });
    const before = emulator.lastRequestSeq();
    const a = await client.search(SHOP_A.cipher, { page_size: 1 }, {});
    const b = await client.search(SHOP_B.cipher, { page_size: 1 }, {});
    const shops = await client.api({ path: API_PATHS.shops });
    expect(a.status).toBe(500);
    expect(b.status).toBe(200);
    expect(shops.status).toBe(200); // shop-less calls keep the global rates
    const counters = emulator.counters();
    expect(counters.byShop[SHOP_A.id]?.searchOrders).toMatchObject({ total: 1, serverError: 1 });
    expect(counters.byShop[SHOP_B.id]?.searchOrders).toMatchObject({ total: 1, ok: 1 });
    // /shops is counted under every shop of the token's grant.
    expect(counters.byShop[SHOP_A.id]?.shops?.total).toBe(1);
    const log = emulator.requests({ afterSeq: before });
    expect(log.map((entry) => [entry.endpoint, entry.shopIds, entry.outcome])).toEqual([
      ["searchOrders", [SHOP_A.id], "serverError"],
      ["searchOrders", [SHOP_B.id], "ok"],
      ["shops", [SHOP_A.id, SHOP_B.id], "ok"],
    ]);
    expect(emulator.requests({ afterSeq: before, shopId: SHOP_B.id })).toHaveLength(2);
    expect(() => emulator.configure({ shopFaults: { [SHOP_A.id]: { nope: 1 } as never } })).toThrow(
      /unknown fault/,
    );
    emulator.configure({ shopFaults: {} });

    const admin = await adminCall<{ last_seq: number; requests: unknown[] }>(
      emulator,
      "GET",
      `requests?after=${before}&shop_id=${SHOP_A.id}`,
    );
    expect(admin.body.requests).toHaveLength(2);
    expect(admin.body.last_seq).toBe(emulator.lastRequestSeq());
  });

  it("expires and revokes only the tokens of grants covering a shop; refreshes are logged per shop", async () => {
    const onlyA = emulator.issueTokens({ shopIds: [SHOP_A.id] });
    const onlyB = emulator.issueTokens({ shopIds: [SHOP_B.id] });
    const clientA = new SigningClient(emulator, onlyA.access_token);
    const clientB = new SigningClient(emulator, onlyB.access_token);
    expect(emulator.expireAccessTokens({ shopId: SHOP_A.id })).toBeGreaterThanOrEqual(1);
    expect((await clientA.search(SHOP_A.cipher, { page_size: 1 }, {})).body.code).toBe(
      API_CODES.accessTokenExpired,
    );
    expect((await clientB.search(SHOP_B.cipher, { page_size: 1 }, {})).status).toBe(200);

    const before = emulator.lastRequestSeq();
    const refreshed = await authCall(emulator, API_PATHS.tokenRefresh, {
      app_key: emulator.appKey,
      app_secret: emulator.appSecret,
      refresh_token: onlyA.refresh_token,
      grant_type: "refresh_token",
    });
    expect(refreshed.body.code).toBe(0);
    expect(emulator.requests({ afterSeq: before })).toEqual([
      expect.objectContaining({ endpoint: "tokenRefresh", shopIds: [SHOP_A.id], outcome: "ok" }),
    ]);

    const admin = await adminCall<{ revoked: number }>(emulator, "POST", "revoke-shop-refresh-tokens", {
      shop_id: SHOP_A.id,
    });
    expect(admin.body.revoked).toBeGreaterThanOrEqual(1);
    const refused = await authCall(emulator, API_PATHS.tokenRefresh, {
      app_key: emulator.appKey,
      app_secret: emulator.appSecret,
      refresh_token: refreshed.body.data?.refresh_token ?? "",
      grant_type: "refresh_token",
    });
    expect(refused.body.code).toBe(API_CODES.noAuthRecord);
    const stillB = await authCall(emulator, API_PATHS.tokenRefresh, {
      app_key: emulator.appKey,
      app_secret: emulator.appSecret,
      refresh_token: onlyB.refresh_token,
      grant_type: "refresh_token",
    });
    expect(stillB.body.code).toBe(0);
    const expired = await adminCall<{ expired: number }>(emulator, "POST", "expire-access-tokens", {
      shop_id: SHOP_B.id,
    });
    expect(expired.body.expired).toBeGreaterThanOrEqual(1);
  });
});

describe("admin HTTP interface", () => {
  let emulator: TikTokEmulator;

  beforeAll(async () => {
    emulator = await startTikTokEmulator({ ...BASE_OPTIONS, shops: [SHOP_A, SHOP_B] });
  });
  afterAll(() => emulator.stop());

  it("mirrors the in-process API", async () => {
    expect((await adminCall(emulator, "GET", "health")).body).toEqual({ ok: true, now: T0 });
    const truth = await adminCall<{ count: number; total: number; orders: OrderSummary[] }>(
      emulator,
      "GET",
      `truth?shop_id=${SHOP_B.id}&summary=1`,
    );
    expect(truth.body.count).toBe(SHOP_B.orders);
    const fullPage = await adminCall<{ orders: WireOrder[] }>(
      emulator,
      "GET",
      `truth?shop_id=${SHOP_A.id}&limit=2`,
    );
    expect(fullPage.body.orders).toEqual(emulator.truth(SHOP_A.id, { limit: 2 }));

    const clock = await adminCall<{ now: number }>(emulator, "POST", "clock", { advance: 90 });
    expect(clock.body.now).toBe(T0 + 90);
    const mutated = await adminCall<{ mutated: OrderSummary[] }>(emulator, "POST", "mutate", {
      count: 3,
      shopId: SHOP_B.id,
    });
    expect(mutated.body.mutated.map((order) => order.update_time)).toEqual([T0 + 90, T0 + 90, T0 + 90]);
    const created = await adminCall<{ created: OrderSummary[] }>(emulator, "POST", "create-orders", {
      count: 2,
      shop_id: SHOP_B.id,
    });
    expect(created.body.created).toHaveLength(2);
    expect(emulator.orderCount(SHOP_B.id)).toBe(SHOP_B.orders + 2);

    const configured = await adminCall<{ config: { qps: number; tokenMode: string } }>(
      emulator,
      "POST",
      "configure",
      {
        qps: 5,
        tokenMode: "offset",
      },
    );
    expect(configured.body.config).toMatchObject({ qps: 5, tokenMode: "offset" });
    const badConfig = await adminCall<{ error: { message: string } }>(emulator, "POST", "configure", {
      port: 1,
    });
    expect(badConfig.status).toBe(400);

    const tokens = await adminCall<TokenData>(emulator, "POST", "tokens", { shopIds: [SHOP_B.id] });
    const client = new SigningClient(emulator, tokens.body.access_token);
    await adminCall(emulator, "POST", "reset-counters");
    expect((await adminCall(emulator, "POST", "fail-next", { count: 1, fault: "http500" })).status).toBe(200);
    expect((await client.api({ path: API_PATHS.shops })).status).toBe(500);
    expect((await client.api({ path: API_PATHS.shops })).status).toBe(200);
    const counters = await adminCall<{ total: number; byOutcome: { serverError: number } }>(
      emulator,
      "GET",
      "counters",
    );
    expect(counters.body).toMatchObject({ total: 2, byOutcome: { serverError: 1 } });
    const badFault = await adminCall(emulator, "POST", "fail-next", { count: 1, fault: "meteor" });
    expect(badFault.status).toBe(400);

    const authCode = await adminCall<{ auth_code: string }>(emulator, "POST", "auth-code", {});
    expect(authCode.body.auth_code).toMatch(/^TTP_/);
    expect((await adminCall(emulator, "POST", "expire-access-tokens")).body).toEqual({ expired: 1 });
    expect((await client.api({ path: API_PATHS.shops })).body.code).toBe(API_CODES.accessTokenExpired);
    const revoked = await adminCall(emulator, "POST", "revoke-refresh-token", {
      refresh_token: tokens.body.refresh_token,
    });
    expect(revoked.body).toEqual({ revoked: true });

    const reseeded = await adminCall<{ shops: ShopInfo[] }>(emulator, "POST", "seed", {
      seed: 5,
      shops: [{ id: "7494000000000000999", orders: 40 }],
    });
    expect(reseeded.body.shops.map((shop) => shop.id)).toEqual(["7494000000000000999"]);
    expect(emulator.orderCount("7494000000000000999")).toBe(40);
    expect((await adminCall(emulator, "GET", "nothing-here")).status).toBe(404);
  });
});

describe("dataset generation", () => {
  it("is deterministic: same seed and clock, same dataset", async () => {
    const options: TikTokEmulatorOptions = {
      seed: 99,
      shops: [{ id: "d1", orders: 400 }],
      clock: { start: T0 },
    };
    const [first, second, different] = await Promise.all([
      startTikTokEmulator(options),
      startTikTokEmulator(options),
      startTikTokEmulator({ ...options, seed: 100 }),
    ]);
    try {
      expect(first.truth("d1")).toEqual(second.truth("d1"));
      expect(first.truth("d1")).not.toEqual(different.truth("d1"));
      expect(first.mutate({ count: 5, seed: 1 })).toEqual(second.mutate({ count: 5, seed: 1 }));
    } finally {
      await Promise.all([first.stop(), second.stop(), different.stop()]);
    }
  });

  // Correctness at the benchmark's size; its speed is measured by `npm run bench`, not timed here.
  it("holds 283,300 orders for one shop and pages and counts them", async () => {
    const big = await startTikTokEmulator({ shops: [{ id: "big", orders: 283_300 }], clock: { start: T0 } });
    try {
      expect(big.orderCount("big")).toBe(283_300);
      const client = new SigningClient(big, big.issueTokens().access_token);
      const cipher = big.shops()[0]?.cipher as string;
      const firstPage = await client.search(
        cipher,
        { page_size: 100, sort_field: "update_time", sort_order: "ASC" },
        {
          update_time_ge: T0 - 30 * 86_400,
          update_time_lt: T0,
        },
      );
      const second = await client.search(
        cipher,
        {
          page_size: 100,
          sort_field: "update_time",
          sort_order: "ASC",
          page_token: firstPage.body.data?.next_page_token ?? "",
        },
        { update_time_ge: T0 - 30 * 86_400, update_time_lt: T0 },
      );
      expect(second.body.data?.orders).toHaveLength(100);
      expect(firstPage.body.data?.total_count).toBeGreaterThan(10_000);
      const all = await client.search(cipher, { page_size: 1 }, {});
      expect(all.body.data?.total_count).toBe(283_300);
    } finally {
      await big.stop();
    }
  });
});

describe("invalid orders", () => {
  let emulator: TikTokEmulator;
  let client: SigningClient;

  beforeAll(async () => {
    emulator = await startTikTokEmulator({ ...BASE_OPTIONS, shops: [SHOP_B] });
    client = new SigningClient(emulator, emulator.issueTokens().access_token);
  });
  afterAll(() => emulator.stop());

  it("serves chosen orders without a field the sync relies on; the truth keeps them whole", async () => {
    const [first, second] = emulator.truthSummary(SHOP_B.id);
    if (!first || !second) throw new Error("shop B has no orders");
    emulator.corruptOrders({ orderIds: [first.id], field: "update_time" });
    const viaAdmin = await adminCall(emulator, "POST", "corrupt-orders", {
      order_ids: [second.id],
      field: "id",
    });
    expect(viaAdmin.status).toBe(200);
    expect(
      (await adminCall(emulator, "POST", "corrupt-orders", { orderIds: [first.id], field: "x" })).status,
    ).toBe(400);
    const page = await client.search(
      SHOP_B.cipher,
      { page_size: 100, sort_field: "create_time", sort_order: "ASC" },
      {},
    );
    const orders = (page.body.data?.orders ?? []) as Record<string, unknown>[];
    expect(orders).toHaveLength(SHOP_B.orders);
    const withoutUpdate = orders.filter((order) => !("update_time" in order));
    expect(withoutUpdate.map((order) => order.id)).toEqual([first.id]);
    const withoutId = orders.filter((order) => !("id" in order));
    expect(withoutId).toHaveLength(1);
    expect(withoutId[0]?.create_time).toBe(second.create_time);
    const truth = emulator.truth(SHOP_B.id);
    expect(truth.every((order) => order.id && order.update_time && order.create_time)).toBe(true);
    expect([...emulator.corruptedOrders(SHOP_B.id).entries()]).toEqual([
      [first.id, "update_time"],
      [second.id, "id"],
    ]);
  });
});

describe("TikTok's edge behaviours (issue 16)", () => {
  let emulator: TikTokEmulator;
  let client: SigningClient;
  const byUpdateAsc = { sort_field: "update_time", sort_order: "ASC" } as const;

  beforeEach(async () => {
    emulator = await startTikTokEmulator(BASE_OPTIONS);
    client = new SigningClient(emulator, emulator.issueTokens().access_token);
  });
  afterEach(() => emulator.stop());

  /** The shop's orders in (update_time, id) order, as a client following tokens should see them. */
  function updateOrder(shopId: string): string[] {
    return [...emulator.truthSummary(shopId)].sort(byKey("update_time", true)).map((order) => order.id);
  }

  it("keeps its defaults: no page-size cap, the page_token wording, no page faults", () => {
    expect(DEFAULT_RUNTIME_OPTIONS).toMatchObject({ maxPageSize: null, pageTokenRefusal: "pageToken" });
    expect(emulator.config()).toMatchObject({ maxPageSize: null, pageTokenRefusal: "pageToken", faults: {} });
    expect(() => emulator.configure({ maxPageSize: -1 })).toThrow("maxPageSize");
    expect(() => emulator.configure({ pageTokenRefusal: "polite" as never })).toThrow("pageTokenRefusal");
  });

  it("a silent page-size cap serves short pages with next tokens; following them skips nothing", async () => {
    emulator.configure({ maxPageSize: 30 });
    const capped = await client.pageAll(SHOP_B.cipher, byUpdateAsc, {});
    expect(capped.pages.map((page) => page.length)).toEqual([30, 30, 30, 10]);
    expect(capped.pages.flat().map((order) => order.id)).toEqual(updateOrder(SHOP_B.id));
    expect(capped.totalCounts.every((count) => count === SHOP_B.orders)).toBe(true);
  });

  it.each(["keyset", "offset"] as const)(
    "%s: randomly cut pages (shortPage) still hand out tokens, and following them visits every order once",
    async (tokenMode) => {
      emulator.configure({ tokenMode, faults: { shortPage: 1 } });
      const result = await client.pageAll(SHOP_A.cipher, byUpdateAsc, { update_time_ge: 0 });
      const sizes = result.pages.map((page) => page.length);
      expect(sizes.every((size) => size < 100)).toBe(true);
      expect(result.pages.length).toBeGreaterThan(SHOP_A.orders / 100);
      expect(result.pages.flat().map((order) => order.id)).toEqual(updateOrder(SHOP_A.id));
      expect(emulator.counters().faultsInjected).toBe(result.pages.length);
    },
  );

  it.each(["keyset", "offset"] as const)(
    "%s: a page cut to no orders at all still continues from where it stood",
    async (tokenMode) => {
      emulator.configure({ tokenMode });
      const first = await client.search(SHOP_B.cipher, { page_size: 40, ...byUpdateAsc }, {});
      const token = first.body.data?.next_page_token as string;
      // page_size 1 cut short serves nothing; its token must lead to the order it did not serve.
      emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "shortPage" });
      const empty = await client.search(
        SHOP_B.cipher,
        { page_size: 1, ...byUpdateAsc, page_token: token },
        {},
      );
      expect(empty.body.code).toBe(0);
      expect(empty.body.data?.orders).toEqual([]);
      const emptyToken = empty.body.data?.next_page_token as string;
      expect(emptyToken).not.toBe("");
      const next = await client.search(
        SHOP_B.cipher,
        { page_size: 1, ...byUpdateAsc, page_token: emptyToken },
        {},
      );
      expect(next.body.data?.orders.map((order) => order.id)).toEqual([updateOrder(SHOP_B.id)[40]]);
    },
  );

  it("an out-of-window order: one order of an update_time page is served as it is now, past update_time_lt", async () => {
    const windowEnd = T0 - 86_400;
    const window = { update_time_ge: 0, update_time_lt: windowEnd };
    const before = emulator.truthSummary(SHOP_A.id).filter((order) => order.update_time < windowEnd);
    emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "outOfWindowOrder" });
    // Not a search by update_time: the fault waits for one.
    const byCreate = await client.search(
      SHOP_A.cipher,
      { page_size: 100, sort_field: "create_time" },
      window,
    );
    expect(byCreate.body.data?.orders.every((order) => order.update_time < windowEnd)).toBe(true);
    const result = await client.pageAll(SHOP_A.cipher, byUpdateAsc, window);
    const firstPage = result.pages[0] ?? [];
    expect(firstPage).toHaveLength(100);
    const outside = firstPage.filter((order) => order.update_time >= windowEnd);
    expect(outside).toHaveLength(1);
    const changed = outside[0] as WireOrder;
    expect(changed.update_time).toBe(T0);
    // The truth changed too (the index lagged a real update), and no other order was skipped.
    expect(emulator.truthSummary(SHOP_A.id).find((order) => order.id === changed.id)?.update_time).toBe(T0);
    const seen = result.pages.flat().map((order) => order.id);
    expect(new Set(seen)).toEqual(new Set(before.map((order) => order.id)));
    expect(seen).toHaveLength(before.length);
  });

  it("out-of-window orders and unsorted pages by rate: a client following tokens still sees every order", async () => {
    const windowEnd = T0 - 3_600;
    const before = emulator.truthSummary(SHOP_A.id).filter((order) => order.update_time < windowEnd);
    emulator.configure({ faults: { outOfWindowOrder: 0.3, unsortedPage: 0.3 } });
    const result = await client.pageAll(SHOP_A.cipher, byUpdateAsc, {
      update_time_ge: 0,
      update_time_lt: windowEnd,
    });
    const all = result.pages.flat();
    expect(new Set(all.map((order) => order.id))).toEqual(new Set(before.map((order) => order.id)));
    expect(all).toHaveLength(before.length);
    expect(all.filter((order) => order.update_time >= windowEnd).length).toBeGreaterThan(0);
    const unsorted = result.pages.filter((page) =>
      page.some(
        (order, index) => index > 0 && byKey("update_time", true)(page[index - 1] as WireOrder, order) > 0,
      ),
    );
    expect(unsorted.length).toBeGreaterThan(0);
  });

  it("an unsorted page holds the same orders as the sorted one, and paging goes on as before", async () => {
    const sorted = await client.search(SHOP_B.cipher, { page_size: 30, ...byUpdateAsc }, {});
    emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "unsortedPage" });
    const shuffled = await client.search(SHOP_B.cipher, { page_size: 30, ...byUpdateAsc }, {});
    const sortedIds = sorted.body.data?.orders.map((order) => order.id) ?? [];
    const shuffledIds = shuffled.body.data?.orders.map((order) => order.id) ?? [];
    expect(shuffledIds).not.toEqual(sortedIds);
    expect([...shuffledIds].sort()).toEqual([...sortedIds].sort());
    const next = await client.search(
      SHOP_B.cipher,
      { page_size: 30, ...byUpdateAsc, page_token: shuffled.body.data?.next_page_token as string },
      {},
    );
    expect(next.body.data?.orders.map((order) => order.id)).toEqual(updateOrder(SHOP_B.id).slice(30, 60));
  });

  it.each([
    ["pageToken", API_CODES.parameterOrAuthError, PAGE_TOKEN_REFUSED],
    ["generic", API_CODES.parameterOrAuthError, PAGE_TOKEN_REFUSED_GENERIC],
    ["otherCode", PAGE_TOKEN_REFUSAL_OTHER_CODE, PAGE_TOKEN_REFUSED_OTHER_CODE],
  ] as const)("refuses page tokens in the %s wording, expired or injected", async (style, code, message) => {
    if (style !== "pageToken") expect(message.toLowerCase()).not.toContain("page_token");
    const configured = await adminCall<{ config: { pageTokenRefusal: string } }>(
      emulator,
      "POST",
      "configure",
      {
        pageTokenRefusal: style,
      },
    );
    expect(configured.body.config.pageTokenRefusal).toBe(style);
    const query = { page_size: 20, ...byUpdateAsc };
    const token = (await client.search(SHOP_B.cipher, query, {})).body.data?.next_page_token as string;
    emulator.failNext({ count: 1, endpoint: "searchOrders", fault: "expiredPageToken" });
    const injected = await client.search(SHOP_B.cipher, { ...query, page_token: token }, {});
    expect(injected.status).toBe(400);
    expect(injected.body).toEqual(expect.objectContaining({ code, message, data: null }));
    emulator.advance(601);
    const expired = await client.search(SHOP_B.cipher, { ...query, page_token: token }, {});
    expect(expired.status).toBe(400);
    expect(expired.body).toEqual(expect.objectContaining({ code, message, data: null }));
    expect(emulator.counters().byOutcome.badRequest).toBe(2);
  });

  it("oversized orders: thousands of line items (one per unit), in the truth and as served", async () => {
    const [bulk, other] = emulator.truthSummary(SHOP_B.id);
    if (!bulk || !other) throw new Error("shop B has no orders");
    const before = emulator.truth(SHOP_B.id).find((order) => order.id === bulk.id) as Record<string, unknown>;
    emulator.oversizeOrders({ orderIds: [bulk.id] });
    const viaAdmin = await adminCall<{ oversized: OrderSummary[] }>(emulator, "POST", "oversize-orders", {
      order_ids: [other.id],
      line_items: 800,
    });
    expect(viaAdmin.body.oversized.map((order) => order.id)).toEqual([other.id]);
    expect(
      (await adminCall(emulator, "POST", "oversize-orders", { orderIds: [bulk.id], lineItems: 0 })).status,
    ).toBe(400);
    expect([...emulator.oversizedOrders(SHOP_B.id)]).toEqual([
      [bulk.id, 2_000],
      [other.id, 800],
    ]);
    const truth = emulator.truth(SHOP_B.id).find((order) => order.id === bulk.id) as Record<string, unknown>;
    expect(truth.line_items as unknown[]).toHaveLength(2_000);
    expect(Buffer.byteLength(JSON.stringify(truth))).toBeGreaterThan(1_000_000);
    // Everything but the line items (and the totals they add up to) stays as it was.
    const { line_items: _a, payment: _b, ...rest } = truth;
    const { line_items: _c, payment: _d, ...restBefore } = before;
    expect(rest).toEqual(restBefore);
    const detail = await client.api<{ orders: WireOrder[] }>({
      path: API_PATHS.orderDetail,
      shopCipher: SHOP_B.cipher,
      query: { ids: bulk.id },
    });
    expect(detail.body.data?.orders[0]).toEqual(truth);
    const searched = await client.pageAll(SHOP_B.cipher, byUpdateAsc, {});
    expect(searched.pages.flat().find((order) => order.id === bulk.id)).toEqual(truth);

    const created = emulator.createOrders({ count: 1, shopId: SHOP_B.id, lineItems: 1_500 });
    const createdOrder = emulator.truth(SHOP_B.id).find((order) => order.id === created[0]?.id);
    expect(createdOrder?.line_items).toHaveLength(1_500);
    expect(() => emulator.createOrders({ count: 1, lineItems: MAX_LINE_ITEMS + 1 })).toThrow("lineItems");
  });

  it("same-second floods beyond the result cap, by updates (create_times spread) or by creates", async () => {
    emulator.advance(60);
    const flooded = emulator.flood({ count: 250, shopId: SHOP_A.id, seed: 4 });
    expect(new Set(flooded.map((order) => order.id)).size).toBe(250);
    expect(new Set(flooded.map((order) => order.update_time))).toEqual(new Set([T0 + 60]));
    expect(new Set(flooded.map((order) => order.create_time)).size).toBeGreaterThan(100);
    emulator.configure({ resultCap: 200 });
    const second = { update_time_ge: T0 + 60, update_time_lt: T0 + 61 };
    const capped = await client.pageAll(SHOP_A.cipher, byUpdateAsc, second);
    expect(capped.pages.flat()).toHaveLength(200);
    expect(capped.totalCounts[0]).toBe(250);

    emulator.advance(1);
    const created = await adminCall<{ flooded: OrderSummary[] }>(emulator, "POST", "flood", {
      count: 300,
      shop_id: SHOP_B.id,
      source: "create",
    });
    expect(created.status).toBe(200);
    expect(created.body.flooded).toHaveLength(300);
    expect(
      created.body.flooded.every((order) => order.create_time === T0 + 61 && order.update_time === T0 + 61),
    ).toBe(true);
    expect(emulator.orderCount(SHOP_B.id)).toBe(SHOP_B.orders + 300);
    expect((await adminCall(emulator, "POST", "flood", { count: 5_000, shopId: SHOP_B.id })).status).toBe(
      400,
    );
    expect((await adminCall(emulator, "POST", "flood", { count: 3, source: "sideways" })).status).toBe(400);
  });
});
