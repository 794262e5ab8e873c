/**
 * @zerodrop/server: the gateway. `createGateway` plus its configuration, stores and application
 * interface.
 */
export type { DeadLetter, DeviceMessage, GatewayApp, SessionEvent } from './app.js';
export {
  AUTH_FAILURE_REASONS,
  type Authenticator,
  type AuthResult,
  createHmacAuthenticator,
  signDeviceToken,
  verifyDeviceToken,
} from './auth.js';
export { describeSettings, type GatewayConfig, loadConfig, parseDuration, SETTINGS } from './config.js';
export { createTeddyApp } from './demo-app.js';
export { createGateway, type Gateway, type GatewayOptions, type ListenInfo } from './gateway.js';
export { createLogger, type Logger } from './logger.js';
export { MemoryResumeStore } from './store/memory-store.js';
export type {
  AppendOutcome,
  ExpiredSession,
  NewSession,
  ResumeStore,
  ResumeStoreMetrics,
  ResumeStoreOptions,
  SessionRecord,
  StoredMessage,
} from './store/resume-store.js';
