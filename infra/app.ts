/**
 * The CDK app: one TikTokShopSyncStack, configured from `deploy.config.json` (infra/deploy-config.ts;
 * `-c` overrides of its settings are refused), checked by cdk-nag's AwsSolutions pack for the whole
 * app. Runs offline: no lookups, no account or region.
 *
 *   npx cdk synth --quiet     # or: npm run synth
 *   npx cdk deploy
 */
import { App, type AppProps, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import {
  DEFAULT_DEPLOY_CONFIG_PATH,
  type DeploySettings,
  loadDeploySettings,
  parseDeploySettings,
  rejectContextOverrides,
  toStackProps,
} from "./deploy-config";
import { type FunctionName, TikTokShopSyncStack } from "./stack";

export interface CreateAppOptions {
  readonly context?: AppProps["context"];
  /**
   * Raw settings, validated exactly as the file's content would be (tests); without them the file
   * `settingsFile` is read.
   */
  readonly settings?: unknown;
  /** @default deploy.config.json at the repository root */
  readonly settingsFile?: string;
  /** Entry file overrides (tests point these at a fixture). */
  readonly entries?: Partial<Record<FunctionName, string>>;
  /** Cloud assembly directory. @default the CLI's, or a fresh temporary directory */
  readonly outdir?: string;
}

export function createApp(options: CreateAppOptions = {}): {
  app: App;
  stack: TikTokShopSyncStack;
  settings: DeploySettings;
} {
  const app = new App({ context: options.context, outdir: options.outdir });
  rejectContextOverrides(Object.keys(app.node.getAllContext() as Record<string, unknown>));
  const settings =
    options.settings === undefined
      ? loadDeploySettings(options.settingsFile ?? DEFAULT_DEPLOY_CONFIG_PATH)
      : parseDeploySettings(options.settings, "settings");

  const stack = new TikTokShopSyncStack(app, settings.stackName, {
    description: "TikTok Shop order sync: scheduled incremental sync, full resync fan-out, status API",
    ...toStackProps(settings),
    entries: options.entries,
  });

  // cdk-nag 3 is a policy-validation plugin (it replaced the v2 Aspect): it runs over the whole app at
  // synth and fails it on any unacknowledged finding. Acknowledgements live in nag-suppressions.ts.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, settings };
}

// The CDK CLI sets CDK_OUTDIR, so the App synthesises itself when this process exits.
if (require.main === module) createApp();
