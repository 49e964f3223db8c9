import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";

/**
 * Child processes of the bench: the standalone simulator and timed runs of the tool / the baseline.
 * Every child is started in its own process group and remembered, so an exit, an error or Ctrl-C
 * kills exactly the processes this bench started (by process group id), and nothing else.
 */

const children = new Set<ChildProcess>();
const CLK_TCK = 100;

/**
 * Kills a child and everything under it. Descendants go first, while their parent is alive to reap
 * them: in this VM pid 1 does not reap orphans, and an unreaped (zombie) `issue` would keep its
 * checkpoint lock looking alive.
 */
function killGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const descendants = descendantsOf(child.pid);
  for (const pid of descendants.reverse()) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
  if (descendants.length > 0 && signal === "SIGKILL") return; // /usr/bin/time exits once its command died
  try {
    process.kill(child.pid, signal);
  } catch {
    /* already gone */
  }
}

function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  for (const c of childPidsOf(pid)) out.push(c, ...descendantsOf(c));
  return out;
}

export function killAllChildren(): void {
  for (const child of children) killGroup(child);
  children.clear();
}

let hooked = false;
export function installExitHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAllChildren);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      killAllChildren();
      process.stderr.write(`\nbench: ${signal}, children killed\n`);
      process.exit(130);
    });
  }
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** utime+stime of a live process, seconds (from /proc; undefined once it is gone). */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is state (field 3); utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

export function processRssKb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function childPidsOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return text === "" ? [] : text.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

/** Busy jiffies of the whole machine (all CPUs, everything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
    return busy / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/**
 * Waits (at most `maxWaitMs`) until the machine has been nearly idle for one 500 ms window, so a
 * sample does not start in the middle of someone else's burst. Returns the busy cores seen last
 * and how long it waited.
 */
export async function waitForQuiet(maxWaitMs: number, threshold = 0.3): Promise<{ waitedMs: number; busyCores: number }> {
  const start = performance.now();
  let busyCores = Number.NaN;
  for (;;) {
    const b0 = machineBusySeconds();
    await new Promise((r) => setTimeout(r, 500));
    busyCores = (machineBusySeconds() - b0) / 0.5;
    if (!(busyCores > threshold) || performance.now() - start >= maxWaitMs) break;
  }
  return { waitedMs: Math.round(performance.now() - start), busyCores: Math.round(busyCores * 100) / 100 };
}

// ---- simulator --------------------------------------------------------------------------------

export interface Simulator {
  url: string;
  port: number;
  pid: number;
  cpuSeconds(): number | undefined;
  rssKb(): number | undefined;
  ledger(): Promise<LedgerSnapshot>;
  stop(): Promise<void>;
}

export interface LedgerSnapshot {
  /** createdAt of every committed code, ms since epoch, sorted. */
  commitTimes: number[];
  /** requestIds the simulator received more than once. */
  repeatedCalls: number;
  totalCalls: number;
  entries: number;
  maxConcurrentCreates?: number;
}

/** `port`: a fixed one, for a checkpoint bound to a simulator that listened there (0: any free port). */
export async function startSimulator(cli: string, options: { latencyMs: number; extra?: string[]; port?: number }): Promise<Simulator> {
  const args = [
    cli,
    "simulator",
    "--port",
    String(options.port ?? 0),
    "--host",
    "127.0.0.1",
    "--latency-ms",
    String(options.latencyMs),
    "--budget",
    "1000000000",
    ...(options.extra ?? []),
  ];
  const child = track(spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, env: cleanEnv() }));
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`simulator did not start within 15 s: ${output}`)), 15_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`simulator exited (${code}) before listening: ${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  const pid = child.pid!;
  return {
    url,
    port: Number(new URL(url).port),
    pid,
    cpuSeconds: () => processCpuSeconds(pid),
    rssKb: () => processRssKb(pid),
    async ledger() {
      const response = await fetch(`${url}/__simulator/ledger`);
      const text = await response.text();
      // groupId is a bare int64; it is not needed here, and JSON.parse rounding it is harmless.
      const body = JSON.parse(text) as { entries: Array<{ createdAt: string }>; calls: Record<string, number>; stats?: { maxConcurrentCreates?: number } };
      const commitTimes = body.entries.map((e) => Date.parse(e.createdAt)).sort((a, b) => a - b);
      const calls = Object.values(body.calls);
      return {
        commitTimes,
        repeatedCalls: calls.filter((n) => n > 1).length,
        totalCalls: calls.reduce((a, b) => a + b, 0),
        entries: body.entries.length,
        maxConcurrentCreates: body.stats?.maxConcurrentCreates,
      };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The bench's children never see PayPay credentials: loopback runs use the simulator's local ones. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.PAYPAY_API_KEY;
  delete env.PAYPAY_API_SECRET;
  delete env.PAYPAY_MERCHANT_ID;
  delete env.NODE_OPTIONS;
  return env;
}

// ---- timed runs ---------------------------------------------------------------------------------

export interface TimedRun {
  exitCode: number | null;
  timedOut: boolean;
  wallSeconds: number;
  userSeconds: number;
  systemSeconds: number;
  cpuSeconds: number;
  maxRssKb: number;
  stdout: string;
  stderr: string;
  /** The node process's pid (child of /usr/bin/time), for killing it mid-run. */
  pid?: number;
  /** Busy cores of the whole machine over the run (ours included): minus ours, it is other people's load. */
  machineBusyCores: number;
  /** Busy cores outside this process's CPU (simulator + anything else running on the machine). */
  busyCoresBesidesClient: number;
}

export interface TimedOptions {
  timeoutMs: number;
  tmpDir: string;
  /** Called once the node process is running, with its pid. */
  onStart?: (pid: number, kill: () => void) => void;
}

/**
 * Runs `node <args>` under `/usr/bin/time -v`: wall time measured here, CPU (user+sys) and peak RSS
 * of the node process from time(1). Killed (whole process group) if it outlives `timeoutMs`.
 */
export async function runTimed(nodeArgs: string[], options: TimedOptions): Promise<TimedRun> {
  const timeFile = join(options.tmpDir, `time-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  const busy0 = machineBusySeconds();
  const started = performance.now();
  const child = track(
    spawn("/usr/bin/time", ["-v", "-o", timeFile, process.execPath, ...nodeArgs], { stdio: ["ignore", "pipe", "pipe"], detached: true, env: cleanEnv() }),
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => {
    if (stderr.length < 200_000) stderr += c.toString();
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, options.timeoutMs);
  let nodePid: number | undefined;
  // Polls until the node process under time(1) exists, then stops.
  const finder = setInterval(() => {
    if (child.pid === undefined) return;
    nodePid = childPidsOf(child.pid)[0];
    if (nodePid === undefined) return;
    clearInterval(finder);
    const pid = nodePid;
    // Only the node process: /usr/bin/time stays alive to reap it (see killGroup).
    options.onStart?.(pid, () => {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    });
  }, 50);
  const exitCode = await new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const wallSeconds = (performance.now() - started) / 1000;
  const machineBusyCores = (machineBusySeconds() - busy0) / wallSeconds;
  clearTimeout(timer);
  clearInterval(finder);
  const report = existsSync(timeFile) ? await readFile(timeFile, "utf8") : "";
  await rm(timeFile, { force: true });
  const num = (label: string): number => {
    const m = new RegExp(`${label}:\\s*([0-9.]+)`).exec(report);
    return m ? Number(m[1]) : Number.NaN;
  };
  // time(1) prefixes "Command exited with non-zero status N" when the command failed.
  const statusMatch = /Command (?:exited with non-zero status|terminated by signal) (\d+)/.exec(report);
  const userSeconds = num("User time \\(seconds\\)");
  const systemSeconds = num("System time \\(seconds\\)");
  return {
    exitCode: timedOut ? null : statusMatch ? Number(statusMatch[1]) : exitCode,
    timedOut,
    wallSeconds,
    userSeconds,
    systemSeconds,
    cpuSeconds: userSeconds + systemSeconds,
    maxRssKb: num("Maximum resident set size \\(kbytes\\)"),
    stdout,
    stderr,
    pid: nodePid,
    machineBusyCores: Math.round(machineBusyCores * 1000) / 1000,
    busyCoresBesidesClient: Math.round((machineBusyCores - (userSeconds + systemSeconds) / wallSeconds) * 1000) / 1000,
  };
}
