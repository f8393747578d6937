/** Environment validation: every bad value named precisely, nothing echoed that could be a secret. */
import { ConfigError, parseConfig } from "../../shared/config";

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
});
