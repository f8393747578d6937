/**
 * The time budget's arithmetic: the TikTok client against a scripted fetch on a fake clock (its
 * injected sleep moves time on), and the worker's reading of what a deadline error means.
 */
import { deferral } from "../../shared/sync/full-resync/worker";
import { TikTokRateLimitedError, TikTokServerError } from "../../shared/tiktok/api-errors";
import { API_CODES } from "../../shared/tiktok/api-types";
import { TikTokClient } from "../../shared/tiktok/client";
import { AdaptiveRateLimiter, type RateLimiter } from "../../shared/tiktok/rate-limiter";
import { Deadline, DeadlineExceededError, TIME_BUDGET } from "../../shared/time-budget";

type Reply = (init?: RequestInit) => Response | Promise<Response>;

const reply =
  (status: number, code: number, data: unknown = null, headers: Record<string, string> = {}): Reply =>
  () =>
    new Response(JSON.stringify({ code, message: code === 0 ? "Success" : "error", request_id: "r", data }), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });
const page = reply(200, 0, { orders: [{ id: "o1" }], total_count: 1 });
const throttled = (retryAfterSeconds: number) =>
  reply(429, API_CODES.rateLimited, null, { "Retry-After": String(retryAfterSeconds) });
const serverError = reply(500, API_CODES.internalError);
/** Never answers: only its abort signal ends it. */
const hang: Reply = (init) =>
  new Promise((_resolve, reject) => {
    init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
  });

const noLimit: RateLimiter = { acquire: async () => undefined, onThrottle: () => undefined };

function fakeTime() {
  let now = 1_700_000_000_000;
  return {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
    },
  };
}

function client(
  replies: Reply[],
  options: { now?: () => number; sleep?: (ms: number) => Promise<void>; limiter?: RateLimiter } = {},
) {
  const sent: number[] = [];
  const slept: number[] = [];
  const instance = new TikTokClient({
    baseUrl: "https://open-api.example.test",
    appKey: "key",
    appSecret: "secret",
    tokens: { getAccessToken: async () => "token", refreshAfterRejection: async () => "token" },
    rateLimiter: options.limiter ?? noLimit,
    clock: { nowMs: () => Date.now() },
    fetch: (async (_url: string | URL | Request, init?: RequestInit) => {
      sent.push(Date.now());
      const next = replies.shift();
      if (!next) throw new Error("no scripted reply left");
      return next(init);
    }) as typeof fetch,
    timeoutMs: 5_000,
    retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 },
    random: () => 0.5,
    ...(options.sleep
      ? {
          sleep: async (ms: number) => {
            slept.push(ms);
            await options.sleep?.(ms);
          },
        }
      : {}),
  });
  const search = (deadline?: Deadline) =>
    instance.searchOrders({
      shopCipher: "c",
      query: { page_size: 100, sort_field: "create_time", sort_order: "ASC" },
      body: {},
      ...(deadline ? { deadline } : {}),
    });
  return { search, sent, slept };
}

describe("the TikTok client within a deadline", () => {
  it("does not sleep a Retry-After longer than the time left: it throws at once, the 429 as cause", async () => {
    const time = fakeTime();
    const { search, sent, slept } = client([throttled(20), page], time);
    const error = await search(Deadline.in(8_000, time.now)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as DeadlineExceededError).cause).toBeInstanceOf(TikTokRateLimitedError);
    expect((error as DeadlineExceededError).retryAfterMs).toBeGreaterThanOrEqual(20_000);
    expect(sent).toHaveLength(1);
    expect(slept).toEqual([]);
    // The worker re-sends such a page with at least the Retry-After as its delay: not a failure.
    expect(deferral(error)).toBeGreaterThanOrEqual(20_000);
  });

  it("sleeps a Retry-After that fits, then succeeds", async () => {
    const time = fakeTime();
    const { search, sent, slept } = client([throttled(2), page], time);
    await expect(search(Deadline.in(8_000, time.now))).resolves.toMatchObject({ totalCount: 1 });
    expect(sent).toHaveLength(2);
    expect(slept).toHaveLength(1);
    expect(slept[0]).toBeGreaterThanOrEqual(2_000);
  });

  it("does not back off past the deadline after a server error; that is a failure, not a deferral", async () => {
    const time = fakeTime();
    // Backoff after the first failure is 50 ms (random 0.5 × base 100): 50 + minAttempt must fit.
    const remaining = TIME_BUDGET.minAttemptMs + 40;
    const { search, sent, slept } = client([serverError, page], time);
    const error = await search(Deadline.in(remaining, time.now)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as DeadlineExceededError).cause).toBeInstanceOf(TikTokServerError);
    expect((error as DeadlineExceededError).afterFailure).toBe(true);
    expect(sent).toHaveLength(1);
    expect(slept).toEqual([]);
    expect(deferral(error)).toBeUndefined();
  });

  it("keeps retrying while the backoff and an attempt still fit", async () => {
    const time = fakeTime();
    const { search, sent } = client([serverError, serverError, page], time);
    await expect(search(Deadline.in(TIME_BUDGET.minAttemptMs + 500, time.now))).resolves.toMatchObject({
      totalCount: 1,
    });
    expect(sent).toHaveLength(3);
  });

  it("starts no attempt with less than the minimum attempt time left", async () => {
    const time = fakeTime();
    const { search, sent } = client([page], time);
    const error = await search(Deadline.in(TIME_BUDGET.minAttemptMs - 1, time.now)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as DeadlineExceededError).cause).toBeUndefined();
    expect(sent).toEqual([]);
    expect(deferral(error)).toBeGreaterThan(0);
  });

  it("shrinks the attempt's HTTP timeout to the time left (real time)", async () => {
    const { search, sent } = client([hang, page]);
    const started = Date.now();
    const error = await search(Deadline.in(TIME_BUDGET.minAttemptMs + 300)).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    // The configured 5 s timeout would have let the hang run far past the deadline.
    expect(elapsed).toBeLessThan(TIME_BUDGET.minAttemptMs + 1_500);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as DeadlineExceededError).cause).toBeInstanceOf(TikTokServerError);
    expect(((error as DeadlineExceededError).cause as Error).message).toContain("timed out");
    expect(sent).toHaveLength(1);
    // A slow answer cut at the deadline is time, not a TikTok failure: the page is re-sent.
    expect((error as DeadlineExceededError).afterFailure).toBe(false);
    expect(deferral(error)).toBeGreaterThan(0);
  });

  it("counts an attempt cut at the deadline as a failure when an earlier attempt failed (real time)", async () => {
    const { search, sent } = client([serverError, hang]);
    const error = await search(Deadline.in(TIME_BUDGET.minAttemptMs + 300)).catch((e: unknown) => e);
    expect(sent).toHaveLength(2);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as DeadlineExceededError).afterFailure).toBe(true);
    expect(deferral(error)).toBeUndefined();
  });

  it("gives up waiting for the shop's request budget when no slot comes in time (real time)", async () => {
    // One request per 10 s: the second call's slot lies past its deadline.
    const limiter = new AdaptiveRateLimiter({ maxRps: 0.1, clock: { nowMs: () => Date.now() } });
    const { search, sent } = client([page, page], { limiter });
    await search(Deadline.in(5_000));
    const started = Date.now();
    const error = await search(Deadline.in(TIME_BUDGET.minAttemptMs + 500)).catch((e: unknown) => e);
    // It stops when an attempt would no longer fit, not when the slot finally comes.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(sent).toHaveLength(1);
    // Our own throttle: the worker re-sends the page rather than failing it.
    expect(deferral(error)).toBeGreaterThan(0);
  });

  it("without a deadline behaves as before (no budget checks)", async () => {
    const time = fakeTime();
    const { search, slept } = client([throttled(3), page], time);
    await expect(search()).resolves.toMatchObject({ totalCount: 1 });
    expect(slept[0]).toBeGreaterThanOrEqual(3_000);
  });
});

describe("Deadline", () => {
  it("derives from a Lambda context and keeps margins back", () => {
    let now = 0;
    const deadline = Deadline.fromContext({ getRemainingTimeInMillis: () => 30_000 }, () => now);
    expect(deadline.remainingMs()).toBe(30_000);
    const worker = deadline.minus(TIME_BUDGET.handlerEndMarginMs.worker);
    expect(worker.remainingMs()).toBe(29_000);
    now = 25_000;
    expect(worker.allows(TIME_BUDGET.pageStartMs)).toBe(false);
    expect(deadline.allows(5_000)).toBe(true);
    now = 31_000;
    expect(deadline.expired()).toBe(true);
    expect(deadline.remainingMs()).toBe(0);
    expect(Deadline.none().allows(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(Deadline.none().signal()).toBeUndefined();
  });

  it("leaves room for a whole page in the worker's 30 s (start margin = reserve + attempt + reads)", () => {
    expect(TIME_BUDGET.pageStartMs).toBeGreaterThanOrEqual(
      TIME_BUDGET.pageCommitReserveMs + TIME_BUDGET.minAttemptMs,
    );
    // The first record of a fresh invocation always starts.
    expect(30_000 - TIME_BUDGET.handlerEndMarginMs.worker).toBeGreaterThan(TIME_BUDGET.pageStartMs);
  });
});
