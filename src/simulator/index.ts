export type {
  FaultKind,
  FaultRates,
  LedgerEntry,
  Simulator,
  SimulatorCredentials,
  SimulatorGroup,
  SimulatorOptions,
  SimulatorStats,
} from "./types.js";
export { DEFAULT_BUDGET_PATH, DEFAULT_CREATE_PATH, DEFAULT_GROUP, LOCAL_CREDENTIALS, loadSimulatorConfig } from "./config.js";
export { FAULT_KINDS } from "./faults.js";
export { ADMIN_BUDGET_PATH, ADMIN_LEDGER_PATH } from "./admin.js";
export { createSimulator } from "./server.js";
export { isLoopbackHost } from "../loopback.js";
