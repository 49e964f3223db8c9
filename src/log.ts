import { pino, type Logger, type LevelWithSilent } from "pino";

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
  if (process.stderr.isTTY) return pino({ ...options, transport: { target: "pino-pretty", options: { destination: 2, colorize: true } } });
  return pino(options, pino.destination({ dest: 2, sync: false }));
}
