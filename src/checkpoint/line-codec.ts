import { crc32 } from "node:zlib";
import type { OutcomeRecord } from "./records.js";

/**
 * One record per line: `<crc32 as 8 hex digits> <json>\n`. The checksum tells a record torn by a
 * crash (or damaged later) from a good one; the newline tells a complete write from a partial one.
 */

export function encodeLine(record: object): Buffer {
  return encodeJson(JSON.stringify(record));
}

/**
 * The line of an outcome record: `{"t":"outcome",…outcome,"at":…}`, the same bytes as encodeLine
 * of that record, without building it: spreading the outcome into a new object, and writing that
 * object, cost about twice what writing the outcome as it is does (issue #15).
 */
export function encodeOutcomeLine(outcome: Omit<OutcomeRecord, "t" | "at">, at: string): Buffer {
  const json = JSON.stringify(outcome);
  return encodeJson(`{"t":"outcome",${json.slice(1, -1)},"at":${JSON.stringify(at)}}`);
}

function encodeJson(json: string): Buffer {
  // Every request writes two records: the JSON is encoded once, into the line's own buffer, and
  // checksummed there, with no joined string or second copy of it.
  const jsonBytes = Buffer.byteLength(json, "utf8");
  const line = Buffer.allocUnsafe(jsonBytes + 10);
  line.write(json, 9, "utf8");
  let crc = crc32(line.subarray(9, 9 + jsonBytes));
  for (let i = 7; i >= 0; i--) {
    line[i] = HEX_CHAR[crc & 0xf] as number;
    crc >>>= 4;
  }
  line[8] = 0x20;
  line[9 + jsonBytes] = 0x0a;
  return line;
}

const HEX_CHAR = Buffer.from("0123456789abcdef", "latin1");

/** The record in a line (without its newline), or undefined when the checksum or JSON is wrong. */
export function decodeLine(line: Buffer): unknown {
  if (line.length < 10 || line[8] !== 0x20) return undefined;
  // Replay decodes every record of a million-row journal: the checksum is read from the bytes
  // directly (lower-case hex only, as encodeLine writes it), not through a regex and two strings.
  let expected = 0;
  for (let i = 0; i < 8; i++) {
    const digit = HEX_DIGIT[line[i] ?? 0] ?? -1;
    if (digit < 0) return undefined;
    expected = expected * 16 + digit;
  }
  if (crc32(line.subarray(9)) !== expected) return undefined;
  try {
    return JSON.parse(line.toString("utf8", 9));
  } catch {
    return undefined;
  }
}

const HEX_DIGIT = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) HEX_DIGIT["0123456789abcdef".charCodeAt(i)] = i;
