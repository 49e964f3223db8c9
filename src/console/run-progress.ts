import type { IssueEvents } from "../job/apply-plan.js";

/**
 * A run's progress as the page shows it: rows settled against the rows the plan sends, the rate,
 * the ETA, retries and failures, and the rate once a second for the chart. Same words as the CLI's
 * bar: `pending` is every row to send not yet issued or failed.
 */

export interface ProgressSnapshot {
  state: "planning" | "running" | "stopping" | "ended";
  total: number;
  issued: number;
  failed: number;
  pending: number;
  settled: number;
  retries: number;
  /** Rows settled per second over the run so far. */
  rate: number;
  etaSeconds?: number;
  /** Rows settled per second, one point a second, the last 120. */
  history: number[];
  exitCode?: number;
  reason?: string;
}

const HISTORY = 120;

export class RunProgress implements IssueEvents {
  total = 0;
  private issued = 0;
  private failed = 0;
  private unresolved = 0;
  private retries = 0;
  private started = 0;
  private lastSample = { at: 0, settled: 0 };
  private readonly history: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  state: ProgressSnapshot["state"] = "planning";
  exitCode?: number;
  reason?: string;

  planned(total: number): void {
    this.total = total;
    this.state = "running";
    this.started = performance.now();
    this.lastSample = { at: this.started, settled: 0 };
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  rowSettled(status: "issued" | "failed" | "pending"): void {
    if (status === "issued") this.issued++;
    else if (status === "failed") this.failed++;
    else this.unresolved++;
  }

  retried(): void {
    this.retries++;
  }

  ended(exitCode: number, reason: string): void {
    if (this.timer) this.sample();
    clearInterval(this.timer);
    this.timer = undefined;
    this.state = "ended";
    this.exitCode = exitCode;
    this.reason = reason;
  }

  private get settled(): number {
    return this.issued + this.failed + this.unresolved;
  }

  private sample(): void {
    const now = performance.now();
    const seconds = (now - this.lastSample.at) / 1000;
    if (seconds <= 0) return;
    this.history.push(Math.round(((this.settled - this.lastSample.settled) / seconds) * 10) / 10);
    if (this.history.length > HISTORY) this.history.shift();
    this.lastSample = { at: now, settled: this.settled };
  }

  snapshot(): ProgressSnapshot {
    const seconds = this.started > 0 ? (performance.now() - this.started) / 1000 : 0;
    const rate = seconds > 0 ? this.settled / seconds : 0;
    const left = this.total - this.settled;
    return {
      state: this.state,
      total: this.total,
      issued: this.issued,
      failed: this.failed,
      pending: this.total - this.issued - this.failed,
      settled: this.settled,
      retries: this.retries,
      rate: Math.round(rate * 10) / 10,
      ...(rate > 0 && left > 0 && this.state === "running" ? { etaSeconds: Math.ceil(left / rate) } : {}),
      history: [...this.history],
      ...(this.exitCode === undefined ? {} : { exitCode: this.exitCode, reason: this.reason }),
    };
  }
}
