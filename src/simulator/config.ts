import { readFile } from "node:fs/promises";
import { isLosslessNumber } from "lossless-json";
import { isInt64String, parseJsonExact, readInt64 } from "../paypay/int64.js";
import { validateFaultRates } from "./faults.js";
import { assertBudget } from "./ledger.js";
import { resolveRateLimit, type ResolvedRateLimit } from "./token-bucket.js";
import {
  CHANGED_BODY_ANSWERS,
  REPLAY_ANSWERS,
  type FaultRates,
  type SimulatorContract,
  type SimulatorCredentials,
  type SimulatorGroup,
  type SimulatorOptions,
  type SimulatorRateLimit,
} from "./types.js";

export const LOCAL_CREDENTIALS: SimulatorCredentials = { apiKey: "local-api-key", apiSecret: "local-api-secret", merchantId: "local-merchant" };
export const DEFAULT_GROUP: SimulatorGroup = { groupId: "29952775505428481", budget: 1_000_000, maxPeriodDays: 365, minAmount: 1 };
export const DEFAULT_CREATE_PATH = "/v1/points_code";
export const DEFAULT_BUDGET_PATH = "/v1/points_code/budget";
export const DEFAULT_CLOCK_SKEW_SECONDS = 120;
export const DEFAULT_SEED = 1;

export const DEFAULT_CONTRACT: Required<SimulatorContract> = { codeField: "giftCardCode", replay: "original", changedBody: "refused" };
/** The other fields of a success's data: the code cannot take one of their names. */
const DATA_FIELDS = ["requestId", "groupId", "giftCardName", "giftCardValue", "startAt", "endAt"];

export type ResolvedOptions = Required<Omit<SimulatorOptions, "maxInFlight" | "rateLimit" | "contract">> & {
  contract: Required<SimulatorContract>;
  maxInFlight: number;
  rateLimit: ResolvedRateLimit | undefined;
};

function assertNonNegative(value: number, name: string, integer = false): void {
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isSafeInteger(value))) {
    throw new Error(`${name} must be a non-negative ${integer ? "integer" : "number"}, got ${String(value)}`);
  }
}

function assertPath(path: string, name: string): void {
  if (!path.startsWith("/") || path.includes("?") || path.includes("#"))
    throw new Error(`${name} must be a path starting with "/" and without a query, got "${path}"`);
}

function assertGroup(group: SimulatorGroup, index: number): void {
  const where = `groups[${index}]`;
  if (typeof group.groupId !== "string" || !isInt64String(group.groupId))
    throw new Error(`${where}.groupId must be a decimal int64, got ${String(group.groupId)}`);
  assertBudget(group.budget);
  assertNonNegative(group.maxPeriodDays, `${where}.maxPeriodDays`, true);
  assertNonNegative(group.minAmount, `${where}.minAmount`, true);
}

function assertCredentials(credentials: SimulatorCredentials): void {
  for (const field of ["apiKey", "apiSecret", "merchantId"] as const) {
    if (typeof credentials[field] !== "string" || credentials[field].length === 0) throw new Error(`credentials.${field} must be a non-empty string`);
  }
  // The Authorization header is colon-separated: a key with a colon could never be parsed back.
  if (credentials.apiKey.includes(":")) throw new Error("credentials.apiKey must not contain ':'");
}

/** Applies defaults and refuses anything the server could not honour, naming the option. */
export function resolveOptions(options: SimulatorOptions = {}): ResolvedOptions {
  const resolved: ResolvedOptions = {
    credentials: options.credentials ?? LOCAL_CREDENTIALS,
    groups: options.groups ?? [DEFAULT_GROUP],
    createPath: options.createPath ?? DEFAULT_CREATE_PATH,
    budgetPath: options.budgetPath ?? DEFAULT_BUDGET_PATH,
    latencyMs: options.latencyMs ?? 0,
    jitterMs: options.jitterMs ?? 0,
    faults: options.faults ?? {},
    seed: options.seed ?? DEFAULT_SEED,
    maxInFlight: options.maxInFlight ?? Number.POSITIVE_INFINITY,
    rateLimit: options.rateLimit === undefined ? undefined : resolveRateLimit(options.rateLimit),
    clockSkewSeconds: options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
    clockOffsetSeconds: options.clockOffsetSeconds ?? 0,
    contract: { ...DEFAULT_CONTRACT, ...stripUndefined(options.contract ?? {}) },
    now: offsetClock(options.now ?? Date.now, options.clockOffsetSeconds ?? 0),
  };
  assertCredentials(resolved.credentials);
  resolved.groups.forEach(assertGroup);
  const ids = new Set(resolved.groups.map((group) => group.groupId));
  if (ids.size !== resolved.groups.length) throw new Error("groups must not repeat a groupId");
  assertPath(resolved.createPath, "createPath");
  assertPath(resolved.budgetPath, "budgetPath");
  if (resolved.createPath === resolved.budgetPath) throw new Error("createPath and budgetPath must differ");
  assertNonNegative(resolved.latencyMs, "latencyMs");
  assertNonNegative(resolved.jitterMs, "jitterMs");
  validateFaultRates(resolved.faults);
  if (!Number.isSafeInteger(resolved.seed)) throw new Error(`seed must be an integer, got ${String(resolved.seed)}`);
  if (resolved.maxInFlight !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(resolved.maxInFlight) || resolved.maxInFlight < 1)) {
    throw new Error(`maxInFlight must be a positive integer, got ${String(resolved.maxInFlight)}`);
  }
  assertNonNegative(resolved.clockSkewSeconds, "clockSkewSeconds");
  if (!Number.isFinite(resolved.clockOffsetSeconds)) throw new Error(`clockOffsetSeconds must be a number, got ${String(resolved.clockOffsetSeconds)}`);
  assertContract(resolved.contract);
  return resolved;
}

function assertContract(contract: Required<SimulatorContract>): void {
  if (typeof contract.codeField !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(contract.codeField) || DATA_FIELDS.includes(contract.codeField)) {
    throw new Error(`codeField must be a field name other than ${DATA_FIELDS.join(", ")}, got ${String(contract.codeField)}`);
  }
  if (!(REPLAY_ANSWERS as readonly string[]).includes(contract.replay))
    throw new Error(`replay must be one of ${REPLAY_ANSWERS.join(", ")}, got ${String(contract.replay)}`);
  if (!(CHANGED_BODY_ANSWERS as readonly string[]).includes(contract.changedBody)) {
    throw new Error(`changedBody must be one of ${CHANGED_BODY_ANSWERS.join(", ")}, got ${String(contract.changedBody)}`);
  }
}

/** A server whose clock is off by `seconds`: its signature check and its Date header both move. */
function offsetClock(now: () => number, seconds: number): () => number {
  return seconds === 0 ? now : () => now() + seconds * 1000;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

// ---- JSON config file -------------------------------------------------------------------------

const CONFIG_KEYS = [
  "credentials",
  "groups",
  "createPath",
  "budgetPath",
  "latencyMs",
  "jitterMs",
  "faults",
  "seed",
  "maxInFlight",
  "rateLimit",
  "clockSkewSeconds",
  "clockOffsetSeconds",
  "codeField",
  "replay",
  "changedBody",
] as const;
const RATE_LIMIT_KEYS = ["ratePerSecond", "burst", "retryAfterSeconds"] as const;

function asObject(value: unknown, where: string): Record<string, unknown> {
  // Numbers arrive as LosslessNumber objects: they are not objects here.
  if (typeof value !== "object" || value === null || Array.isArray(value) || isLosslessNumber(value)) throw new Error(`${where} must be a JSON object`);
  return value as Record<string, unknown>;
}

function asNumber(value: unknown, where: string): number {
  const n = isLosslessNumber(value) ? Number(value.value) : value;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new Error(`${where} must be a number`);
  return n;
}

function asString(value: unknown, where: string): string {
  if (typeof value !== "string") throw new Error(`${where} must be a string`);
  return value;
}

/** A bare JSON number keeps every digit; a quoted id is accepted too, since hand-written files quote. */
function asInt64(value: unknown, where: string): string {
  const id = typeof value === "string" ? value : readInt64(value);
  if (id === undefined || !isInt64String(id)) throw new Error(`${where} must be an int64`);
  return id;
}

function readGroup(value: unknown, where: string): SimulatorGroup {
  const fields = asObject(value, where);
  for (const key of Object.keys(fields)) {
    if (!["groupId", "budget", "maxPeriodDays", "minAmount"].includes(key)) throw new Error(`${where}.${key} is not a group setting`);
  }
  if (fields.groupId === undefined) throw new Error(`${where}.groupId is required`);
  return {
    groupId: asInt64(fields.groupId, `${where}.groupId`),
    budget: fields.budget === undefined ? DEFAULT_GROUP.budget : asNumber(fields.budget, `${where}.budget`),
    maxPeriodDays: fields.maxPeriodDays === undefined ? DEFAULT_GROUP.maxPeriodDays : asNumber(fields.maxPeriodDays, `${where}.maxPeriodDays`),
    minAmount: fields.minAmount === undefined ? DEFAULT_GROUP.minAmount : asNumber(fields.minAmount, `${where}.minAmount`),
  };
}

function readFaults(value: unknown): FaultRates {
  const fields = asObject(value, "faults");
  const faults: Record<string, number> = {};
  for (const [kind, rate] of Object.entries(fields)) faults[kind] = asNumber(rate, `faults.${kind}`);
  validateFaultRates(faults);
  return faults;
}

function readRateLimit(value: unknown): SimulatorRateLimit {
  const fields = asObject(value, "rateLimit");
  for (const key of Object.keys(fields)) {
    if (!(RATE_LIMIT_KEYS as readonly string[]).includes(key))
      throw new Error(`rateLimit.${key} is not a rate limit setting; expected ${RATE_LIMIT_KEYS.join(", ")}`);
  }
  if (fields.ratePerSecond === undefined) throw new Error("rateLimit.ratePerSecond is required");
  const limit: SimulatorRateLimit = { ratePerSecond: asNumber(fields.ratePerSecond, "rateLimit.ratePerSecond") };
  if (fields.burst !== undefined) limit.burst = asNumber(fields.burst, "rateLimit.burst");
  if (fields.retryAfterSeconds !== undefined) limit.retryAfterSeconds = asNumber(fields.retryAfterSeconds, "rateLimit.retryAfterSeconds");
  resolveRateLimit(limit);
  return limit;
}

function readConfig(value: unknown): SimulatorOptions {
  const fields = asObject(value, "the configuration");
  for (const key of Object.keys(fields)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) throw new Error(`unknown setting "${key}"; expected one of ${CONFIG_KEYS.join(", ")}`);
  }
  const options: SimulatorOptions = {};
  if (fields.credentials !== undefined) {
    const c = asObject(fields.credentials, "credentials");
    options.credentials = {
      apiKey: asString(c.apiKey, "credentials.apiKey"),
      apiSecret: asString(c.apiSecret, "credentials.apiSecret"),
      merchantId: asString(c.merchantId, "credentials.merchantId"),
    };
  }
  if (fields.groups !== undefined) {
    if (!Array.isArray(fields.groups)) throw new Error("groups must be an array");
    options.groups = fields.groups.map((group, i) => readGroup(group, `groups[${i}]`));
  }
  if (fields.createPath !== undefined) options.createPath = asString(fields.createPath, "createPath");
  if (fields.budgetPath !== undefined) options.budgetPath = asString(fields.budgetPath, "budgetPath");
  if (fields.latencyMs !== undefined) options.latencyMs = asNumber(fields.latencyMs, "latencyMs");
  if (fields.jitterMs !== undefined) options.jitterMs = asNumber(fields.jitterMs, "jitterMs");
  if (fields.faults !== undefined) options.faults = readFaults(fields.faults);
  if (fields.seed !== undefined) options.seed = asNumber(fields.seed, "seed");
  if (fields.maxInFlight !== undefined) options.maxInFlight = asNumber(fields.maxInFlight, "maxInFlight");
  if (fields.rateLimit !== undefined) options.rateLimit = readRateLimit(fields.rateLimit);
  if (fields.clockSkewSeconds !== undefined) options.clockSkewSeconds = asNumber(fields.clockSkewSeconds, "clockSkewSeconds");
  if (fields.clockOffsetSeconds !== undefined) options.clockOffsetSeconds = asNumber(fields.clockOffsetSeconds, "clockOffsetSeconds");
  if (fields.codeField !== undefined || fields.replay !== undefined || fields.changedBody !== undefined) {
    options.contract = {
      codeField: fields.codeField === undefined ? undefined : asString(fields.codeField, "codeField"),
      replay: fields.replay === undefined ? undefined : (asString(fields.replay, "replay") as SimulatorContract["replay"]),
      changedBody: fields.changedBody === undefined ? undefined : (asString(fields.changedBody, "changedBody") as SimulatorContract["changedBody"]),
    };
  }
  resolveOptions(options);
  return options;
}

/** Reads a simulator JSON file; every error names the file and the setting. */
export async function loadSimulatorConfig(path: string): Promise<SimulatorOptions> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new Error(`Cannot read simulator config ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseJsonExact(text);
  } catch (error) {
    throw new Error(`Simulator config ${path} is not valid JSON: ${(error as Error).message}`);
  }
  try {
    return readConfig(value);
  } catch (error) {
    throw new Error(`Simulator config ${path}: ${(error as Error).message}`);
  }
}
