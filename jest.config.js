/** Jest: @swc/jest transpiles TypeScript (type checking is `npm run typecheck`). */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const swc = ["@swc/jest", { jsc: { target: "es2022" }, module: { type: "commonjs" } }];

module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // @middy/core ships ES modules only: let swc turn it into CommonJS like our own code.
  transform: { "^.+\\.ts$": swc, "/node_modules/@middy/.+\\.js$": swc },
  transformIgnorePatterns: ["/node_modules/(?!@middy/)"],
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/support/global-teardown.ts",
  // The longest suites first, even on a clean clone without jest's cache of durations.
  testSequencer: "<rootDir>/test/support/longest-first-sequencer.js",
  // Generous: DynamoDB Local is slow on 2 shared cores; tests wait on conditions, never on time.
  testTimeout: 240_000,
  maxWorkers: 2,
};
