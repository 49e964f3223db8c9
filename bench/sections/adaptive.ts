import { dirname, join } from "node:path";
import { freshCampaign, GROUP_ID, removeRunFiles, runFiles, runIssue, writeRecipientsCsv, type BenchContext } from "../lib/context.js";
import type { SectionResult, Target } from "../lib/report.js";
import type { createSimulator as createSimulatorType } from "../../src/simulator/index.js";
import { checkExactlyOnce } from "../lib/exactly-once.js";
import { fmt, followSeconds, round, spread } from "../lib/stats.js";

/**
 * 7. Adaptive pacing (`--rate auto`, issue 7): the simulator enforces a token bucket of R requests/s
 * (burst R, no Retry-After) at latency 20 ms; the tool runs `--rate auto --concurrency 32` for at
 * least 60 s. Achieved = successes per second from the simulator's commit times; 429 share from the
 * tool's summary (answers that were 429 ÷ requests). Then R steps 50 → 10 → 100 mid-run (30 s each)
 * and we measure how long the achieved rate takes to follow each step.
 *
 * The simulator runs inside this process (from the same dist snapshot) so the bench can change R
 * mid-run with setRateLimit; the tool is a child process, as everywhere else.
 */

async function loadSimulator(ctx: BenchContext): Promise<typeof createSimulatorType> {
  const module = (await import(join(dirname(ctx.cli), "simulator", "index.js"))) as { createSimulator: typeof createSimulatorType };
  return module.createSimulator;
}

interface SteadySample {
  limit: number;
  rep: number;
  rows: number;
  seconds: number;
  achieved: number;
  ratio: number;
  requests: number;
  throttled: number;
  throttledShare: number;
  exactlyOnce: boolean;
  exitCode: number | null;
}

interface StepSample {
  rep: number;
  phases: Array<{ limit: number; followSeconds: number | null; settledRate: number }>;
  requests: number;
  throttled: number;
  exactlyOnce: boolean;
  exitCode: number | null;
}

const LATENCY_MS = 20;
const BIG_GROUP = { groupId: GROUP_ID, budget: 1_000_000_000, maxPeriodDays: 365, minAmount: 1 };
const CONCURRENCY = 32;

export async function runAdaptive(ctx: BenchContext, options: { limits?: number[]; seconds?: number; stepSeconds?: number } = {}): Promise<SectionResult> {
  const started = performance.now();
  const createSimulator = await loadSimulator(ctx);
  const limits = options.limits ?? [5, 50, 200];
  const seconds = options.seconds ?? (ctx.quick ? 20 : 65);
  const stepSeconds = options.stepSeconds ?? (ctx.quick ? 15 : 30);
  const reps = ctx.quick ? 1 : Math.min(ctx.reps, 2);
  const steady: SteadySample[] = [];
  const steps: StepSample[] = [];

  for (const limit of limits) {
    const rows = Math.ceil(limit * seconds);
    const csv = join(ctx.tmp, `adaptive-${rows}.csv`);
    await writeRecipientsCsv(csv, rows);
    for (let rep = 1; rep <= reps; rep++) {
      await ctx.quiet();
      const sim = createSimulator({ latencyMs: LATENCY_MS, groups: [BIG_GROUP], rateLimit: { ratePerSecond: limit, burst: limit } });
      const url = await sim.start(0, "127.0.0.1");
      const files = runFiles(ctx, `adaptive-${limit}-r${rep}`);
      try {
        const run = await runIssue(ctx, {
          csv,
          url,
          campaign: freshCampaign(`auto${limit}`),
          concurrency: CONCURRENCY,
          rate: "auto",
          ...files,
          timeoutMs: (seconds * 4 + 120) * 1000,
        });
        const ledger = sim.ledger();
        const once = await checkExactlyOnce(ledger, files.out, rows);
        const times = ledger.map((e) => Date.parse(e.createdAt)).sort((a, b) => a - b);
        const span = ((times.at(-1) ?? 0) - (times[0] ?? 0)) / 1000;
        const achieved = (times.length - 1) / span;
        const requests = run.summary?.requests ?? Number.NaN;
        const throttled = run.summary?.throttled ?? Number.NaN;
        const sample: SteadySample = {
          limit,
          rep,
          rows: times.length,
          seconds: round(span, 1),
          achieved: round(achieved, 2),
          ratio: round(achieved / limit, 3),
          requests,
          throttled,
          throttledShare: round((throttled / requests) * 100, 2),
          exactlyOnce: once.holds,
          exitCode: run.exitCode,
        };
        steady.push(sample);
        ctx.log(
          `  adaptive R=${limit} rep ${rep}: ${sample.achieved}/s over ${sample.seconds} s = ${sample.ratio} R; 429s ${throttled}/${requests} = ${sample.throttledShare} %; ${once.codes} codes for ${rows} rows, ${once.duplicates} duplicates, ${once.missing} missing; exit ${run.exitCode}`,
        );
      } finally {
        await sim.close();
        await removeRunFiles(files);
      }
    }
  }

  const stepLimits = [50, 10, 100];
  const stepRows = stepLimits.reduce((n, r) => n + r * stepSeconds, 0) + 100 * 5;
  const stepCsv = join(ctx.tmp, `adaptive-step-${stepRows}.csv`);
  await writeRecipientsCsv(stepCsv, stepRows);
  for (let rep = 1; rep <= reps; rep++) {
    await ctx.quiet();
    const sim = createSimulator({ latencyMs: LATENCY_MS, groups: [BIG_GROUP], rateLimit: { ratePerSecond: stepLimits[0]!, burst: stepLimits[0]! } });
    const url = await sim.start(0, "127.0.0.1");
    const files = runFiles(ctx, `adaptive-step-r${rep}`);
    const changes: number[] = [];
    let timers: NodeJS.Timeout[] = [];
    try {
      // The clock of the steps starts at the first commit, so start-up is not counted as phase one.
      const waitFirst = setInterval(() => {
        if (sim.ledger().length === 0) return;
        clearInterval(waitFirst);
        changes.push(Date.now());
        timers = stepLimits.slice(1).map((limit, i) =>
          setTimeout(
            () => {
              sim.setRateLimit({ ratePerSecond: limit, burst: limit });
              changes.push(Date.now());
            },
            (i + 1) * stepSeconds * 1000,
          ),
        );
      }, 20);
      const run = await runIssue(ctx, {
        csv: stepCsv,
        url,
        campaign: freshCampaign("autostep"),
        concurrency: CONCURRENCY,
        rate: "auto",
        ...files,
        timeoutMs: (stepSeconds * 12 + 120) * 1000,
      });
      clearInterval(waitFirst);
      const ledger = sim.ledger();
      const once = await checkExactlyOnce(ledger, files.out, stepRows);
      const times = ledger.map((e) => Date.parse(e.createdAt)).sort((a, b) => a - b);
      const phases = stepLimits.map((limit, i) => {
        const from = changes[i] ?? Number.POSITIVE_INFINITY;
        const to = changes[i + 1] ?? times.at(-1) ?? from;
        // Follow time: from the change until the trailing 2-s rate first comes within [0.85 R, 1.15 R].
        const followed = followSeconds(times, from, to, limit);
        const settledFrom = from + 10_000;
        const settled = times.filter((t) => t >= settledFrom && t < to);
        const settledRate = settled.length > 1 ? round((settled.length - 1) / (((settled.at(-1) ?? 0) - (settled[0] ?? 0)) / 1000), 2) : Number.NaN;
        return { limit, followSeconds: followed, settledRate };
      });
      const sample: StepSample = {
        rep,
        phases,
        requests: run.summary?.requests ?? Number.NaN,
        throttled: run.summary?.throttled ?? Number.NaN,
        exactlyOnce: once.holds,
        exitCode: run.exitCode,
      };
      steps.push(sample);
      ctx.log(
        `  adaptive step rep ${rep}: ${phases.map((p) => `R=${p.limit} followed in ${p.followSeconds ?? "never"} s, settled ${p.settledRate}/s`).join("; ")}; ${once.codes} codes for ${stepRows} rows, ${once.duplicates} duplicates, ${once.missing} missing; exit ${run.exitCode}`,
      );
    } finally {
      for (const t of timers) clearTimeout(t);
      await sim.close();
      await removeRunFiles(files);
    }
  }

  const targets: Target[] = [];
  for (const limit of limits) {
    const mine = steady.filter((s) => s.limit === limit);
    const ratio = spread(mine.map((s) => s.ratio));
    const share = spread(mine.map((s) => s.throttledShare));
    targets.push({
      name: `R = ${limit}/s: achieved ÷ R`,
      target: "≥ 0.90",
      measured: ratio.median.toFixed(3),
      pass: mine.every((s) => s.ratio >= 0.9 && s.exitCode === 0),
      margin: `worst ${ratio.min.toFixed(3)}`,
    });
    targets.push({
      name: `R = ${limit}/s: 429 share of requests`,
      target: "≤ 3 %",
      measured: `${share.median.toFixed(2)} %`,
      pass: mine.every((s) => s.throttledShare <= 3),
      margin: `worst ${share.max.toFixed(2)} %`,
    });
  }
  const runs = [...steady, ...steps];
  targets.push({
    name: "exactly once: one code per row, charged once, in the result file",
    target: "every run",
    measured: `${runs.filter((r) => r.exactlyOnce).length} of ${runs.length} runs`,
    pass: runs.every((r) => r.exactlyOnce),
    margin: "",
  });
  for (const [i, limit] of stepLimits.entries()) {
    if (i === 0) continue;
    const follow = steps.map((s) => s.phases[i]?.followSeconds ?? Number.POSITIVE_INFINITY);
    targets.push({
      name: `R steps to ${limit}/s: achieved rate follows`,
      target: "within 10 s",
      measured: `${spread(follow).median} s`,
      pass: follow.every((f) => f <= 10),
      margin: `worst ${Math.max(...follow)} s`,
    });
  }

  return {
    id: "adaptive",
    title: "7. Adaptive pacing (--rate auto) against a rate-limited PayPay",
    params: { limits, seconds, stepSeconds, stepLimits, latencyMs: LATENCY_MS, concurrency: CONCURRENCY, reps, burst: "R (one second)" },
    samples: [...steady, ...steps],
    summary: { steady, steps },
    targets,
    tables: [
      {
        title: `Steady limit, ≥ ${seconds} s per run, L = ${LATENCY_MS} ms, c = ${CONCURRENCY}, median (min–max) of ${reps}`,
        columns: ["R (req/s)", "achieved (successes/s)", "achieved ÷ R", "429 share of requests %", "run length s"],
        rows: limits.map((limit) => {
          const mine = steady.filter((s) => s.limit === limit);
          return [
            String(limit),
            fmt(spread(mine.map((s) => s.achieved)), 2),
            fmt(spread(mine.map((s) => s.ratio)), 3),
            fmt(spread(mine.map((s) => s.throttledShare)), 2),
            fmt(spread(mine.map((s) => s.seconds)), 1),
          ];
        }),
      },
      {
        title: `R changes mid-run, ${stepSeconds} s per phase`,
        columns: ["phase", "follow time s (trailing 2-s rate within ±15 % of R)", "settled rate from 10 s after the change (successes/s)"],
        rows: stepLimits.map((limit, i) => [
          `R = ${limit}${i === 0 ? " (start)" : ""}`,
          fmt(spread(steps.map((s) => s.phases[i]?.followSeconds ?? Number.NaN)), 1),
          fmt(spread(steps.map((s) => s.phases[i]?.settledRate ?? Number.NaN)), 2),
        ]),
      },
    ],
    notes: [
      "Achieved counts successes (commits in the simulator's ledger) per second between the first and the last commit, start-up included; 429s are the tool's own count of 429 answers over all its requests.",
      "The simulator's bucket holds one second of tokens (burst = R) and sends no Retry-After; the controller's logic is pinned by unit tests on a fake clock (test/rate-controller.test.ts).",
      "Exactly once is checked after every run from both ends (bench/lib/exactly-once.ts): the simulator's ledger holds one code per input row, each charged once, and the result file shows every row issued with the ledger's code for its requestId.",
      "A step's follow time runs from the moment the bench changed the limit to the end of the first 2-s window whose rate is within ±15 % of the new R.",
    ],
    seconds: (performance.now() - started) / 1000,
  };
}
