/** Environment validation: every bad value named precisely, nothing echoed that could be a secret. */
import { ConfigError, configuredShops, parseConfig } from "../../shared/config";

const valid = { TIKTOK_APP_KEY: "key", TIKTOK_APP_SECRET: "secret", TIKTOK_SHOP_ID: "shop-1" };

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig({ ...valid, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe("parseConfig", () => {
  it("applies the documented defaults", () => {
    const config = parseConfig(valid);
    expect(config).toMatchObject({
      PORT: 3000,
      SYNC_INTERVAL_SECONDS: 300,
      SYNC_OVERLAP_SECONDS: 300,
      SYNC_SETTLE_SECONDS: 30,
      TIKTOK_MAX_RPS: 5,
      TIKTOK_API_BASE_URL: "https://open-api.tiktokglobalshop.com",
      STORE_RECIPIENT_DATA: true,
    });
  });

  it.each([
    ["PORT", "abc", /^PORT must be a whole number/],
    ["PORT", "70000", /^PORT must be between 1 and 65535/],
    ["SYNC_INTERVAL_SECONDS", "-5", /^SYNC_INTERVAL_SECONDS must be a whole number/],
    ["TIKTOK_MAX_RPS", "0", /^TIKTOK_MAX_RPS must be greater than 0/],
    ["TIKTOK_MAX_RPS", "fast", /^TIKTOK_MAX_RPS must be a positive number/],
    ["TIKTOK_API_BASE_URL", "ftp://x", /^TIKTOK_API_BASE_URL must be an http\(s\) URL/],
    ["DYNAMODB_ENDPOINT", "localhost:8000", /^DYNAMODB_ENDPOINT must be an http\(s\) URL/],
    ["TIKTOK_SHOP_ID", "shop 1", /^TIKTOK_SHOP_ID must be 1-64 letters/],
    ["STORE_RECIPIENT_DATA", "maybe", /^STORE_RECIPIENT_DATA must be true or false/],
    ["SYNC_OVERLAP_SECONDS", "40", /^SYNC_OVERLAP_SECONDS \(40\) must exceed SYNC_SETTLE_SECONDS \(30\)/],
  ])("%s=%s is refused with a message naming it", (name, value, message) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it("requires app credentials unless a Secrets Manager ARN is given", () => {
    expect(() => parseConfig({ TIKTOK_SHOP_ID: "s" })).toThrow(
      /TIKTOK_APP_KEY and TIKTOK_APP_SECRET are required/,
    );
    expect(parseConfig({ TIKTOK_SECRET_ARN: "arn:aws:secretsmanager:x" }).TIKTOK_SECRET_ARN).toBeDefined();
  });

  it("reports several problems at once and never echoes a secret value", () => {
    try {
      parseConfig({ ...valid, TIKTOK_APP_SECRET: "   ", PORT: "x", TIKTOK_MAX_RPS: "y" });
      throw new Error("expected a ConfigError");
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const { problems, message } = error as ConfigError;
      expect(problems.length).toBeGreaterThanOrEqual(3);
      expect(message).toContain("TIKTOK_APP_SECRET must not be empty");
    }
  });

  it.each([
    ["SHOP_CONCURRENCY", "0", /^SHOP_CONCURRENCY must be between 1 and 100/],
    ["ORDER_RETENTION_DAYS", "ten", /^ORDER_RETENTION_DAYS must be a whole number/],
    ["ORDER_RETENTION_DAYS", "0", /^ORDER_RETENTION_DAYS must be between 1 and 36500/],
    ["TIKTOK_AUTHORIZATIONS", "a,b c", /^TIKTOK_AUTHORIZATIONS must be a comma list .*bad: b c/],
    ["TIKTOK_AUTHORIZATIONS", "a,a", /^TIKTOK_AUTHORIZATIONS names an authorization twice/],
  ])("%s=%s is refused with a message naming it", (name, value, message) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });
});

describe("shops and authorizations", () => {
  const base = { TIKTOK_APP_KEY: "key", TIKTOK_APP_SECRET: "secret" };
  const shopProblems = (env: Record<string, string>) => {
    try {
      parseConfig({ ...base, ...env });
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
  };

  it("keeps a single-shop configuration as it was: TIKTOK_SHOP_ID (+ cipher) under the default authorization", () => {
    expect(
      configuredShops(parseConfig({ ...base, TIKTOK_SHOP_ID: "s1", TIKTOK_SHOP_CIPHER: "ROW_1" })),
    ).toEqual([{ shopId: "s1", shopCipher: "ROW_1", authId: "default" }]);
    expect(configuredShops(parseConfig({ ...base, TIKTOK_SHOP_ID: "s1" }))).toEqual([
      { shopId: "s1", authId: "default" },
    ]);
  });

  it("discovers shops when none is configured", () => {
    const config = parseConfig(base);
    expect(configuredShops(config)).toBeUndefined();
    expect(config.TIKTOK_AUTHORIZATIONS).toEqual(["default"]);
  });

  it("reads TIKTOK_SHOPS as a comma list id[:cipher][@authorization] or as JSON", () => {
    const list = parseConfig({
      ...base,
      TIKTOK_AUTHORIZATIONS: "main,agency-b",
      TIKTOK_SHOPS: "s1:ROW_1, s2@agency-b,s3:ROW_3@main",
    });
    expect(configuredShops(list)).toEqual([
      { shopId: "s1", shopCipher: "ROW_1", authId: "main" },
      { shopId: "s2", authId: "agency-b" },
      { shopId: "s3", shopCipher: "ROW_3", authId: "main" },
    ]);
    const json = parseConfig({
      ...base,
      TIKTOK_AUTHORIZATIONS: "main,b",
      TIKTOK_SHOPS: '[{"shop_id":"s1","cipher":"ROW_1"},{"shop_id":"s2","auth":"b"}]',
    });
    expect(configuredShops(json)).toEqual([
      { shopId: "s1", shopCipher: "ROW_1", authId: "main" },
      { shopId: "s2", authId: "b" },
    ]);
  });

  it.each([
    ["s1,s1", /TIKTOK_SHOPS entry 2: shop s1 is listed twice/],
    ["s 1", /TIKTOK_SHOPS entry 1: expected shopId\[:cipher\]\[@authorization\]/],
    [
      "s1@other",
      /TIKTOK_SHOPS: shop s1 names authorization "other", which TIKTOK_AUTHORIZATIONS \(default\) does not list/,
    ],
    ["[{", /TIKTOK_SHOPS is not valid JSON/],
    ['[{"shop_id":"s1","cypher":"x"}]', /TIKTOK_SHOPS entry 1: unknown field\(s\) cypher/],
    ['[{"shop_id":7}]', /TIKTOK_SHOPS entry 1: shop id must be 1-64 letters/],
    ["s1:", /TIKTOK_SHOPS entry 1 \(s1\): cipher must be a non-empty string/],
  ])("TIKTOK_SHOPS=%s is refused precisely", (value, message) => {
    const problems = shopProblems({ TIKTOK_SHOPS: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it("refuses TIKTOK_SHOPS together with TIKTOK_SHOP_ID", () => {
    expect(shopProblems({ TIKTOK_SHOPS: "s1", TIKTOK_SHOP_ID: "s2" })).toEqual([
      "TIKTOK_SHOP_ID and TIKTOK_SHOPS are both set: list every shop in TIKTOK_SHOPS only",
    ]);
  });
});
