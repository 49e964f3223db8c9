import cliProgress from "cli-progress";
import type { IssueEvents } from "../job/apply-plan.js";

/**
 * A live progress bar on stderr, for a person at a terminal only: cron logs and pipes get nothing.
 * Counts rows settled in this run against the rows the plan will send.
 */
export interface Progress extends IssueEvents {
  stop(): void;
}

export function createProgress(total: number, adaptive?: { readonly rate: number }, stream: NodeJS.WriteStream = process.stderr): Progress | undefined {
  if (!stream.isTTY || total === 0) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `issuing [{bar}] {value}/{total} | {rate} req/s${adaptive ? " (pacing {pacing}/s)" : ""} | ETA {eta_formatted} | issued {issued}, failed {failed}, pending {pending}, retries {retries}`,
      barsize: 24,
      hideCursor: true,
      etaBuffer: 200,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const counts = { issued: 0, failed: 0, pending: 0, retries: 0 };
  const started = performance.now();
  const payload = (): Record<string, number | string> => {
    const settled = counts.issued + counts.failed + counts.pending;
    const seconds = (performance.now() - started) / 1000;
    return { ...counts, rate: seconds > 0 ? (settled / seconds).toFixed(1) : "0", pacing: adaptive ? adaptive.rate.toFixed(1) : "" };
  };
  bar.start(total, 0, payload());
  return {
    rowSettled(status) {
      counts[status]++;
      bar.increment(1, payload());
    },
    retried() {
      counts.retries++;
      bar.update(payload());
    },
    stop() {
      bar.stop();
    },
  };
}
