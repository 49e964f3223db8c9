import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { TextDecoder } from "node:util";
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
  shift_jis: "cp932",
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

/**
 * Tells the input's encoding as its bytes go by: with `auto`, UTF-8 until the first sequence that
 * is not valid UTF-8, then CP932 for good.
 */
export class EncodingSniffer {
  private decoder: TextDecoder | undefined;
  private encoding: InputEncoding;

  constructor(choice: EncodingChoice) {
    this.decoder = choice === "auto" ? new TextDecoder("utf-8", { fatal: true }) : undefined;
    this.encoding = choice === "auto" ? "utf8" : choice;
  }

  /** False once the answer is known and no more bytes can change it. */
  get listening(): boolean {
    return this.decoder !== undefined;
  }

  feed(chunk: Buffer): void {
    if (this.decoder !== undefined && !decodes(this.decoder, chunk)) this.settle("cp932");
  }

  finish(): InputEncoding {
    if (this.decoder !== undefined && !decodes(this.decoder)) this.settle("cp932");
    this.decoder = undefined;
    return this.encoding;
  }

  private settle(encoding: InputEncoding): void {
    this.decoder = undefined;
    this.encoding = encoding;
  }
}

/**
 * One read of the input: detects its encoding when the choice is auto (stopping at the first
 * non-UTF-8 byte unless the digest still needs the rest), and hashes it (SHA-256) when asked.
 */
export async function scanInput(file: string, choice: EncodingChoice, withDigest: true): Promise<{ encoding: InputEncoding; digest: string }>;
export async function scanInput(file: string, choice: EncodingChoice, withDigest?: false): Promise<{ encoding: InputEncoding }>;
export async function scanInput(file: string, choice: EncodingChoice, withDigest = false): Promise<{ encoding: InputEncoding; digest?: string }> {
  const hash = withDigest ? createHash("sha256") : undefined;
  const sniffer = new EncodingSniffer(choice);
  if (hash === undefined && !sniffer.listening) return { encoding: sniffer.finish() };
  try {
    for await (const chunk of createReadStream(file)) {
      hash?.update(chunk as Buffer);
      sniffer.feed(chunk as Buffer);
      if (hash === undefined && !sniffer.listening) break;
    }
  } catch (error) {
    throw inputReadError(file, error);
  }
  const encoding = sniffer.finish();
  return hash === undefined ? { encoding } : { encoding, digest: hash.digest("hex") };
}

/** Feeds the strict decoder (the end of the input when no chunk): false at a non-UTF-8 sequence. */
function decodes(decoder: TextDecoder, chunk?: Buffer): boolean {
  try {
    if (chunk === undefined) decoder.decode();
    else decoder.decode(chunk, { stream: true });
    return true;
  } catch (error) {
    if (error instanceof TypeError) return false;
    throw error;
  }
}

export async function resolveEncoding(file: string, choice: EncodingChoice): Promise<InputEncoding> {
  return (await scanInput(file, choice)).encoding;
}
