import { basename, dirname, extname, join } from "node:path";
import type { LevelWithSilent } from "pino";
import { UsageError } from "../errors.js";
import { REPLAY_BEHAVIOURS } from "../job/after-doubt.js";
import { parseColumnMap } from "../job/columns.js";
import type { IssueJobOptions } from "../job/issue-job.js";
import { isIsoDate } from "../dates.js";
import { characterCount, MAX_AMOUNT, MAX_NAME_CHARACTERS } from "../job/validate-row.js";
import { isInt64String } from "../paypay/int64.js";
import { ENVIRONMENT_NAMES, spendsRealMoney } from "../paypay/environments.js";
import { LOG_LEVELS } from "../log.js";
import { parseEncoding } from "../csv/encoding.js";
import type { ConfigValues } from "./config-file.js";
import { CONNECTION_DEFAULTS, type ConnectionSettings } from "./connection.js";
import type { PacingSettings } from "./pacing.js";
import { expectBoolean, expectInteger, expectOneOf, expectPositiveNumber, expectString } from "./expect.js";

/**
 * Resolves the `issue` (and `plan`) options, layered defaults < config file < flags, and checks each
 * one with a message that names the flag, what was expected and what was given.
 */

export interface IssueSettings {
  job: Omit<IssueJobOptions, "gate">;
  /** --rate N | auto and --max-rate; the command turns them into a RequestGate. */
  pacing: PacingSettings;
  connection: ConnectionSettings;
  /** Ask at the terminal before a production run moves money (unless --yes). */
  confirm: boolean;
  logLevel: LevelWithSilent;
  logFile?: string;
  summaryJson?: string;
  /** --problems-csv: every row problem of a refused input, as CSV (row, column, value, rule). */
  problemsCsv?: string;
}

/** Flags as yargs hands them over (camelCase aliases), undefined when not given. */
export type IssueFlags = Partial<Record<string, unknown>> & { csv: string };

export const ISSUE_DEFAULTS = {
  concurrency: 4,
  maxAttempts: 8,
  allowPartial: false,
  retryFailed: false,
  logLevel: "info" as LevelWithSilent,
};

export const CAMPAIGN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function defaultResultPath(input: string): string {
  const stem = basename(input, extname(input));
  return join(dirname(input), `${stem}.results.csv`);
}

export function defaultStatePath(out: string): string {
  const stem = basename(out, extname(out));
  return join(dirname(out), `${stem}.checkpoint`);
}

/**
 * `today`: yyyy-MM-dd in Asia/Tokyo (see cli/today.ts); an end date before it is refused, a start
 * date before it is allowed (the plan warns once). `interactive`: a person is at a terminal to
 * confirm a production run's total; without one, a production run must state --max-total.
 */
export function resolveIssueSettings(flags: IssueFlags, config: ConfigValues, today: string, interactive = false): IssueSettings {
  const pick = (key: keyof ConfigValues & string): unknown => flags[key] ?? config[key];

  const campaign = expectString("--campaign", pick("campaign"), CAMPAIGN_PATTERN, "1 to 64 letters, digits, '.', '_' or '-' (starting with a letter or digit)");
  const columnEntries = [...columnConfigEntries(config), ...((flags.column as string[] | undefined) ?? [])];
  const value = pick("value");
  const groupId = pick("groupId");
  if (groupId !== undefined && (typeof groupId !== "string" || !isInt64String(groupId) || groupId.startsWith("-") || groupId === "0")) {
    throw new UsageError(`Expected --group-id to be a positive 64-bit integer, got ${JSON.stringify(groupId)}`);
  }
  const dateFlag = (key: "startAt" | "endAt", flag: string): string | undefined => {
    const date = pick(key);
    return date === undefined ? undefined : checkedDate(flag, expectString(flag, date, undefined, "a date yyyy-MM-dd"));
  };
  const name = pick("name");
  const startAt = dateFlag("startAt", "--start-at");
  const endAt = dateFlag("endAt", "--end-at");
  // A default that every row may take is checked once here, so a bad one is one error, not one per row.
  if (startAt !== undefined && endAt !== undefined && endAt < startAt) {
    throw new UsageError(`Expected --end-at to be on or after --start-at (${startAt}), got ${JSON.stringify(endAt)}`);
  }
  if (endAt !== undefined && endAt < today) {
    throw new UsageError(
      `Expected --end-at to be today (${today}, Asia/Tokyo) or later, got ${JSON.stringify(endAt)}: a code that has already expired is useless`,
    );
  }

  const out = pick("out") === undefined ? defaultResultPath(flags.csv) : expectString("--out", pick("out"));
  const state = pick("state") === undefined ? defaultStatePath(out) : expectString("--state", pick("state"));
  if (state === out || state === flags.csv || out === flags.csv) throw new UsageError("--out, --state and the input file must be three different files");

  const rate = pick("rate");
  const env = expectOneOf("--env", pick("env") ?? CONNECTION_DEFAULTS.env, ENVIRONMENT_NAMES);
  const realMoney = spendsRealMoney(env, pick("baseUrl") === undefined ? undefined : String(pick("baseUrl")));
  const timeoutMs = pick("timeout") === undefined ? CONNECTION_DEFAULTS.timeoutMs : expectInteger("--timeout", pick("timeout"), 1, 600_000);

  return {
    job: {
      input: {
        file: flags.csv,
        encoding: parseEncoding(String(pick("encoding") ?? "auto")),
        campaign,
        columns: parseColumnMap(columnEntries),
        defaults: {
          amount: value === undefined ? undefined : expectInteger("--value", value, 1, MAX_AMOUNT),
          giftCardName: name === undefined ? undefined : checkedName(expectString("--name", name)),
          groupId: groupId as string | undefined,
          startAt,
          endAt,
        },
        today,
      },
      out,
      state,
      concurrency: expectInteger("--concurrency", pick("concurrency") ?? ISSUE_DEFAULTS.concurrency, 1, 1024),
      maxAttempts: expectInteger("--max-attempts", pick("maxAttempts") ?? ISSUE_DEFAULTS.maxAttempts, 1, 100),
      allowPartial: expectBoolean("--allow-partial", pick("allowPartial") ?? ISSUE_DEFAULTS.allowPartial),
      retryFailed: expectBoolean("--retry-failed", pick("retryFailed") ?? ISSUE_DEFAULTS.retryFailed),
      acceptChanged: expectBoolean("--accept-changed", pick("acceptChanged") ?? false),
      spend: {
        maxTotal: pick("maxTotal") === undefined ? undefined : expectInteger("--max-total", pick("maxTotal"), 0, Number.MAX_SAFE_INTEGER),
        capRequired: realMoney && !interactive,
      },
      format: expectBoolean("--excel", pick("excel") ?? false) ? "excel" : "plain",
      replay: expectOneOf("--replay", pick("replay") ?? "original", REPLAY_BEHAVIOURS),
    },
    pacing: {
      rate: rate === undefined ? undefined : parseRate(rate),
      maxRate: pick("maxRate") === undefined ? undefined : expectPositiveNumber("--max-rate", pick("maxRate"), 100_000),
    },
    connection: {
      env,
      baseUrl: pick("baseUrl") === undefined ? undefined : expectString("--base-url", pick("baseUrl")),
      createPath: expectString("--create-path", pick("createPath") ?? CONNECTION_DEFAULTS.createPath, /^\//, "a path starting with /"),
      budgetPath: expectString("--budget-path", pick("budgetPath") ?? CONNECTION_DEFAULTS.budgetPath, /^\//, "a path starting with /"),
      codeField: expectString("--code-field", pick("codeField") ?? CONNECTION_DEFAULTS.codeField),
      timeoutMs,
      budgetTimeoutMs: CONNECTION_DEFAULTS.budgetTimeoutMs,
    },
    confirm: realMoney && interactive && !expectBoolean("--yes", pick("yes") ?? false),
    logLevel: expectOneOf("--log-level", pick("logLevel") ?? ISSUE_DEFAULTS.logLevel, LOG_LEVELS),
    logFile: pick("logFile") === undefined ? undefined : expectString("--log-file", pick("logFile")),
    summaryJson: pick("summaryJson") === undefined ? undefined : expectString("--summary-json", pick("summaryJson")),
    problemsCsv: pick("problemsCsv") === undefined ? undefined : expectString("--problems-csv", pick("problemsCsv")),
  };
}

function parseRate(value: unknown): number | "auto" {
  if (value === "auto") return "auto";
  const rate = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
  if (!(rate > 0 && rate <= 100_000)) {
    throw new UsageError(`Expected --rate to be requests per second (more than 0, at most 100000) or auto, got ${JSON.stringify(value)}`);
  }
  return rate;
}

function checkedDate(flag: string, value: string): string {
  if (!isIsoDate(value)) throw new UsageError(`Expected ${flag} to be a real date written yyyy-MM-dd, got ${JSON.stringify(value)}`);
  return value;
}

function checkedName(value: string): string {
  const length = characterCount(value);
  if (length > MAX_NAME_CHARACTERS || value.trim() === "" || /[\u0000-\u001f\u007f-\u009f]/u.test(value)) {
    throw new UsageError(
      `Expected --name to be 1 to ${MAX_NAME_CHARACTERS} characters, not blank, without control characters, got ${JSON.stringify(value)} (${length} characters)`,
    );
  }
  return value;
}

/**
 * `column` in a config file, as the flag takes it: a list `["recipient_id=member_no"]`, or an
 * object `{"recipient_id": "member_no"}`. `columns` (the key's older name) is the same, an alias.
 */
function columnConfigEntries(config: ConfigValues): string[] {
  const entries: string[] = [];
  for (const key of ["columns", "column"] as const) {
    const value = config[key];
    if (value === undefined) continue;
    if (typeof value === "string") entries.push(value);
    else if (Array.isArray(value) && value.every((v) => typeof v === "string")) entries.push(...(value as string[]));
    else if (typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string")) {
      entries.push(...Object.entries(value).map(([k, v]) => `${k}=${String(v)}`));
    } else {
      throw new UsageError(
        `Expected "${key}" in the config file to be a list like ["recipient_id=member_no"] or an object like {"recipient_id": "member_no"}, got ${JSON.stringify(value)}`,
      );
    }
  }
  return entries;
}
