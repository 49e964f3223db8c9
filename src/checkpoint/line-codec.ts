import { crc32 } from "node:zlib";

/**
 * One record per line: `<crc32 as 8 hex digits> <json>\n`. The checksum tells a record torn by a
 * crash (or damaged later) from a good one; the newline tells a complete write from a partial one.
 */

export function encodeLine(record: object): Buffer {
  const json = Buffer.from(JSON.stringify(record), "utf8");
  const prefix = Buffer.from(`${crc32(json).toString(16).padStart(8, "0")} `, "latin1");
  return Buffer.concat([prefix, json, NEWLINE]);
}

const NEWLINE = Buffer.from("\n");

/** The record in a line (without its newline), or undefined when the checksum or JSON is wrong. */
export function decodeLine(line: Buffer): unknown {
  if (line.length < 10 || line[8] !== 0x20) return undefined;
  const expected = Number.parseInt(line.subarray(0, 8).toString("latin1"), 16);
  const json = line.subarray(9);
  if (!/^[0-9a-f]{8}$/.test(line.subarray(0, 8).toString("latin1")) || crc32(json) !== expected) return undefined;
  try {
    return JSON.parse(json.toString("utf8"));
  } catch {
    return undefined;
  }
}
