import type { Argv, CommandModule, Options } from "yargs";
import { isInt64String } from "../../paypay/int64.js";
import {
  CHANGED_BODY_ANSWERS,
  createSimulator,
  DEFAULT_GROUP,
  isLoopbackHost,
  LOCAL_CREDENTIALS,
  loadSimulatorConfig,
  REPLAY_ANSWERS,
  type FaultKind,
  type Simulator,
  type SimulatorContract,
  type SimulatorCredentials,
  type SimulatorGroup,
  type SimulatorOptions,
} from "../../simulator/index.js";
import { resolveRateLimit } from "../../simulator/token-bucket.js";
import type { SimulatorRateLimit } from "../../simulator/types.js";

/**
 * `simulator`: runs the local PayPay Points Code simulator in the foreground, for trying the tool
 * without PayPay credentials and for tests that need the server in another process.
 */

const FAULT_FLAGS: ReadonlyArray<readonly [flag: string, kind: FaultKind, what: string]> = [
  ["fault-rate-limit", "rateLimit", "429 RATE_LIMIT before commit"],
  ["fault-maintenance", "maintenance", "503 MAINTENANCE_MODE before commit"],
  ["fault-500-before", "error500BeforeCommit", "500 SERVICE_ERROR before commit"],
  ["fault-500-after", "error500AfterCommit", "500 INTERNAL_SERVER_ERROR after commit"],
  ["fault-reset-before", "resetBeforeCommit", "connection reset before commit"],
  ["fault-reset-after", "resetAfterCommit", "connection reset after commit"],
  ["fault-hang-after", "hangAfterCommit", "never answer after commit"],
  ["fault-truncate-after", "truncateAfterCommit", "half a response body after commit"],
];

/** Parsed flags, keyed as yargs gives them (dashed or camelCase; either is read). */
export type SimulatorCommandArgs = Record<string, unknown>;

export interface SimulatorCommandIo {
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  err: (line: string) => void;
}

const defaultIo: SimulatorCommandIo = {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

function camelCase(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Raw text of a flag; numeric flags are declared as strings so an error can quote what was typed. */
function flagText(args: SimulatorCommandArgs, flag: string): string | undefined {
  const value = args[flag] ?? args[camelCase(flag)];
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) throw new Error(`--${flag} was given more than once`);
  return String(value);
}

function numberFlag(args: SimulatorCommandArgs, flag: string, expected: string, valid: (n: number) => boolean): number | undefined {
  const text = flagText(args, flag);
  if (text === undefined) return undefined;
  const n = text.trim() === "" ? Number.NaN : Number(text);
  if (!Number.isFinite(n) || !valid(n)) throw new Error(`Expected --${flag} to be ${expected}, got "${text}"`);
  return n;
}

const nonNegativeInteger = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

function integerFlag(args: SimulatorCommandArgs, flag: string, min = 0): number | undefined {
  return numberFlag(args, flag, min === 0 ? "a non-negative integer" : `an integer of at least ${min}`, (n) => nonNegativeInteger(n) && n >= min);
}

function credentialsFrom(env: NodeJS.ProcessEnv, io: SimulatorCommandIo): { credentials: SimulatorCredentials; secretSource: "env" | "local" } | undefined {
  const { PAYPAY_API_KEY: apiKey, PAYPAY_API_SECRET: apiSecret, PAYPAY_MERCHANT_ID: merchantId } = env;
  if (apiKey && apiSecret && merchantId) return { credentials: { apiKey, apiSecret, merchantId }, secretSource: "env" };
  if (apiKey || apiSecret || merchantId) {
    io.err("note: PAYPAY_API_KEY, PAYPAY_API_SECRET and PAYPAY_MERCHANT_ID are not all set; the simulator uses its local credentials");
  }
  return undefined;
}

/**
 * Flags name one group. Without a config file it replaces the default group; with one it
 * overrides the group of the same id (or the file's only group), or a new --group-id is added.
 */
function groupsFrom(args: SimulatorCommandArgs, base: SimulatorGroup[] | undefined): SimulatorGroup[] | undefined {
  const groupId = flagText(args, "group-id");
  if (groupId !== undefined && !isInt64String(groupId)) throw new Error(`Expected --group-id to be a decimal int64, got "${groupId}"`);
  const budget = integerFlag(args, "budget");
  const maxPeriodDays = integerFlag(args, "max-period-days");
  const minAmount = integerFlag(args, "min-amount");
  if (groupId === undefined && budget === undefined && maxPeriodDays === undefined && minAmount === undefined) return base;

  const groups = base ?? [];
  if (groupId === undefined && groups.length > 1) {
    throw new Error("--budget, --max-period-days and --min-amount need --group-id when --config defines several groups");
  }
  const targetId = groupId ?? groups[0]?.groupId ?? DEFAULT_GROUP.groupId;
  const existing = groups.find((group) => group.groupId === targetId) ?? { ...DEFAULT_GROUP, groupId: targetId };
  const merged: SimulatorGroup = {
    groupId: targetId,
    budget: budget ?? existing.budget,
    maxPeriodDays: maxPeriodDays ?? existing.maxPeriodDays,
    minAmount: minAmount ?? existing.minAmount,
  };
  return [...groups.filter((group) => group.groupId !== targetId), merged];
}

/**
 * --limit-rate, --limit-burst and --limit-retry-after: a server-side rate limit. They override the
 * config file's rateLimit field by field; --limit-burst and --limit-retry-after need a rate.
 */
function rateLimitFrom(args: SimulatorCommandArgs, base: SimulatorRateLimit | undefined): SimulatorRateLimit | undefined {
  const ratePerSecond = numberFlag(args, "limit-rate", "a positive number of requests per second", (n) => n > 0);
  const burst = numberFlag(args, "limit-burst", "a number of at least 1", (n) => n >= 1);
  const retryAfterSeconds = integerFlag(args, "limit-retry-after");
  if (ratePerSecond === undefined && burst === undefined && retryAfterSeconds === undefined) return base;
  const rate = ratePerSecond ?? base?.ratePerSecond;
  if (rate === undefined) throw new Error("--limit-burst and --limit-retry-after need --limit-rate (or a rateLimit in --config)");
  const limit: SimulatorRateLimit = { ratePerSecond: rate };
  const chosenBurst = burst ?? base?.burst;
  if (chosenBurst !== undefined) limit.burst = chosenBurst;
  const chosenRetryAfter = retryAfterSeconds ?? base?.retryAfterSeconds;
  if (chosenRetryAfter !== undefined) limit.retryAfterSeconds = chosenRetryAfter;
  return limit;
}

function choiceFlag<T extends string>(args: SimulatorCommandArgs, flag: string, choices: readonly T[]): T | undefined {
  const text = flagText(args, flag);
  if (text !== undefined && !(choices as readonly string[]).includes(text))
    throw new Error(`Expected --${flag} to be one of ${choices.join(", ")}, got "${text}"`);
  return text as T | undefined;
}

/** --code-field, --replay and --changed-body: where this simulator departs from the contract's assumptions. */
function contractFrom(args: SimulatorCommandArgs, base: SimulatorContract | undefined): SimulatorContract | undefined {
  const codeField = flagText(args, "code-field");
  const replay = choiceFlag(args, "replay", REPLAY_ANSWERS);
  const changedBody = choiceFlag(args, "changed-body", CHANGED_BODY_ANSWERS);
  if (codeField === undefined && replay === undefined && changedBody === undefined) return base;
  return {
    ...base,
    ...(codeField === undefined ? {} : { codeField }),
    ...(replay === undefined ? {} : { replay }),
    ...(changedBody === undefined ? {} : { changedBody }),
  };
}

/** Builds the options from --config, then flags, then the environment's credentials. */
export async function simulatorOptionsFromArgs(
  args: SimulatorCommandArgs,
  io: SimulatorCommandIo = defaultIo,
): Promise<{ options: SimulatorOptions; secretNote: string }> {
  const configPath = flagText(args, "config");
  const options: SimulatorOptions = configPath === undefined ? {} : await loadSimulatorConfig(configPath);

  const groups = groupsFrom(args, options.groups);
  if (groups !== undefined) options.groups = groups;
  const latencyMs = integerFlag(args, "latency-ms");
  if (latencyMs !== undefined) options.latencyMs = latencyMs;
  const jitterMs = integerFlag(args, "jitter-ms");
  if (jitterMs !== undefined) options.jitterMs = jitterMs;
  const seed = numberFlag(args, "seed", "an integer", Number.isSafeInteger);
  if (seed !== undefined) options.seed = seed;
  const maxInFlight = integerFlag(args, "max-in-flight", 1);
  if (maxInFlight !== undefined) options.maxInFlight = maxInFlight;
  const rateLimit = rateLimitFrom(args, options.rateLimit);
  if (rateLimit !== undefined) options.rateLimit = rateLimit;
  const createPath = flagText(args, "create-path");
  if (createPath !== undefined) options.createPath = createPath;
  const budgetPath = flagText(args, "budget-path");
  if (budgetPath !== undefined) options.budgetPath = budgetPath;
  const clockOffsetSeconds = numberFlag(args, "clock-offset", "a number of seconds", Number.isFinite);
  if (clockOffsetSeconds !== undefined) options.clockOffsetSeconds = clockOffsetSeconds;
  const contract = contractFrom(args, options.contract);
  if (contract !== undefined) options.contract = contract;
  for (const [flag, kind] of FAULT_FLAGS) {
    const rate = numberFlag(args, flag, "a number between 0 and 1", (n) => n >= 0 && n <= 1);
    if (rate !== undefined) options.faults = { ...options.faults, [kind]: rate };
  }

  const fromEnv = credentialsFrom(io.env, io);
  if (fromEnv !== undefined) options.credentials = fromEnv.credentials;
  const credentials = options.credentials ?? LOCAL_CREDENTIALS;
  // Never echo a secret the user supplied: only the well-known local one is safe to print.
  const secretNote =
    credentials.apiSecret === LOCAL_CREDENTIALS.apiSecret
      ? credentials.apiSecret
      : fromEnv !== undefined
        ? "(from PAYPAY_API_SECRET)"
        : `(from ${configPath ?? "configuration"})`;
  return { options, secretNote };
}

/** Starts the simulator from parsed flags and prints how to reach it; the caller closes it. */
export async function runSimulatorCommand(args: SimulatorCommandArgs, io: SimulatorCommandIo = defaultIo): Promise<Simulator> {
  const host = flagText(args, "host") ?? "127.0.0.1";
  if (!isLoopbackHost(host)) {
    throw new Error(`Refusing --host ${host}: the simulator has unauthenticated test endpoints, so it listens on loopback only (127.0.0.1, ::1, localhost)`);
  }
  const port = numberFlag(args, "port", "an integer between 0 and 65535", (n) => nonNegativeInteger(n) && n <= 65535) ?? 0;
  const { options, secretNote } = await simulatorOptionsFromArgs(args, io);

  const simulator = createSimulator(options);
  const baseUrl = await simulator.start(port, host);
  const credentials = options.credentials ?? LOCAL_CREDENTIALS;
  io.out(`PayPay simulator listening on ${baseUrl}`);
  io.out(`merchant id: ${credentials.merchantId}`);
  io.out(`api key: ${credentials.apiKey}`);
  io.out(`secret: ${secretNote}`);
  for (const group of simulator.budgets()) {
    io.out(`group ${group.groupId}: budget ${group.budget}, maxPeriodDays ${group.maxPeriodDays}, minAmount ${group.minAmount}`);
  }
  if (options.rateLimit !== undefined) {
    const { ratePerSecond, burst, retryAfterSeconds } = resolveRateLimit(options.rateLimit);
    const retryAfter = retryAfterSeconds === undefined ? "no Retry-After" : `Retry-After ${retryAfterSeconds} s`;
    io.out(`rate limit: ${ratePerSecond} requests/s, burst ${burst}, ${retryAfter}`);
  }
  const contract = options.contract ?? {};
  const departures = [
    options.createPath === undefined ? undefined : `create path ${options.createPath}`,
    options.budgetPath === undefined ? undefined : `budget path ${options.budgetPath}`,
    contract.codeField === undefined ? undefined : `code field ${contract.codeField}`,
    contract.replay === undefined ? undefined : `replay ${contract.replay}`,
    contract.changedBody === undefined ? undefined : `changed body ${contract.changedBody}`,
    options.clockOffsetSeconds ? `clock offset ${options.clockOffsetSeconds} s` : undefined,
  ].filter((text) => text !== undefined);
  if (departures.length > 0) io.out(`contract: ${departures.join(", ")}`);
  const faults = Object.entries(options.faults ?? {}).filter(([, rate]) => rate > 0);
  if (faults.length > 0) io.out(`faults: ${faults.map(([kind, rate]) => `${kind}=${rate}`).join(", ")}`);
  io.out("Stop with Ctrl+C.");
  return simulator;
}

function untilSignal(signals: readonly NodeJS.Signals[]): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      for (const s of signals) process.off(s, onSignal);
      resolve(signal);
    };
    for (const s of signals) process.on(s, onSignal);
  });
}

const valued = (describe: string, extra: Options = {}): Options => ({ type: "string", requiresArg: true, describe, ...extra });

export const simulatorCommand: CommandModule<object, SimulatorCommandArgs> = {
  command: "simulator",
  describe: "Run the local PayPay Points Code simulator (loopback only) until Ctrl+C",
  builder: (yargs: Argv<object>) => {
    let y = yargs
      .option("port", valued("Port to listen on (0 picks a free one)", { default: "0" }))
      .option("host", valued("Loopback address to listen on", { default: "127.0.0.1" }))
      .option("config", valued("Simulator settings JSON file (groups, faults, latency, paths…)"))
      .option("group-id", valued(`Group id (int64) of the single group the flags define [default: ${DEFAULT_GROUP.groupId}]`))
      .option("budget", valued(`Remaining budget of that group, JPY [default: ${DEFAULT_GROUP.budget}]`))
      .option("max-period-days", valued(`Longest startAt..endAt of that group, days [default: ${DEFAULT_GROUP.maxPeriodDays}]`))
      .option("min-amount", valued(`Smallest giftCardValue of that group [default: ${DEFAULT_GROUP.minAmount}]`))
      .option("latency-ms", valued("Added to every API request [default: 0]"))
      .option("jitter-ms", valued("Random extra delay, uniform in [0, jitter) [default: 0]"))
      .option("seed", valued("Seed for faults, jitter and codes [default: 1]"))
      .option("max-in-flight", valued("Answer 429 RATE_LIMIT beyond this many concurrent creates"))
      .option("limit-rate", valued("Answer 429 RATE_LIMIT to creates beyond this many requests/s (token bucket)"))
      .option("limit-burst", valued("Requests the rate limit admits back to back [default: one second's worth]"))
      .option("limit-retry-after", valued("Retry-After seconds sent with the rate limit's 429 [default: none]"))
      .option("create-path", valued("Create Points Code path [default: /v1/points_code]"))
      .option("budget-path", valued("Group budget path [default: /v1/points_code/budget]"))
      .option("code-field", valued("Field of a success's data holding the code [default: giftCardCode]"))
      .option("replay", valued("Same requestId and body again: original (the first answer) or refused (400) [default: original]", { choices: REPLAY_ANSWERS }))
      .option(
        "changed-body",
        valued("Same requestId, other body: refused (400), original (the first answer) or reissued (a second code, charged) [default: refused]", {
          choices: CHANGED_BODY_ANSWERS,
        }),
      )
      .option("clock-offset", valued("Seconds the simulator's clock runs ahead of this host's (negative: behind) [default: 0]"));
    for (const [flag, , what] of FAULT_FLAGS) y = y.option(flag, valued(`Probability 0..1 of ${what}`));
    return y
      .example("$0 simulator", "Serve the default group on a free loopback port")
      .example("$0 simulator --port 8080 --group-id 29952775505428481 --budget 50000", "One group with a 50,000 JPY budget")
      .example("$0 simulator --fault-500-after 0.05 --fault-rate-limit 0.1 --seed 7", "Rehearse retries against reproducible faults")
      .example("$0 simulator --latency-ms 20 --limit-rate 50 --limit-retry-after 1", "A gateway that admits 50 creates/s")
      .example("$0 simulator --config samples/simulator.json", "Several groups, latency and faults from a file")
      .example("$0 simulator --code-field code --replay refused", "A PayPay that disagrees with the assumed contract, for `verify`");
  },
  handler: async (args) => {
    // Listening for the signal before "Stop with Ctrl+C." is printed: a Ctrl+C right after it stops cleanly.
    const stopped = untilSignal(["SIGINT", "SIGTERM"]);
    const simulator = await runSimulatorCommand(args);
    await stopped;
    await simulator.close();
    process.exitCode = 0;
  },
};
