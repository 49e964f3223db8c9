export type {
  FaultKind,
  FaultRates,
  LedgerEntry,
  Simulator,
  SimulatorContract,
  SimulatorCredentials,
  SimulatorGroup,
  SimulatorOptions,
  SimulatorStats,
} from "./types.js";
export { DEFAULT_BUDGET_PATH, DEFAULT_CREATE_PATH, DEFAULT_GROUP, LOCAL_CREDENTIALS, loadSimulatorConfig } from "./config.js";
export { FAULT_KINDS } from "./faults.js";
export { CHANGED_BODY_ANSWERS, REPLAY_ANSWERS } from "./types.js";
export { ADMIN_BUDGET_PATH, ADMIN_LEDGER_PATH } from "./admin.js";
export { createSimulator } from "./server.js";
export { isLoopbackHost } from "../loopback.js";
