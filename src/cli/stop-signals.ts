import type { Logger } from "pino";

/**
 * SIGINT/SIGTERM as `issue` takes them: the first stops taking rows and lets requests in flight
 * finish (their outcomes are committed), a second quits at once. A Kubernetes pod's shutdown is a
 * SIGTERM: a worker gives back its claims before the grace period ends.
 */
export function onStopSignals(logger: Logger): { signal: AbortSignal; received(): NodeJS.Signals | undefined; dispose(): void } {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received) process.exit(signal === "SIGTERM" ? 143 : 130);
    received = signal;
    logger.warn({ signal }, "stopping: no new rows; waiting for requests in flight (send the signal again to quit at once)");
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    received: () => received,
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
