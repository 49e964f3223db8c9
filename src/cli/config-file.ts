import { readFile } from "node:fs/promises";
import { isLosslessNumber } from "lossless-json";
import { UsageError } from "../errors.js";
import { parseJsonExact } from "../paypay/int64.js";
import { closest } from "./expect.js";

/**
 * `--config campaign.json`: every option but secrets, as camelCase keys. Parsed losslessly, so an
 * int64 `groupId` written as a bare number keeps every digit. Unknown keys are refused by name,
 * with the closest valid key suggested, and so are credentials (they belong in the environment).
 */

export const CONFIG_KEYS = [
  "campaign",
  "column",
  /** The older name of `column`, kept as an alias. */
  "columns",
  "value",
  "name",
  "groupId",
  "startAt",
  "endAt",
  "out",
  "state",
  "concurrency",
  "rate",
  "maxRate",
  "maxAttempts",
  "timeout",
  "allowPartial",
  "retryFailed",
  "acceptChanged",
  "maxTotal",
  "yes",
  "env",
  "baseUrl",
  "createPath",
  "budgetPath",
  "codeField",
  "replay",
  "logLevel",
  "logFile",
  "summaryJson",
  "encoding",
  "excel",
  "dryRun",
  "problemsCsv",
] as const;

export type ConfigKey = (typeof CONFIG_KEYS)[number];
export type ConfigValues = Partial<Record<ConfigKey, unknown>>;

const SECRET_KEYS = /^(api[-_]?key|api[-_]?secret|secret|password|merchant[-_]?id)$/i;

export async function loadConfigFile(file: string): Promise<ConfigValues> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`--config ${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = parseJsonExact(text.replace(/^\uFEFF/, ""));
  } catch (error) {
    throw new UsageError(`--config ${file}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new UsageError(`--config ${file}: expected a JSON object`);
  const values: ConfigValues = {};
  for (const [key, raw] of Object.entries(parsed)) {
    if (SECRET_KEYS.test(key)) {
      throw new UsageError(`--config ${file}: "${key}" must not be in a file; set PAYPAY_API_KEY, PAYPAY_API_SECRET and PAYPAY_MERCHANT_ID in the environment`);
    }
    if (key === "config") throw new UsageError(`--config ${file}: "config" cannot name another config file; merge the two`);
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      const suggestion = closest(key, CONFIG_KEYS);
      throw new UsageError(`--config ${file}: unknown key "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : ""}`);
    }
    values[key as ConfigKey] = plain(key, raw);
  }
  return values;
}

/** LosslessNumbers become decimal strings for `groupId` (int64) and numbers elsewhere. */
function plain(key: string, value: unknown): unknown {
  if (isLosslessNumber(value)) return key === "groupId" ? value.value : Number(value.value);
  if (Array.isArray(value)) return value.map((v) => plain(key, v));
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(k, v)]));
  return value;
}
