/**
 * The fixed identities the bench tools give the TikTok emulator and the product: one app, one preset
 * token pair, the shops. Shared so the tools (bench/run.ts, bench/push.ts, bench/encoding.ts) cannot
 * drift apart; none of it is a secret (the emulator accepts what it is told to).
 */
export const APP_KEY = "bench_app_key";
export const APP_SECRET = "bench_app_secret";
export const ACCESS_TOKEN = "bench-access-token";
export const REFRESH_TOKEN = "bench-refresh-token";

/** The main bench's shop (bench/run.ts), also the one whose orders bench/encoding.ts encodes. */
export const SHOP_ID = "7494000000000283300";
/** The push scenario's shop (bench/push.ts). */
export const PUSH_SHOP_ID = "7494000000000001000";

/** The product's default settle delay (SYNC_SETTLE_SECONDS): a change is read this long after it. */
export const SETTLE_SECONDS = 30;
/** The dataset ends this long before the run, so no generated order falls inside a tick's window. */
export const DATASET_AGE_SECONDS = 600;
