import { createReadStream } from "node:fs";
import { UsageError } from "../errors.js";
import { inputReadError } from "./read-records.js";

/**
 * Input encodings: UTF-8 (with or without BOM) and Shift_JIS as Excel in Japan saves it (CP932, a
 * superset of Shift_JIS). `auto` reads the file once with a strict UTF-8 decoder: a file that is
 * valid UTF-8 throughout is UTF-8, anything else is taken as CP932.
 */

export type InputEncoding = "utf8" | "cp932";
export type EncodingChoice = InputEncoding | "auto";

const NAMES: Record<string, EncodingChoice> = {
  auto: "auto",
  utf8: "utf8",
  "utf-8": "utf8",
  cp932: "cp932",
  "shift_jis": "cp932",
  "shift-jis": "cp932",
  sjis: "cp932",
  "windows-31j": "cp932",
  ms932: "cp932",
};

export const ENCODING_NAMES = Object.keys(NAMES);

export function parseEncoding(text: string): EncodingChoice {
  const choice = NAMES[text.toLowerCase()];
  if (!choice) throw new UsageError(`Expected --encoding to be one of ${ENCODING_NAMES.join(", ")}, got ${JSON.stringify(text)}`);
  return choice;
}

export function describeEncoding(encoding: InputEncoding): string {
  return encoding === "utf8" ? "UTF-8" : "Shift_JIS (CP932)";
}

export async function detectEncoding(file: string): Promise<InputEncoding> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  try {
    for await (const chunk of createReadStream(file)) decoder.decode(chunk as Buffer, { stream: true });
    decoder.decode();
    return "utf8";
  } catch (error) {
    if (error instanceof TypeError) return "cp932"; // the strict decoder met a non-UTF-8 sequence
    throw inputReadError(file, error);
  }
}

export async function resolveEncoding(file: string, choice: EncodingChoice): Promise<InputEncoding> {
  return choice === "auto" ? detectEncoding(file) : choice;
}
