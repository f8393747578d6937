/** The TikTok Shop API emulator's public surface (see README.md). */
export { ADMIN_ROUTES } from "./admin";
export type {
  BurstOptions,
  ContinuousMutationOptions,
  DatasetOptions,
  EmulatorApp,
  EmulatorShopOptions,
  FaultKind,
  FaultRates,
  LastPageTokenStyle,
  PageTokenMode,
  PresetTokenPair,
  RuntimeOptions,
  TikTokEmulatorOptions,
} from "./config";
export { DEFAULT_APP, DEFAULT_RUNTIME_OPTIONS, defaultCipher, defaultShopId, FAULT_KINDS } from "./config";
export type { CountersSnapshot, Outcome, OutcomeCounts, RequestLogEntry } from "./counters";
export type {
  AuthCodeOptions,
  ClockState,
  CorruptOrdersOptions,
  CreateOrdersOptions,
  IssueTokensOptions,
  MutateOptions,
  TikTokEmulator,
  TruthRange,
} from "./emulator";
export { startTikTokEmulator } from "./emulator";
export { ADMIN_BASE_PATH, AUTH_BASE_PATH } from "./endpoints";
export { AdminRequestError, EmulatorConfigError, PAGE_TOKEN_REFUSED, TikTokApiError } from "./errors";
export type { FailNextSpec } from "./faults";
export type { InvalidOrderField, OrderSummary } from "./order-store";
export { INVALID_ORDER_FIELDS } from "./order-store";
