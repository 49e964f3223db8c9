import type { Logger } from "pino";
import { Pacer, type RequestGate } from "../job/pacer.js";
import { RateController, type RateHistoryPoint } from "../job/rate-controller.js";

export interface PacingSettings {
  /** Requests per second, or "auto" to find PayPay's limit; undefined: --concurrency alone. */
  rate?: number | "auto";
  /** Ceiling for --rate auto (and the rate itself when --rate is not given). */
  maxRate?: number;
}

export interface Pacing {
  gate?: RequestGate;
  /** The adaptive controller, when --rate auto: its rate for the progress bar, its history for the summary. */
  controller?: RateController;
  /** Stops the periodic rate log line. */
  stop(): void;
}

/** Builds the gate the flags ask for; with --rate auto, logs the rate every 10 s while it runs. */
export function createPacing(settings: PacingSettings, logger: Logger): Pacing {
  if (settings.rate === "auto") {
    const controller = new RateController({ now: () => performance.now(), maxRate: settings.maxRate });
    const timer = setInterval(() => {
      logger.info(
        { rate: round(controller.rate), phase: controller.phase, estimatedLimit: controller.limit && round(controller.limit), ...controller.stats },
        "adaptive rate",
      );
    }, 10_000);
    timer.unref();
    return { gate: controller, controller, stop: () => clearInterval(timer) };
  }
  const fixed = settings.rate === undefined ? settings.maxRate : Math.min(settings.rate, settings.maxRate ?? Infinity);
  return { gate: fixed === undefined ? undefined : new Pacer(fixed), stop: () => undefined };
}

export function rateHistoryJson(history: readonly RateHistoryPoint[]): Array<{ atSeconds: number; rate: number; ok: number; throttled: number }> {
  return history.map((p) => ({ atSeconds: round(p.atMs / 1000), rate: round(p.rate), ok: p.ok, throttled: p.throttled }));
}

/** Two decimals, for figures people and scripts read. */
export function round(value: number): number {
  return Math.round(value * 100) / 100;
}
