/**
 * The benchmark suite: `npm run bench` (builds, then runs this with tsx).
 *
 *   node --import tsx bench/run.ts [--only efficiency,overhead,memory,resume,rate,checkpoint,adaptive,pg,workers]
 *        [--quick] [--reps N] [--profile] [--keep] [--merge] [--resume-timeout SECONDS] [--quiet-wait SECONDS]
 *        [--render] [--levels 64,256] [--worker-counts 1,2,4]
 *
 * Drives the standalone simulator (`node dist/cli.js simulator`, a separate process) on 127.0.0.1
 * and runs the tool as a child process, from a snapshot of dist/ taken at start (another engineer
 * may rebuild dist/ meanwhile). Writes bench/results/latest.json and latest.md for a full run; a
 * subset (--only) or --quick run writes bench/results/partial.{json,md} instead, unless --merge,
 * which replaces those sections inside latest.*.
 *
 * The machine is shared: before each sample the bench waits (at most --quiet-wait seconds, default
 * 5) for other processes to go quiet, and every sample records the CPU others used meanwhile.
 */
import { execFileSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, freemem, loadavg, tmpdir, totalmem, release } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { BenchContext } from "./lib/context.js";
import { installExitHooks, killAllChildren, waitForQuiet } from "./lib/proc.js";
import { sectionMarkdown, type SectionResult } from "./lib/report.js";
import { runAdaptive } from "./sections/adaptive.js";
import { runCheckpoint } from "./sections/checkpoint.js";
import { runEfficiency } from "./sections/efficiency.js";
import { runMemory } from "./sections/memory.js";
import { runOverhead } from "./sections/overhead.js";
import { runPg } from "./sections/pg.js";
import { runRate } from "./sections/rate.js";
import { runResume, writePerRowPlots, type PhaseCost } from "./sections/resume.js";
import { runWorkers } from "./sections/workers.js";

const SECTIONS = ["efficiency", "overhead", "memory", "resume", "rate", "checkpoint", "adaptive", "pg", "workers"] as const;
type SectionId = (typeof SECTIONS)[number];

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(benchDir, "..");

interface Flags {
  only: SectionId[];
  quick: boolean;
  reps?: number;
  profile: boolean;
  keep: boolean;
  merge: boolean;
  resumeTimeout: number;
  quietWait: number;
  render: boolean;
  /** Efficiency levels (c) to run instead of the default five. */
  levels?: number[];
  /** Worker counts for the workers section's latency-bound part (empty: only its --rate auto part). */
  workerCounts?: number[];
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { only: [...SECTIONS], quick: false, profile: false, keep: false, merge: false, resumeTimeout: 240, quietWait: 5, render: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--only") {
      const list = value()
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      for (const s of list) if (!SECTIONS.includes(s as SectionId)) throw new Error(`unknown section "${s}"; sections: ${SECTIONS.join(", ")}`);
      flags.only = SECTIONS.filter((s) => list.includes(s));
    } else if (a === "--quick") flags.quick = true;
    else if (a === "--reps") flags.reps = Number(value());
    else if (a === "--profile") flags.profile = true;
    else if (a === "--keep") flags.keep = true;
    else if (a === "--merge") flags.merge = true;
    else if (a === "--resume-timeout") flags.resumeTimeout = Number(value());
    else if (a === "--quiet-wait") flags.quietWait = Number(value());
    else if (a === "--render") flags.render = true;
    else if (a === "--levels") flags.levels = value().split(",").map(Number);
    else if (a === "--worker-counts") flags.workerCounts = value().split(",").filter(Boolean).map(Number);
    else if (a === "--help" || a === "-h") {
      process.stdout.write(
        `usage: npm run bench -- [--only ${SECTIONS.join(",")}] [--quick] [--reps N] [--profile] [--keep] [--merge] [--resume-timeout S] [--quiet-wait S] [--render] [--levels 64,256] [--worker-counts 1,2,4]\n`,
      );
      process.exit(0);
    } else throw new Error(`unknown flag ${a}`);
  }
  if (flags.reps !== undefined && !(Number.isInteger(flags.reps) && flags.reps >= 1 && flags.reps <= 20)) throw new Error("--reps must be 1..20");
  return flags;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

function machineInfo(): Record<string, unknown> {
  const dirty = sh("git", ["status", "--porcelain", "--", "src"]);
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpuModel: cpus()[0]?.model ?? "unknown",
    nproc: Number(sh("nproc", [])) || cpus().length,
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGb: Math.round((freemem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    gitHead: sh("git", ["rev-parse", "--short", "HEAD"]),
    srcUncommittedFiles: dirty === "" ? 0 : dirty.split("\n").length,
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

async function prepareBuild(): Promise<{ cli: string; naive: string; micro: string; pgMicro: string; floor: string; memwatch: string }> {
  // BENCH_BUILD_DIR: a second bench run beside one in progress (each run replaces its build dir).
  const buildDir = process.env.BENCH_BUILD_DIR ?? join(benchDir, ".build");
  await rm(buildDir, { recursive: true, force: true });
  await mkdir(buildDir, { recursive: true });
  // Snapshot of the freshly built tool: a concurrent `npm run build` cannot change it mid-run.
  await cp(join(root, "dist"), join(buildDir, "dist"), { recursive: true });
  const common = {
    bundle: true,
    platform: "node" as const,
    format: "esm" as const,
    target: "node20",
    packages: "external" as const,
    logLevel: "warning" as const,
  };
  await build({ ...common, entryPoints: [join(benchDir, "naive-baseline.ts")], outfile: join(buildDir, "naive-baseline.mjs") });
  await build({ ...common, entryPoints: [join(benchDir, "checkpoint-micro.ts")], outfile: join(buildDir, "checkpoint-micro.mjs") });
  await build({ ...common, entryPoints: [join(benchDir, "pg-micro.ts")], outfile: join(buildDir, "pg-micro.mjs") });
  // pg-micro loads a plan's input as `issue` does, and a big input is read on a worker thread whose
  // module must sit beside the bundle that starts it (src/sibling-worker.ts).
  await build({ ...common, entryPoints: [join(root, "src", "job", "input-reader-worker.ts")], outfile: join(buildDir, "input-reader-worker.mjs") });
  await build({ ...common, entryPoints: [join(benchDir, "floor-client.ts")], outfile: join(buildDir, "floor-client.mjs") });
  await build({ ...common, entryPoints: [join(benchDir, "memwatch.ts")], outfile: join(buildDir, "memwatch.mjs") });
  return {
    cli: join(buildDir, "dist", "cli.js"),
    naive: join(buildDir, "naive-baseline.mjs"),
    micro: join(buildDir, "checkpoint-micro.mjs"),
    pgMicro: join(buildDir, "pg-micro.mjs"),
    floor: join(buildDir, "floor-client.mjs"),
    memwatch: join(buildDir, "memwatch.mjs"),
  };
}

/** When sections come from different runs (--merge), say which run measured which. */
function provenance(sections: SectionResult[]): string[] {
  const runs = new Map<string, string[]>();
  for (const s of sections) {
    if (!s.measuredIn) continue;
    const m = s.measuredIn;
    const key = `${m.date} by \`${m.command}\` (git ${m.gitHead}; load average ${JSON.stringify(m.loadAverageAtStart ?? [])} → ${JSON.stringify(m.loadAverageAtEnd ?? [])})`;
    runs.set(key, [...(runs.get(key) ?? []), s.id]);
  }
  if (runs.size <= 1) return [];
  return ["Sections come from more than one run:", "", ...[...runs].map(([run, ids]) => `- ${ids.join(", ")}: ${run}`), ""];
}

function renderMarkdown(result: {
  machine: Record<string, unknown>;
  command: string;
  sections: SectionResult[];
  totalSeconds: number;
  partial: boolean;
}): string {
  const m = result.machine;
  const lines = [
    "# points-code-batch benchmarks",
    "",
    `Run ${String(m.date)} · \`${result.command}\` · ${result.totalSeconds.toFixed(0)} s${result.partial ? " · partial run" : ""}`,
    "",
    `Machine: ${String(m.cpuModel)}, ${String(m.nproc)} cores (shared by the tool and the simulator), ${String(m.memoryGb)} GB, Node ${String(m.node)}, Linux ${String(m.kernel)}; ` +
      `git ${String(m.gitHead)}${Number(m.srcUncommittedFiles) > 0 ? ` + ${String(m.srcUncommittedFiles)} uncommitted file(s) in src/` : ""}; load average at start ${JSON.stringify(m.loadAverageAtStart)}, at end ${JSON.stringify(m.loadAverageAtEnd)}.`,
    "",
    "All figures: median (min–max) over repeated runs; ratios are taken between runs of the same round. Raw samples in `latest.json`.",
    "",
    ...provenance(result.sections),
    "## Summary of targets",
    "",
    "| section | target | wanted | measured (median) | result | margin |",
    "|---|---|---|---|---|---|",
    ...result.sections.flatMap((s) =>
      s.targets.map((t) => `| ${s.id} | ${t.name} | ${t.target} | ${t.measured} | ${t.pass ? "PASS" : "**MISS**"} | ${t.margin} |`),
    ),
    "",
    ...result.sections.map(sectionMarkdown),
  ];
  return `${lines.join("\n")}\n`;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.render) {
    // Re-render latest.md from latest.json (after editing the renderer); measures nothing.
    const file = join(benchDir, "results", "latest.json");
    const result = JSON.parse(await readFile(file, "utf8")) as Parameters<typeof renderMarkdown>[0];
    await writeFile(join(benchDir, "results", "latest.md"), renderMarkdown(result));
    const costs = (result.sections.find((s) => s.id === "resume")?.summary as { phaseCosts?: PhaseCost[] } | undefined)?.phaseCosts;
    if (costs) await writePerRowPlots(costs, join(benchDir, "results"));
    process.stdout.write(`rendered ${join(benchDir, "results", "latest.md")} from ${file}\n`);
    return;
  }
  installExitHooks();
  const started = performance.now();
  const machine = machineInfo();
  const built = await prepareBuild();
  const tmp = await mkdtemp(join(tmpdir(), "pcb-bench-"));
  const logFile = join(benchDir, "results", "run.log");
  await mkdir(join(benchDir, "results"), { recursive: true });
  await writeFile(logFile, "");
  const ctx: BenchContext = {
    ...built,
    tmp,
    quick: flags.quick,
    reps: flags.reps ?? (flags.quick ? 1 : 3),
    profile: flags.profile,
    artifacts: new Map(),
    quiet: async () => {
      const q = await waitForQuiet(flags.quietWait * 1000);
      if (q.waitedMs > 1000) ctx.log(`  (waited ${(q.waitedMs / 1000).toFixed(1)} s for other load to settle; ${q.busyCores} cores busy)`);
      return q;
    },
    log: (message) => {
      const line = `[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`;
      process.stdout.write(`${line}\n`);
      void writeFile(logFile, `${line}\n`, { flag: "a" });
    },
  };
  ctx.log(`bench: sections ${flags.only.join(", ")}; reps ${ctx.reps}${flags.quick ? "; quick" : ""}; scratch ${tmp}`);
  const sections: SectionResult[] = [];
  try {
    for (const id of flags.only) {
      ctx.log(`== ${id}`);
      let result: SectionResult;
      const sectionStarted = performance.now();
      try {
        switch (id) {
          case "efficiency":
            result = await runEfficiency(ctx, flags.levels ? { levels: flags.levels } : {});
            break;
          case "overhead":
            result = await runOverhead(ctx);
            break;
          case "memory":
            result = await runMemory(ctx);
            break;
          case "resume":
            result = await runResume(ctx, { timeoutSeconds: flags.resumeTimeout });
            break;
          case "rate":
            result = await runRate(ctx);
            break;
          case "checkpoint":
            result = await runCheckpoint(ctx);
            break;
          case "adaptive":
            result = await runAdaptive(ctx);
            break;
          case "workers":
            result = await runWorkers(ctx, flags.workerCounts ? { counts: flags.workerCounts } : {});
            break;
          case "pg":
            result = await runPg(ctx);
            break;
        }
      } catch (error) {
        // One broken section must not cost the others' measurements.
        const message = (error as Error)?.stack ?? String(error);
        ctx.log(`   ${id} FAILED: ${message}`);
        result = {
          id,
          title: `${id} (failed)`,
          params: {},
          samples: [],
          summary: { error: message },
          targets: [{ name: `${id} section ran`, target: "completes", measured: "failed", pass: false, margin: message.split("\n")[0] ?? "" }],
          tables: [],
          notes: [`The section failed: ${message.split("\n")[0] ?? ""}`],
          seconds: (performance.now() - sectionStarted) / 1000,
        };
      }
      sections.push(result);
      for (const t of result.targets) ctx.log(`   ${t.pass ? "PASS" : "MISS"} ${t.name}: ${t.measured} (wanted ${t.target}) ${t.margin}`);
      ctx.log(`   ${id} took ${result.seconds.toFixed(0)} s`);
    }
  } finally {
    killAllChildren();
    if (!flags.keep) await rm(tmp, { recursive: true, force: true });
    else ctx.log(`scratch kept at ${tmp}`);
  }
  machine.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  const totalSeconds = (performance.now() - started) / 1000;
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  for (const s of sections) {
    s.measuredIn = {
      date: String(machine.date),
      command,
      gitHead: String(machine.gitHead),
      loadAverageAtStart: machine.loadAverageAtStart as number[],
      loadAverageAtEnd: machine.loadAverageAtEnd as number[],
    };
  }
  const partial = flags.quick || flags.only.length < SECTIONS.length || flags.reps !== undefined;

  let base = "partial";
  let allSections = sections;
  if (!partial) base = "latest";
  else if (flags.merge) {
    base = "latest";
    try {
      const previous = JSON.parse(await readFile(join(benchDir, "results", "latest.json"), "utf8")) as { sections: SectionResult[] };
      const replaced = new Set(sections.map((s) => s.id));
      allSections = SECTIONS.map((id) => (replaced.has(id) ? sections.find((s) => s.id === id) : previous.sections.find((s) => s.id === id))).filter(
        (s): s is SectionResult => s !== undefined,
      );
    } catch {
      allSections = sections;
    }
  }
  const result = {
    machine,
    command,
    totalSeconds,
    partial: partial && !flags.merge,
    merged: flags.merge ? sections.map((s) => s.id) : undefined,
    sections: allSections,
  };
  const jsonFile = join(benchDir, "results", `${base}.json`);
  const mdFile = join(benchDir, "results", `${base}.md`);
  await writeFile(jsonFile, `${JSON.stringify(result, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`);
  await writeFile(mdFile, renderMarkdown(result));
  ctx.log(`wrote ${jsonFile} and ${mdFile} (${totalSeconds.toFixed(0)} s)`);
}

main().catch((error: unknown) => {
  killAllChildren();
  process.stderr.write(`bench failed: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
