/**
 * TokenManager + DynamoTokenRepository on DynamoDB Local: the single-flight refresh across many
 * instances (Lambdas, workers), failure handling and lease takeover. TikTok's auth host is a fake.
 */
import { randomUUID } from "node:crypto";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { type Clock, unixSeconds } from "../../shared/clock";
import { DynamoTokenRepository, legacyTokenKey, tokenKey } from "../../shared/store/token-repository";
import {
  TikTokAuthError,
  TikTokReauthRequiredError,
  TikTokServerError,
  TokenRefreshFailedError,
} from "../../shared/tiktok/api-errors";
import { API_CODES, API_PATHS, type TokenData } from "../../shared/tiktok/api-types";
import type { TikTokAuthClient } from "../../shared/tiktok/auth-client";
import {
  type StoredTokenPair,
  TokenManager,
  type TokenManagerDeps,
  type TokenPair,
  type TokenRepository,
} from "../../shared/tiktok/tokens";
import { createTestResources, type TestResources } from "../support/local-aws";

let resources: TestResources;
let offsetMs = 0;
/** Real time plus a test-controlled offset, shared by the managers and the repository. */
const clock: Clock = { nowMs: () => Date.now() + offsetMs };

beforeAll(async () => {
  resources = await createTestResources({ label: "tokens" });
});
afterAll(() => resources.destroy());
beforeEach(() => {
  offsetMs = 0;
});

/** Polls a condition (no fixed sleeps): resolves as soon as it holds. */
async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function deferred() {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { promise, release };
}

/** A stand-in for TikTok's auth host: counts calls, can be held (slow) or made to fail. */
class FakeAuthClient implements Pick<TikTokAuthClient, "refresh"> {
  calls = 0;
  readonly seenRefreshTokens: string[] = [];
  gate: Promise<void> | undefined;
  failWith: (() => Error) | undefined;

  constructor(private readonly label = "new") {}

  async refresh(refreshToken: string): Promise<TokenData> {
    this.calls += 1;
    this.seenRefreshTokens.push(refreshToken);
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith();
    const now = unixSeconds(clock);
    return {
      access_token: `${this.label}-access-${this.calls}`,
      access_token_expire_in: now + 7 * 24 * 3600,
      refresh_token: `${this.label}-refresh-${this.calls}`,
      refresh_token_expire_in: now + 365 * 24 * 3600,
      open_id: "open",
      seller_name: "seller",
      seller_base_region: "GB",
      user_type: 0,
      granted_scopes: [],
    };
  }
}

/** Counts reads, to know when waiting instances are polling. */
class CountingRepository implements TokenRepository {
  gets = 0;
  constructor(private readonly inner: TokenRepository) {}
  get(shopId: string) {
    this.gets += 1;
    return this.inner.get(shopId);
  }
  claimRefresh(shopId: string, version: number, owner: string, untilMs: number) {
    return this.inner.claimRefresh(shopId, version, owner, untilMs);
  }
  saveRefreshed(shopId: string, version: number, pair: TokenPair) {
    return this.inner.saveRefreshed(shopId, version, pair);
  }
  savePending(shopId: string, version: number, pair: TokenPair) {
    return this.inner.savePending(shopId, version, pair);
  }
  dropPending(shopId: string, version: number) {
    return this.inner.dropPending(shopId, version);
  }
  markNeedsReauth(shopId: string, version: number, reason: string) {
    return this.inner.markNeedsReauth(shopId, version, reason);
  }
  releaseClaim(shopId: string, version: number, owner: string) {
    return this.inner.releaseClaim(shopId, version, owner);
  }
  seed(shopId: string, pair: TokenPair) {
    return this.inner.seed(shopId, pair);
  }
}

function repository(): DynamoTokenRepository {
  return new DynamoTokenRepository({
    documents: resources.documents,
    tableName: resources.stateTable,
    clock,
  });
}

const newShop = () => `shop-${randomUUID().slice(0, 8)}`;

function pairExpiringIn(seconds: number, label = "old"): TokenPair {
  const now = unixSeconds(clock);
  return {
    accessToken: `${label}-access`,
    accessTokenExpiresAt: now + seconds,
    refreshToken: `${label}-refresh`,
    refreshTokenExpiresAt: now + 365 * 24 * 3600,
  };
}

function manager(
  shopId: string,
  overrides: Partial<TokenManagerDeps> & Pick<TokenManagerDeps, "authClient">,
) {
  return new TokenManager({
    authId: shopId,
    repository: repository(),
    clock,
    pollIntervalMs: 10,
    maxPollIntervalMs: 50,
    ...overrides,
  });
}

async function rawItem(shopId: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await resources.documents.send(
    new GetCommand({ TableName: resources.stateTable, Key: tokenKey(shopId), ConsistentRead: true }),
  );
  return Item;
}

describe("TokenManager on DynamoDB Local", () => {
  it("lets exactly one of 20 concurrent instances refresh an expired token; all get the new one", async () => {
    const shopId = newShop();
    const store = new CountingRepository(repository());
    await store.seed(shopId, pairExpiringIn(-10));
    const auth = new FakeAuthClient();
    const gate = deferred();
    auth.gate = gate.promise;
    const managers = Array.from({ length: 20 }, () =>
      manager(shopId, { authClient: auth, repository: store }),
    );

    const results = Promise.all(managers.map((m) => m.getAccessToken()));
    // Hold the winner's auth call until all 19 others have re-read the item at least once (waiting).
    await waitFor(() => auth.calls === 1 && store.gets >= 20 + 19);
    gate.release();

    const tokens = await results;
    expect(auth.calls).toBe(1);
    expect(auth.seenRefreshTokens).toEqual(["old-refresh"]);
    expect(new Set(tokens)).toEqual(new Set(["new-access-1"]));
    const stored = await repository().get(shopId);
    expect(stored).toMatchObject({ accessToken: "new-access-1", refreshToken: "new-refresh-1", version: 2 });
    expect(stored?.refreshingBy).toBeUndefined();
    expect(stored?.refreshingUntil).toBeUndefined();
  });

  it("uses a token far from expiry as is and refreshes one inside the refresh window", async () => {
    const fresh = newShop();
    const expiring = newShop();
    await repository().seed(fresh, pairExpiringIn(2 * 24 * 3600));
    await repository().seed(expiring, pairExpiringIn(1_800));
    const auth = new FakeAuthClient();

    await expect(manager(fresh, { authClient: auth }).getAccessToken()).resolves.toBe("old-access");
    expect(auth.calls).toBe(0);

    const m = manager(expiring, { authClient: auth, refreshBeforeExpirySeconds: 3_600 });
    await expect(m.getAccessToken()).resolves.toBe("new-access-1");
    await expect(m.getAccessToken()).resolves.toBe("new-access-1"); // cached, no second refresh
    expect(auth.calls).toBe(1);
    expect(await repository().get(expiring)).toMatchObject({ version: 2, accessToken: "new-access-1" });
  });

  it("keeps using a still-valid token when a proactive refresh fails", async () => {
    const shopId = newShop();
    await repository().seed(shopId, pairExpiringIn(1_800));
    const auth = new FakeAuthClient();
    auth.failWith = () => new TikTokServerError("auth host down", { endpoint: API_PATHS.tokenRefresh });
    const m = manager(shopId, { authClient: auth, sleep: async () => undefined, refreshAttempts: 2 });
    await expect(m.getAccessToken()).resolves.toBe("old-access");
    expect(auth.calls).toBe(2);
    // Cooldown: no new attempt on the next call.
    await expect(m.getAccessToken()).resolves.toBe("old-access");
    expect(auth.calls).toBe(2);
  });

  it("leaves the old pair intact and raises TokenRefreshFailedError after retries", async () => {
    const shopId = newShop();
    await repository().seed(shopId, pairExpiringIn(-10));
    const auth = new FakeAuthClient();
    auth.failWith = () => new TikTokServerError("auth host down", { endpoint: API_PATHS.tokenRefresh });
    const delays: number[] = [];
    const m = manager(shopId, {
      authClient: auth,
      refreshAttempts: 3,
      refreshBaseDelayMs: 100,
      random: () => 0.5,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    const error = await m.getAccessToken().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TokenRefreshFailedError);
    expect((error as Error).cause).toBeInstanceOf(TikTokServerError);
    expect(auth.calls).toBe(3);
    expect(delays).toEqual([50, 100]);
    const item = await rawItem(shopId);
    expect(item).toMatchObject({
      accessToken: "old-access",
      refreshToken: "old-refresh",
      version: 1,
    });
    expect(item?.refreshingBy).toBeUndefined();
    expect(item?.needsReauth).toBeUndefined();

    // Once the auth host is back, the next call refreshes normally.
    auth.failWith = undefined;
    await expect(m.getAccessToken()).resolves.toBe("new-access-4");
  });

  it("does not retry a configuration error (bad app secret) from the auth host", async () => {
    const shopId = newShop();
    await repository().seed(shopId, pairExpiringIn(-10));
    const auth = new FakeAuthClient();
    auth.failWith = () => new TikTokAuthError("invalid app_key", { endpoint: API_PATHS.tokenRefresh });
    const m = manager(shopId, { authClient: auth, sleep: async () => undefined });
    await expect(m.getAccessToken()).rejects.toBeInstanceOf(TokenRefreshFailedError);
    expect(auth.calls).toBe(1);
  });

  it("stores needsReauth on 36004001 and then fails fast without calling TikTok", async () => {
    const shopId = newShop();
    await repository().seed(shopId, pairExpiringIn(-10));
    const auth = new FakeAuthClient();
    auth.failWith = () =>
      new TikTokReauthRequiredError("refresh token expired", {
        endpoint: API_PATHS.tokenRefresh,
        code: API_CODES.refreshTokenExpired,
      });
    const first = manager(shopId, { authClient: auth });
    await expect(first.getAccessToken()).rejects.toBeInstanceOf(TikTokReauthRequiredError);
    expect(auth.calls).toBe(1);
    const item = await rawItem(shopId);
    expect(item).toMatchObject({ needsReauth: true, version: 1, accessToken: "old-access" });
    expect(String(item?.reauthReason)).toContain("refresh token expired");

    await expect(first.getAccessToken()).rejects.toBeInstanceOf(TikTokReauthRequiredError);
    const other = manager(shopId, { authClient: auth });
    await expect(other.getAccessToken()).rejects.toBeInstanceOf(TikTokReauthRequiredError);
    await expect(other.refreshAfterRejection("old-access")).rejects.toBeInstanceOf(TikTokReauthRequiredError);
    expect(auth.calls).toBe(1);
  });

  it("takes over when the claimer dies (its lease runs out); the late claimer's result loses", async () => {
    const shopId = newShop();
    await repository().seed(shopId, pairExpiringIn(-10));
    const deadAuth = new FakeAuthClient("dead");
    const hung = deferred();
    deadAuth.gate = hung.promise;
    const dead = manager(shopId, { authClient: deadAuth, leaseMs: 5_000, ownerId: "dead-lambda" });
    const deadResult = dead.getAccessToken();
    await waitFor(async () => (await rawItem(shopId))?.refreshingBy === "dead-lambda");

    const store = new CountingRepository(repository());
    const auth = new FakeAuthClient("taker");
    const taker = manager(shopId, { authClient: auth, repository: store, leaseMs: 5_000 });
    const takerResult = taker.getAccessToken();
    await waitFor(() => store.gets >= 3); // it found the live claim and is polling
    expect(auth.calls).toBe(0);

    offsetMs += 6_000; // the dead claimer's lease expires
    await expect(takerResult).resolves.toBe("taker-access-1");
    expect(auth.calls).toBe(1);
    expect(await repository().get(shopId)).toMatchObject({ version: 2, accessToken: "taker-access-1" });

    // The "dead" instance wakes up: its save is refused (version moved) and it adopts the stored pair.
    hung.release();
    await expect(deadResult).resolves.toBe("taker-access-1");
    expect(await repository().get(shopId)).toMatchObject({ version: 2, accessToken: "taker-access-1" });
  });

  it("after a rejection, uses a pair another instance already rotated instead of refreshing again", async () => {
    const shopId = newShop();
    await repository().seed(shopId, pairExpiringIn(2 * 24 * 3600));
    const auth = new FakeAuthClient();
    const a = manager(shopId, { authClient: auth });
    const b = manager(shopId, { authClient: auth });
    await expect(a.getAccessToken()).resolves.toBe("old-access");
    await expect(b.refreshAfterRejection("old-access")).resolves.toBe("new-access-1");
    await expect(a.refreshAfterRejection("old-access")).resolves.toBe("new-access-1");
    expect(auth.calls).toBe(1);
  });

  it("seeds the TOKEN item on first use, and asks for authorization when there is none", async () => {
    const shopId = newShop();
    const auth = new FakeAuthClient();
    const seeded = manager(shopId, { authClient: auth, initialPair: pairExpiringIn(2 * 24 * 3600, "env") });
    await expect(seeded.getAccessToken()).resolves.toBe("env-access");
    expect(await repository().get(shopId)).toMatchObject({ version: 1, refreshToken: "env-refresh" });
    // Seeding never overwrites a stored (possibly rotated) pair.
    expect(await repository().seed(shopId, pairExpiringIn(100, "other"))).toBe(false);

    await expect(manager(newShop(), { authClient: auth }).getAccessToken()).rejects.toBeInstanceOf(
      TikTokReauthRequiredError,
    );
  });
});

describe("authorization-keyed TOKEN item", () => {
  it("adopts the pair an older release kept per shop (SHOP#<id>/TOKEN) instead of seeding the stale env pair", async () => {
    const authId = newShop();
    const shopId = newShop();
    const legacy = pairExpiringIn(2 * 24 * 3600, "rotated");
    await resources.documents.send(
      new PutCommand({
        TableName: resources.stateTable,
        Item: { ...legacyTokenKey(shopId), ...legacy, version: 5, refreshingBy: "gone", refreshingUntil: 1 },
      }),
    );
    const repo = repository();
    const auth = new FakeAuthClient();
    const m = manager(authId, {
      authClient: auth,
      repository: repo,
      initialPair: pairExpiringIn(2 * 24 * 3600, "env"),
      migrate: () => repo.adoptLegacy(authId, ["not-there", shopId]),
    });
    await expect(m.getAccessToken()).resolves.toBe("rotated-access");
    const item = await rawItem(authId);
    expect(item).toMatchObject({ pk: `AUTH#${authId}`, version: 5, refreshToken: "rotated-refresh" });
    expect(item?.refreshingBy).toBeUndefined();
    expect(auth.calls).toBe(0);
    // Only once: an existing authorization item is never overwritten by a legacy one.
    expect(await repo.adoptLegacy(authId, [shopId])).toBe(false);
  });
});

describe("DynamoTokenRepository conditions", () => {
  it("claims on the current version only, respects a live lease, and lets an expired one go", async () => {
    const shopId = newShop();
    const repo = repository();
    await repo.seed(shopId, pairExpiringIn(100));
    const now = clock.nowMs();
    expect(await repo.claimRefresh(shopId, 2, "a", now + 1_000)).toBe(false); // wrong version
    expect(await repo.claimRefresh(shopId, 1, "a", now + 1_000)).toBe(true);
    expect(await repo.claimRefresh(shopId, 1, "b", now + 1_000)).toBe(false); // live lease of a
    expect(await repo.claimRefresh(shopId, 1, "a", now + 2_000)).toBe(true); // a renews
    offsetMs += 2_500;
    expect(await repo.claimRefresh(shopId, 1, "b", clock.nowMs() + 1_000)).toBe(true); // expired: b takes it
    expect(await repo.releaseClaim(shopId, 1, "a")).toBe(false); // not a's any more
    expect(await repo.saveRefreshed(shopId, 2, pairExpiringIn(100, "x"))).toBe(false);
    expect(await repo.saveRefreshed(shopId, 1, pairExpiringIn(100, "x"))).toBe(true);
    const stored: StoredTokenPair | undefined = await repo.get(shopId);
    expect(stored).toMatchObject({ version: 2, accessToken: "x-access" });
    expect(stored?.refreshingBy).toBeUndefined();
    expect(await repo.claimRefresh(newShop(), 1, "a", now)).toBe(false); // no item: nothing created
  });

  it("refuses claims on a pair that needs re-authorization until a new authorization is stored", async () => {
    const shopId = newShop();
    const repo = repository();
    await repo.seed(shopId, pairExpiringIn(100));
    expect(await repo.markNeedsReauth(shopId, 1, "36004001")).toBe(true);
    expect(await repo.claimRefresh(shopId, 1, "a", clock.nowMs() + 1_000)).toBe(false);
    await repo.storeAuthorized(shopId, pairExpiringIn(1_000, "reauthorized"));
    const stored = await repo.get(shopId);
    expect(stored).toMatchObject({ version: 2, accessToken: "reauthorized-access" });
    expect(stored?.needsReauth).toBeUndefined();
  });
});
