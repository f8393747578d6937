/**
 * The stack's settings file (deploy.config.json, infra/deploy-config.ts): parsed strictly, each bad
 * value named, defaults equal to today's deployment, and no `-c` override accepted.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { createApp } from "../../infra/app";
import {
  DEFAULT_DEPLOY_CONFIG_PATH,
  DEPLOY_SETTING_NAMES,
  DeployConfigError,
  type DeploySettingsInput,
  loadDeploySettings,
  parseDeploySettings,
} from "../../infra/deploy-config";
import { TikTokShopSyncStack } from "../../infra/stack";
import { buildApp, cdkJsonContext, FIXTURE_ENTRIES, testOutdir } from "./fixtures/synth";

const DEFAULTS = {
  stackName: "TikTokShopSync",
  scheduleMinutes: 5,
  reconcileIntervalHours: 24,
  tiktokApiBaseUrl: "https://open-api.tiktokglobalshop.com",
  tiktokAuthBaseUrl: "https://auth.tiktok-shops.com",
  maxRps: 5,
  workerConcurrency: 4,
  workerBatchSize: 1,
  overlapSeconds: 300,
  settleSeconds: 30,
  logLevel: "INFO",
  logRetentionDays: 30,
  apiThrottle: { rateLimit: 10, burstLimit: 20 },
  webhookThrottle: { rateLimit: 50, burstLimit: 100 },
  detailedMetrics: false,
};

/** The problems a raw settings object is refused for (fails the test if it is accepted). */
function problemsOf(raw: unknown): readonly string[] {
  try {
    parseDeploySettings(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(DeployConfigError);
    return (error as DeployConfigError).problems;
  }
  throw new Error(`accepted: ${JSON.stringify(raw)}`);
}

const templateOf = (stack: TikTokShopSyncStack) => Template.fromStack(stack).toJSON();

describe("deploy settings", () => {
  it("defaults every setting to today's deployment", () => {
    expect(parseDeploySettings({})).toEqual(DEFAULTS);
    // The stack built with no settings at all (its own defaults) is the stack the defaults build.
    const bare = new TikTokShopSyncStack(
      new App({ outdir: testOutdir(), context: { ...cdkJsonContext(), "aws:cdk:bundling-stacks": [] } }),
      "TikTokShopSync",
      {
        description: "TikTok Shop order sync: scheduled incremental sync, full resync fan-out, status API",
        entries: FIXTURE_ENTRIES,
      },
    );
    expect(templateOf(buildApp({}).stack)).toEqual(templateOf(bare));
  });

  it("the committed deploy.config.json is valid and deploys the defaults", () => {
    const committed = JSON.parse(fs.readFileSync(DEFAULT_DEPLOY_CONFIG_PATH, "utf8"));
    expect(loadDeploySettings()).toEqual(DEFAULTS);
    expect(templateOf(buildApp(committed).stack)).toEqual(templateOf(buildApp({}).stack));
  });

  it.each<[string, unknown, RegExp]>([
    ["a number out of range", { scheduleMinutes: 0 }, /^scheduleMinutes: must be at least 1 \(got 0\)$/],
    [
      "a reconciliation interval beyond a month",
      { reconcileIntervalHours: 721 },
      /^reconcileIntervalHours: must be at most 720 \(got 721\)$/,
    ],
    [
      "a negative reconciliation interval",
      { reconcileIntervalHours: -1 },
      /^reconcileIntervalHours: must be at least 0 \(got -1\)$/,
    ],
    [
      "a reconciliation interval as a duration string",
      { reconcileIntervalHours: "1d" },
      /^reconcileIntervalHours: must be a number \(got "1d"\)$/,
    ],
    ["a fraction", { workerConcurrency: 2.5 }, /^workerConcurrency: must be a whole number \(got 2.5\)$/],
    [
      "a number given as a string",
      { scheduleMinutes: "10" },
      /^scheduleMinutes: must be a number \(got "10"\)$/,
    ],
    [
      "a boolean given as a string",
      { storeRecipientData: "false" },
      /^storeRecipientData: must be true or false/,
    ],
    ["a bad e-mail", { alarmEmail: "ops" }, /^alarmEmail: must be an e-mail address \(got "ops"\)$/],
    [
      "a partial secret ARN",
      { tiktokSecretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tiktok" },
      /^tiktokSecretArn: must be a complete Secrets Manager secret ARN/,
    ],
    [
      "a bad nested value",
      { apiThrottle: { rateLimit: -1, burstLimit: 20 } },
      /^apiThrottle\.rateLimit: must be greater than 0 \(got -1\)$/,
    ],
    [
      "a webhook burst out of range",
      { webhookThrottle: { rateLimit: 50, burstLimit: 9000 } },
      /^webhookThrottle\.burstLimit: must be at most 5000 \(got 9000\)$/,
    ],
    [
      "a retention CloudWatch does not offer",
      { logRetentionDays: 31 },
      /^logRetentionDays: must be one of CloudWatch Logs' retention values: 1, 3, 5, 7, 14, 30,.* \(got 31\)$/,
    ],
    [
      "a bad log level",
      { logLevel: "TRACE" },
      /^logLevel: must be DEBUG, INFO, WARN or ERROR \(got "TRACE"\)$/,
    ],
    ["a bad stack name", { stackName: "1-sync" }, /^stackName: must start with a letter/],
    [
      "more than 10 messages per batch",
      { workerBatchSize: 11 },
      /^workerBatchSize: must be at most 10 \(got 11\)$/,
    ],
  ])("names the setting and the value for %s", (_case, raw, expected) => {
    const problems = problemsOf(raw);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(expected);
  });

  it("names settings the runtime refuses by setting and variable", () => {
    expect(problemsOf({ overlapSeconds: 40 })).toEqual([
      expect.stringMatching(/^overlapSeconds: SYNC_OVERLAP_SECONDS \(40\) must exceed SYNC_SETTLE_SECONDS/),
    ]);
    expect(problemsOf({ shopId: "1", shops: "2" })).toEqual([
      expect.stringMatching(/^shopId: TIKTOK_SHOP_ID and TIKTOK_SHOPS are both set/),
    ]);
  });

  it("reports every problem at once", () => {
    expect(problemsOf({ scheduleMinutes: 0, maxRps: 0, logLevel: "x" })).toHaveLength(3);
  });

  it("refuses unknown settings, also inside an object", () => {
    expect(problemsOf({ scheduleMinute: 5 })).toEqual([
      expect.stringMatching(/^unknown setting "scheduleMinute" \(known: stackName, scheduleMinutes, /),
    ]);
    expect(problemsOf({ apiThrottle: { rateLimit: 1, burstLimit: 2, burst: 3 } })).toEqual([
      expect.stringMatching(/^apiThrottle: unknown setting "burst"/),
    ]);
    expect(problemsOf([])[0]).toMatch(/^must be a JSON object of settings/);
  });

  it("refuses -c overrides of a setting (and settings left in cdk.json), pointing at the file", () => {
    expect(() => buildApp({}, { scheduleMinutes: "10" })).toThrow(
      /context "scheduleMinutes" \(-c scheduleMinutes=… or cdk\.json\) is not read: set "scheduleMinutes" in deploy\.config\.json/,
    );
    expect(() => buildApp({}, { "apiThrottle.rateLimit": "3" })).toThrow(
      /set "apiThrottle" in deploy\.config\.json/,
    );
    // CDK's own context (feature flags) is untouched.
    expect(() => buildApp({}, { "@aws-cdk/core:newStyleStackSynthesis": true })).not.toThrow();
  });

  it("every setting of the schema can be refused as a -c override", () => {
    for (const name of DEPLOY_SETTING_NAMES) {
      expect(() => buildApp({}, { [name]: "x" })).toThrow(DeployConfigError);
    }
  });

  describe("the file", () => {
    let dir: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "tss-deploy-config-"));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, text: string) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      return file;
    };

    it("names the file when it is missing, not JSON, or holds a bad value", () => {
      const missing = path.join(dir, "absent.json");
      expect(() => loadDeploySettings(missing)).toThrow(`${missing} could not be read`);
      expect(() => loadDeploySettings(write("broken.json", "{ scheduleMinutes: 5 }"))).toThrow(
        /broken\.json is not valid JSON/,
      );
      expect(() => loadDeploySettings(write("bad.json", '{ "scheduleMinutes": 2000 }'))).toThrow(
        /^bad\.json is invalid:\n {2}- scheduleMinutes: must be at most 1440 \(got 2000\)$/,
      );
    });

    it("builds the stack from the file the app reads", () => {
      const file = write(
        "ten.json",
        JSON.stringify({ scheduleMinutes: 10, stackName: "SyncB" } satisfies DeploySettingsInput),
      );
      expect(loadDeploySettings(file)).toEqual({ ...DEFAULTS, scheduleMinutes: 10, stackName: "SyncB" });
      const { stack } = createApp({
        settingsFile: file,
        context: { ...cdkJsonContext(), "aws:cdk:bundling-stacks": [] },
        entries: FIXTURE_ENTRIES,
        outdir: testOutdir(),
      });
      expect(stack.stackName).toBe("SyncB");
      Template.fromStack(stack).hasResourceProperties("AWS::Scheduler::Schedule", {
        ScheduleExpression: "rate(10 minutes)",
      });
    });
  });
});

describe("docs/deploy.md", () => {
  const doc = fs.readFileSync(path.resolve(__dirname, "../../docs/deploy.md"), "utf8");

  it("documents every setting of the file, with its default", () => {
    const defaults = parseDeploySettings({}) as Record<string, unknown>;
    for (const name of DEPLOY_SETTING_NAMES) {
      const row = doc.split("\n").find((line) => line.startsWith(`| \`${name}\` |`));
      expect({ name, row }).toEqual({ name, row: expect.any(String) });
      if (defaults[name] !== undefined) {
        const value = defaults[name];
        // Objects as the table writes them: { "rateLimit": 10, "burstLimit": 20 }.
        const shown =
          typeof value === "object"
            ? JSON.stringify(value).replace(/[{}]/g, "").replace(/:/g, ": ").replace(/,/g, ", ")
            : JSON.stringify(value);
        expect(row?.replace(/[{}`]/g, "").replace(/\s+/g, " ")).toContain(shown);
      }
    }
  });

  it("names every alarm and every output of the template", () => {
    const template = Template.fromStack(buildApp({}).stack).toJSON() as {
      Resources: Record<string, { Type: string; Properties: { AlarmName?: string } }>;
      Outputs: Record<string, unknown>;
    };
    const alarms = Object.values(template.Resources)
      .filter((resource) => resource.Type === "AWS::CloudWatch::Alarm")
      .map((resource) => (resource.Properties.AlarmName as string).replace(/^TikTokShopSync-/, ""));
    expect(alarms).toHaveLength(27);
    for (const alarm of alarms) {
      const family = alarm.replace(/-(tick|api|worker|reconcile|webhook-receiver|webhook-consumer)$/, "");
      expect({ alarm, documented: doc.includes(`\`${alarm}\``) || doc.includes(`\`${family}-`) }).toEqual({
        alarm,
        documented: true,
      });
    }
    expect(doc).toContain(`${alarms.length} alarms`);
    for (const output of Object.keys(template.Outputs)) expect(doc).toContain(`\`${output}\``);
  });
});
