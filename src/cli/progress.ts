import cliProgress from "cli-progress";
import type { IssueEvents } from "../job/apply-plan.js";
import { routeTerminalLog } from "./terminal-log.js";

/**
 * A live progress bar on stderr, for a person at a terminal only: cron logs and pipes get nothing.
 * Counts rows settled in this run against the rows the plan will send. Words match the summary:
 * `pending` is every row to send that is neither issued nor failed yet (not sent, or its outcome
 * unknown), so when the run ends the bar's `pending` is the summary's.
 */
export interface Progress extends IssueEvents {
  stop(): void;
}

export function createProgress(total: number, adaptive?: { readonly rate: number }, stream: NodeJS.WriteStream = process.stderr): Progress | undefined {
  if (!stream.isTTY || total === 0) return undefined;
  const bars = new cliProgress.MultiBar(
    {
      stream,
      format: `issuing [{bar}] {value}/{total} settled | {rate} req/s${adaptive ? " (pacing {pacing}/s)" : ""} | ETA {eta_formatted} | issued {issued}, failed {failed}, pending {pending} | retries {retries}`,
      barsize: 24,
      hideCursor: true,
      etaBuffer: 200,
      fps: 5,
      // One line that never wraps: a wrapped bar leaves its first half behind on every redraw.
      linewrap: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const counts = { issued: 0, failed: 0, unresolved: 0, retries: 0 };
  const started = performance.now();
  const payload = (): Record<string, number | string> => {
    const settled = counts.issued + counts.failed + counts.unresolved;
    const seconds = (performance.now() - started) / 1000;
    return {
      issued: counts.issued,
      failed: counts.failed,
      pending: total - counts.issued - counts.failed,
      retries: counts.retries,
      rate: seconds > 0 ? (settled / seconds).toFixed(1) : "0",
      pacing: adaptive ? adaptive.rate.toFixed(1) : "",
    };
  };
  const bar = bars.create(total, 0, payload());
  routeTerminalLog((text) => bars.log(text));
  let stopped = false;
  return {
    rowSettled(status) {
      counts[status === "pending" ? "unresolved" : status]++;
      bar.increment(1, payload());
    },
    retried() {
      counts.retries++;
      bar.update(payload());
    },
    stop() {
      if (stopped) return;
      stopped = true;
      routeTerminalLog(undefined);
      // Prints log lines still buffered above the bar, then the bar's last state, then a newline:
      // whatever follows (the summary) starts on a clean line.
      bars.update();
      bars.stop();
    },
  };
}
