/** The TikTok Shop API emulator's public surface (see README.md). */
export { ADMIN_ROUTES } from "./admin";
export type { PageTokenRefusal } from "./api-refusals";
export {
  AdminRequestError,
  EmulatorConfigError,
  PAGE_TOKEN_REFUSAL_OTHER_CODE,
  PAGE_TOKEN_REFUSALS,
  PAGE_TOKEN_REFUSED,
  PAGE_TOKEN_REFUSED_GENERIC,
  PAGE_TOKEN_REFUSED_OTHER_CODE,
  TikTokApiError,
} from "./api-refusals";
export type {
  BurstOptions,
  ContinuousMutationOptions,
  DatasetOptions,
  EmulatorApp,
  EmulatorShopOptions,
  FaultKind,
  FaultRates,
  LastPageTokenStyle,
  PageFaultKind,
  PageTokenMode,
  PresetTokenPair,
  RuntimeOptions,
  TikTokEmulatorOptions,
} from "./config";
export {
  DEFAULT_APP,
  DEFAULT_RUNTIME_OPTIONS,
  defaultCipher,
  defaultShopId,
  FAULT_KINDS,
  PAGE_FAULT_KINDS,
} from "./config";
export type {
  AuthCodeOptions,
  ClockState,
  CorruptOrdersOptions,
  CreateOrdersOptions,
  EmulatorControl,
  FloodOptions,
  IssueTokensOptions,
  MutateOptions,
  OversizeOrdersOptions,
  SendWebhookOptions,
  TruthRange,
} from "./control";
export type { CountersSnapshot, Outcome, OutcomeCounts, RequestLogEntry } from "./counters";
export type { TikTokEmulator } from "./emulator";
export { startTikTokEmulator } from "./emulator";
export { ADMIN_BASE_PATH, AUTH_BASE_PATH } from "./endpoints";
export type { FailNextSpec } from "./faults";
export type { InvalidOrderField, OrderSummary } from "./order-store";
export { INVALID_ORDER_FIELDS } from "./order-store";
export type { WebhookCounters, WebhookDelivery, WebhookEnvelope, WebhookOptions } from "./webhooks";
export { DEFAULT_BULK_LINE_ITEMS, MAX_LINE_ITEMS } from "./world";
