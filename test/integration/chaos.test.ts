/**
 * The chaos suite inside `npm test`: three fixed seeds of test/chaos/scenario.ts (a few thousand orders in
 * all), every fault at once; after the settle DynamoDB must equal the emulator's truth and the status
 * document must agree with what is stored. `npm run chaos -- --seeds N` runs more seeds.
 *
 * The first seed also damages the stored data after its checks passed and runs them again: they must find
 * each damage (the checks can fail).
 */
import { DeleteCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { describePlan, runChaos } from "../chaos/scenario";
import { testEndpoints } from "../support/local-aws";

jest.setTimeout(300_000);

const SEEDS = [101, 202, 303] as const;
const ORDERS = 1_000;

describe("chaos: whatever fails, nothing is lost, regressed or duplicated", () => {
  it.each(SEEDS)("seed %i settles equal to the truth, with status counters that agree", async (seed) => {
    const lines: string[] = [];
    const result = await runChaos({
      seed,
      orders: ORDERS,
      dynamodbEndpoint: testEndpoints().dynamodbEndpoint,
      deadlineMs: 280_000,
      print: (line) => lines.push(line),
      ...(seed === SEEDS[0]
        ? {
            afterChecks: async ({ runtime, ordersTable, shopId, truth }) => {
              const [gone, older] = truth;
              const documents = runtime.documents;
              await documents.send(
                new DeleteCommand({ TableName: ordersTable, Key: { shopId, orderId: gone?.id } }),
              );
              await documents.send(
                new UpdateCommand({
                  TableName: ordersTable,
                  Key: { shopId, orderId: older?.id },
                  UpdateExpression: "SET updateTime = updateTime - :one",
                  ExpressionAttributeValues: { ":one": 1 },
                }),
              );
              await documents.send(
                new PutCommand({
                  TableName: ordersTable,
                  Item: { shopId, orderId: "never-sold", updateTime: 1, createTime: 1, contentHash: "x" },
                }),
              );
            },
          }
        : {}),
    });
    // On failure the seed, its plan, the faults injected and every difference are in the message.
    const report = [
      describePlan(result.plan),
      `injected: ${JSON.stringify(result.injected)}`,
      ...lines,
      ...result.problems.map((problem) => `✖ ${problem}`),
    ].join("\n");
    expect({ seed, problems: result.problems, report: result.problems.length > 0 ? report : "" }).toEqual({
      seed,
      problems: [],
      report: "",
    });
    expect(result.stored).toBeGreaterThanOrEqual(ORDERS - result.plan.invalidOrders.length);
    // Everything the issue lists was injected in this run, not merely planned.
    const required = [
      "crash:after-upsert",
      "crash:after-window-transaction",
      "crash:after-send",
      "duplicatedSends",
      "sqsRestarts",
      "accessTokensExpired",
      "sameSecondBurstOrders",
      "deadLockHolders",
      "lockedTicks",
      "concurrentTicks",
      "ordersMutated",
      "api:serverError",
      "api:rateLimited",
      "api:malformedJson",
      "api:timeout",
      "api:connectionReset",
      "api:authError",
      "api:badRequest",
    ];
    const missing = required.filter((what) => !((result.injected[what] ?? 0) > 0));
    expect({ seed, notInjected: missing }).toEqual({ seed, notInjected: [] });
    expect(result.secrets.size).toBeGreaterThan(3);
    if (seed === SEEDS[0]) {
      const found = result.recheckProblems.join("\n");
      expect(found).toMatch(/missing orders: 1/);
      expect(found).toMatch(/stale orders: 1/);
      expect(found).toMatch(/extra orders: 1 \(never-sold\)/);
    }
  });
});
