/**
 * Issue 16 item 8: a refreshed token pair is never lost. TikTok's emulator rotates the pair on refresh and
 * retires the old refresh token (as TikTok does), so a new pair that never reaches the TOKEN item means
 * the seller must re-authorize. Saves are made to fail at the document client (throttling, timeouts) on
 * DynamoDB Local; the auth calls go to the emulator's auth host over HTTP.
 *
 * `it.failing` marks a test that reproduces a bug not fixed yet; the fix flips it to `it`.
 */
import { randomUUID } from "node:crypto";
import { ProvisionedThroughputExceededException } from "@aws-sdk/client-dynamodb";
import { type DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { startTikTokEmulator, type TikTokEmulator } from "../../infra/local/tiktok-emulator";
import { systemClock, unixSeconds } from "../../shared/clock";
import { DynamoTokenRepository } from "../../shared/store/token-repository";
import { API_PATHS } from "../../shared/tiktok/api-types";
import { HttpTikTokAuthClient } from "../../shared/tiktok/auth-client";
import { createTikTokClient } from "../../shared/tiktok/client";
import { AdaptiveRateLimiter } from "../../shared/tiktok/rate-limiter";
import { TokenManager, type TokenManagerDeps } from "../../shared/tiktok/tokens";
import { Deadline, DeadlineExceededError } from "../../shared/time-budget";
import { createTestResources, type TestResources } from "../support/local-aws";

jest.setTimeout(60_000);

const clock = systemClock;
let resources: TestResources;
let emulator: TikTokEmulator;
let authId: string;
let refreshCalls = 0;

beforeAll(async () => {
  resources = await createTestResources({ label: "token-save" });
  emulator = await startTikTokEmulator({ seed: 3, shops: [{ id: "shop-t", orders: 3 }], log: () => {} });
});
afterAll(async () => {
  await emulator.stop();
  resources.destroy();
});
beforeEach(async () => {
  authId = `seller-${randomUUID().slice(0, 8)}`;
  refreshCalls = 0;
  // A pair TikTok issued; our record says its access token has expired, so the first call refreshes it.
  const issued = emulator.issueTokens();
  await repository().seed(authId, {
    accessToken: issued.access_token,
    accessTokenExpiresAt: unixSeconds(clock) - 10,
    refreshToken: issued.refresh_token,
    refreshTokenExpiresAt: issued.refresh_token_expire_in,
  });
});

function repository(documents: DynamoDBDocumentClient = resources.documents) {
  return new DynamoTokenRepository({ documents, tableName: resources.stateTable, clock });
}

function manager(
  documents: DynamoDBDocumentClient = resources.documents,
  options: Partial<TokenManagerDeps> = {},
) {
  return new TokenManager({
    authId,
    repository: repository(documents),
    authClient: new HttpTikTokAuthClient({
      authBaseUrl: emulator.authBaseUrl,
      appKey: emulator.appKey,
      appSecret: emulator.appSecret,
      clock,
      onApiCall: (event) => {
        if (event.endpoint === API_PATHS.tokenRefresh) refreshCalls += 1;
      },
    }),
    clock,
    leaseMs: 3_000,
    pollIntervalMs: 10,
    saveBaseDelayMs: 5,
    ...options,
  });
}

interface FailurePlan {
  /** Saves of a refreshed pair to the TOKEN item (UpdateItem) that fail before one is let through. */
  tokenSaves?: number;
  /** Writes of the pending copy (PutItem) that fail. */
  pendingWrites?: number;
}

/** The real document client, except that writes of the plan fail first: throttled, or timed out. */
function failing(plan: FailurePlan) {
  const remaining = { tokenSaves: plan.tokenSaves ?? 0, pendingWrites: plan.pendingWrites ?? 0 };
  const failed = { tokenSaves: 0, pendingWrites: 0 };
  const send = async (command: Parameters<DynamoDBDocumentClient["send"]>[0]) => {
    if (command instanceof UpdateCommand && command.input.Key?.sk === "TOKEN" && remaining.tokenSaves > 0) {
      if (String(command.input.UpdateExpression).includes("accessToken =")) {
        remaining.tokenSaves -= 1;
        failed.tokenSaves += 1;
        throw failed.tokenSaves % 2 === 1 ? throttled() : timedOut();
      }
    }
    if (
      command instanceof PutCommand &&
      String(command.input.Item?.sk).startsWith("TOKEN_PENDING") &&
      remaining.pendingWrites > 0
    ) {
      remaining.pendingWrites -= 1;
      failed.pendingWrites += 1;
      throw throttled();
    }
    return resources.documents.send(command as never);
  };
  const client = new Proxy(resources.documents, {
    get: (target, property, receiver) =>
      property === "send" ? send : Reflect.get(target, property, receiver),
  });
  return { client, failed };
}

const throttled = () =>
  new ProvisionedThroughputExceededException({
    message: "The level of configured provisioned throughput for the table was exceeded.",
    $metadata: { httpStatusCode: 400 },
  });

function timedOut() {
  const error = new Error("socket hang up: request timed out");
  error.name = "TimeoutError";
  return error;
}

/** TikTok accepts `accessToken` (one authorized-shops call with it; no refresh fallback). */
async function expectAccepted(accessToken: string) {
  const client = createTikTokClient({
    baseUrl: emulator.baseUrl,
    appKey: emulator.appKey,
    appSecret: emulator.appSecret,
    tokens: {
      getAccessToken: async () => accessToken,
      refreshAfterRejection: async () => {
        throw new Error("TikTok rejected the access token");
      },
    },
    rateLimiter: new AdaptiveRateLimiter({ maxRps: 100, clock }),
    clock,
    retry: { maxAttempts: 1 },
  });
  expect((await client.getAuthorizedShops()).length).toBeGreaterThan(0);
}

/** No re-authorization needed: another instance refreshes the stored pair again (TikTok accepts its refresh token). */
async function expectRefreshableAgain() {
  const stored = await repository().get(authId);
  expect(stored?.needsReauth).toBeUndefined();
  const later = manager(resources.documents, { refreshBeforeExpirySeconds: 30 * 86_400 });
  const calls = refreshCalls;
  const token = await later.getAccessToken();
  expect(refreshCalls).toBe(calls + 1);
  expect((await repository().get(authId))?.version).toBe((stored?.version ?? 0) + 1);
  await expectAccepted(token);
}

/** Pending copies of the authorization still holding a pair (none once it is saved). */
async function pendingCopies(): Promise<number> {
  const { Items = [] } = await resources.documents.send(
    new QueryCommand({
      TableName: resources.stateTable,
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :pending)",
      ExpressionAttributeValues: { ":pk": `AUTH#${authId}`, ":pending": "TOKEN_PENDING" },
      ConsistentRead: true,
    }),
  );
  return Items.filter((item) => item.refreshToken !== undefined).length;
}

describe("a refreshed token pair survives failed saves (issue 16 item 8)", () => {
  it("saves that fail (throttled, timed out) are retried while the claim is held: the pair is stored", async () => {
    const { client, failed } = failing({ tokenSaves: 2 });
    const token = await manager(client).getAccessToken();
    expect(failed.tokenSaves).toBe(2);
    expect(refreshCalls).toBe(1);
    const stored = await repository().get(authId);
    expect(stored).toMatchObject({ version: 2, accessToken: token });
    expect(stored?.refreshingBy).toBeUndefined();
    expect(await pendingCopies()).toBe(0);
    await expectAccepted(token);
    await expectRefreshableAgain();
  });

  it("every save fails: the instance keeps working, and the next reader adopts the pending copy", async () => {
    const { client, failed } = failing({ tokenSaves: Number.POSITIVE_INFINITY });
    const token = await manager(client).getAccessToken();
    expect(failed.tokenSaves).toBeGreaterThanOrEqual(2);
    await expectAccepted(token);

    // Another Lambda: it reads the TOKEN item, adopts the pending pair, and makes no refresh of its own.
    const other = manager();
    expect(await other.getAccessToken()).toBe(token);
    expect(refreshCalls).toBe(1);
    expect(await repository().get(authId)).toMatchObject({ version: 2, accessToken: token });
    expect(await pendingCopies()).toBe(0);
    await expectRefreshableAgain();
  });

  it("the pending copy fails too: the pair lives on in memory and is stored at the instance's next read", async () => {
    const { client, failed } = failing({ tokenSaves: 5, pendingWrites: Number.POSITIVE_INFINITY });
    const instance = manager(client);
    const token = await instance.getAccessToken();
    expect(failed).toEqual({ tokenSaves: 5, pendingWrites: 1 });
    expect((await repository().get(authId))?.version).toBe(1);
    await expectAccepted(token);

    // DynamoDB takes writes again: the next call stores the pair before anything else.
    expect(await instance.getAccessToken()).toBe(token);
    expect(await repository().get(authId)).toMatchObject({ version: 2, accessToken: token });
    expect(refreshCalls).toBe(1);
    await expectRefreshableAgain();
  });

  it("no refresh starts without the time for the auth call and the saves", async () => {
    const before = await repository().get(authId);
    const short = Deadline.in(3_000);
    await expect(manager().getAccessToken({ deadline: short })).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(refreshCalls).toBe(0);
    expect(await repository().get(authId)).toEqual(before);

    // A token still valid but inside the refresh window is used as it is rather than refreshed in a hurry.
    const valid = emulator.issueTokens();
    const validAuth = `seller-${randomUUID().slice(0, 8)}`;
    await repository().seed(validAuth, {
      accessToken: valid.access_token,
      accessTokenExpiresAt: unixSeconds(clock) + 1_800,
      refreshToken: valid.refresh_token,
      refreshTokenExpiresAt: valid.refresh_token_expire_in,
    });
    let proactiveRefreshes = 0;
    const proactive = new TokenManager({
      authId: validAuth,
      repository: repository(),
      authClient: {
        refresh: async () => {
          proactiveRefreshes += 1;
          throw new Error("no refresh expected");
        },
      },
      clock,
      refreshAttempts: 1,
    });
    expect(await proactive.getAccessToken({ deadline: Deadline.in(3_000) })).toBe(valid.access_token);
    expect(proactiveRefreshes).toBe(0);
  });
});
