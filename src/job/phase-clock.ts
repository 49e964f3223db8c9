/**
 * Wall and CPU time per phase of a run (snapshot, replay, plan, send, result…), for
 * `--summary-json` and the benchmarks: where a rerun's time goes, read from the run itself.
 */

export interface Phase {
  name: string;
  wallMs: number;
  /** User + system CPU of the whole process over the phase. */
  cpuMs: number;
}

export class PhaseClock {
  readonly phases: Phase[] = [];
  private wall = performance.now();
  private cpu = process.cpuUsage();

  /** Ends the current phase under `name` and starts the next. */
  mark(name: string): void {
    const wall = performance.now();
    const cpu = process.cpuUsage(this.cpu);
    this.phases.push({ name, wallMs: round(wall - this.wall), cpuMs: round((cpu.user + cpu.system) / 1000) });
    this.wall = wall;
    this.cpu = process.cpuUsage();
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
