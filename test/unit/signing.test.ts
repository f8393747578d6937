/** The two test vectors of TIKTOK_API.md "Signing", and verification both ways. */
import { sign, stringToSign, verifySignature } from "../../shared/tiktok/signing";

const workedExample = {
  appSecret: "example_app_secret",
  path: "/order/202309/orders/search",
  query: {
    app_key: "example_app_key",
    timestamp: "1700000000",
    shop_cipher: "ROW_example",
    page_size: "100",
    sort_field: "update_time",
    sort_order: "ASC",
  },
  body: '{"update_time_ge":1699999700,"update_time_lt":1700000000}',
};
const WORKED_STRING_TO_SIGN =
  "example_app_secret/order/202309/orders/searchapp_keyexample_app_keypage_size100shop_cipherROW_example" +
  "sort_fieldupdate_timesort_orderASCtimestamp1700000000" +
  '{"update_time_ge":1699999700,"update_time_lt":1700000000}' +
  "example_app_secret";
const WORKED_SIGN = "94ed960082533761e5e2057d3cab322fafa26bb5f24362757844adc021501bea";

const docsVector = {
  appSecret: "e59af819cc",
  path: "/authorization/202309/shops",
  query: { app_key: "29a39d", timestamp: "1623812664" },
};
const DOCS_SIGN = "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8";

describe("TikTok request signing", () => {
  it("builds the worked example's string to sign exactly", () => {
    expect(stringToSign(workedExample)).toBe(WORKED_STRING_TO_SIGN);
  });

  it("signs the worked example", () => {
    expect(sign(workedExample)).toBe(WORKED_SIGN);
  });

  it("signs TikTok's documented vector (GET, no body)", () => {
    expect(sign(docsVector)).toBe(DOCS_SIGN);
    expect(sign({ ...docsVector, body: "" })).toBe(DOCS_SIGN);
  });

  it("leaves sign and access_token out of the signature", () => {
    const withExtras = { ...docsVector, query: { ...docsVector.query, sign: "x", access_token: "y" } };
    expect(sign(withExtras)).toBe(DOCS_SIGN);
  });

  it("verifies a correct signature", () => {
    expect(verifySignature(workedExample, WORKED_SIGN)).toBe(true);
    expect(verifySignature(docsVector, DOCS_SIGN)).toBe(true);
  });

  it("rejects a wrong, truncated or differently-cased signature", () => {
    expect(verifySignature(workedExample, DOCS_SIGN)).toBe(false);
    expect(verifySignature(workedExample, WORKED_SIGN.slice(0, 63))).toBe(false);
    expect(verifySignature(workedExample, WORKED_SIGN.toUpperCase())).toBe(false);
    expect(verifySignature(workedExample, "")).toBe(false);
  });

  it("rejects a signature when the body, a parameter or the secret differs", () => {
    expect(verifySignature({ ...workedExample, body: `${workedExample.body} ` }, WORKED_SIGN)).toBe(false);
    expect(
      verifySignature({ ...workedExample, query: { ...workedExample.query, page_size: "50" } }, WORKED_SIGN),
    ).toBe(false);
    expect(verifySignature({ ...workedExample, appSecret: "other" }, WORKED_SIGN)).toBe(false);
  });
});
