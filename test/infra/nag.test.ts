/**
 * cdk-nag AwsSolutions over the whole app, offline. cdk-nag 3 is a policy-validation plugin (no longer
 * an Aspect writing annotations): infra/app.ts registers it at app level, synth fails on any finding,
 * and `validateScope` returns the findings for these assertions.
 */
import { type App, Stack, Validations } from "aws-cdk-lib";
import { Annotations, Match } from "aws-cdk-lib/assertions";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { AwsSolutionsChecks } from "cdk-nag";
import type { IConstruct } from "constructs";
import type { DeploySettingsInput } from "../../infra/deploy-config";
import { buildApp } from "./fixtures/synth";

const VARIANTS: Record<string, DeploySettingsInput> = {
  defaults: {},
  "shop, e-mail and imported secret": {
    shopId: "7495123",
    alarmEmail: "ops@example.com",
    tiktokSecretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tiktok-app-AbCdEf",
    scheduleMinutes: 1,
  },
};

function findings(app: App) {
  return new AwsSolutionsChecks().validateScope(app).violations;
}

function acknowledgements(root: IConstruct) {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          construct,
          id,
          reason,
        })),
      ),
  );
}

describe.each(Object.entries(VARIANTS))("cdk-nag AwsSolutions (%s)", (_variant, settings) => {
  let app: App;
  let stack: Stack;
  beforeAll(() => {
    ({ app, stack } = buildApp(settings));
    // Synthesis runs the app-level plugin too: it would throw on any unacknowledged finding.
    app.synth();
  });

  it("reports no unacknowledged error or warning", () => {
    const unacknowledged = findings(app).map(
      (finding) =>
        `${finding.severity} ${finding.ruleName}: ${finding.violatingResources.map((r) => r.constructPath)}`,
    );
    expect(unacknowledged).toEqual([]);
  });

  it("leaves no AwsSolutions annotation on the stack", () => {
    const pattern = Match.stringLikeRegexp("AwsSolutions-.*");
    expect(Annotations.fromStack(stack).findError("*", pattern)).toEqual([]);
    expect(Annotations.fromStack(stack).findWarning("*", pattern)).toEqual([]);
  });

  it("acknowledges each finding on the resource it concerns, with a specific reason", () => {
    const acknowledged = acknowledgements(app);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { construct, id, reason } of acknowledged) {
      expect(id).toMatch(/^(Annotation::)?AwsSolutions-/);
      expect(reason.length).toBeGreaterThan(40);
      // Never blanket: not on the app or the stack, and IAM5 only finding by finding.
      expect(construct).not.toBe(app);
      expect(Stack.isStack(construct)).toBe(false);
      if (id.includes("AwsSolutions-IAM5")) expect(id).toMatch(/IAM5\[Resource::.+\]$/);
    }
  });
});

it("fails synthesis on a new unacknowledged finding (the plugin really runs at app level)", () => {
  const { app, stack } = buildApp();
  stack.functions.tick.role.addToPrincipalPolicy(
    new PolicyStatement({ actions: ["s3:*"], resources: ["*"] }),
  );
  expect(() => app.synth()).toThrow(/AwsSolutions-IAM5/);
});
