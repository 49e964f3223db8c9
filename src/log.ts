import { pino, type Logger, type LevelWithSilent } from "pino";
import { prettyFactory } from "pino-pretty";
import { writeTerminalLog } from "./cli/terminal-log.js";

export const LOG_LEVELS: readonly LevelWithSilent[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/**
 * JSON logs on stderr (stdout carries the summary), pretty ones for a human at a terminal. We never
 * log credentials or headers; the redaction below is a second line of defence, not the first.
 */
export function createLogger(level: LevelWithSilent, destination?: string): Logger {
  const options = {
    level,
    base: undefined,
    redact: { paths: ["apiKey", "apiSecret", "authorization", "*.apiKey", "*.apiSecret", "*.authorization", "headers"], censor: "[redacted]" },
  };
  if (destination) return pino(options, pino.destination({ dest: destination, mkdir: true, sync: false, mode: 0o600 }));
  if (process.stderr.isTTY) {
    // Prettified in this thread and written synchronously, so a progress bar can keep each line
    // above itself and the summary always comes after the last log line.
    const pretty = prettyFactory({ colorize: true, singleLine: true });
    return pino(options, { write: (line: string) => writeTerminalLog(pretty(line)) });
  }
  return pino(options, pino.destination({ dest: 2, sync: false }));
}
