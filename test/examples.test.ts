import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { CLI, childEnv, collect, runCli, tempDir } from "./support/cli.js";
import { waitFor } from "./support/job.js";
import { startSimulator } from "./support/simulator.js";
import type { Simulator } from "../src/simulator/index.js";

/**
 * Every example a user is shown runs as written: each command's `--help` examples and every command
 * in the README's command sections, against the simulator, in a directory holding the sample files.
 * A README capture is compared line by line with the real output, digits aside (ports, times, rates).
 */

const ROOT = resolve(import.meta.dirname, "..");
const TODAY = { POINTS_CODE_BATCH_TODAY: "2094-03-15" };
const COMMANDS = ["issue", "plan", "budget", "status", "export", "simulator"];

interface Example {
  where: string;
  command: string;
  /** The output the README shows under the command, if any. */
  capture: string[];
}

/** Splits a shell command line: single and double quotes, no expansions (the examples use none). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const match of line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) words.push(match[1] ?? match[2] ?? match[3]!);
  return words;
}

/** The examples of one command's --help, reassembled from yargs' two wrapped columns. */
async function helpExamples(command: string): Promise<Example[]> {
  const help = await runCli([command, "--help"]);
  assert.equal(help.code, 0);
  const lines = help.stdout.split("\n");
  const start = lines.indexOf("Examples:");
  assert.ok(start >= 0, `${command} --help has examples`);
  const body = lines.slice(start + 1).filter((l) => l.startsWith("  "));
  const first = /^ {2}(.*?\S)\s{2,}(\S.*)$/.exec(body[0]!)!;
  const column = body[0]!.indexOf(first[2]!);
  const examples: Example[] = [];
  for (const line of body) {
    const left = line.slice(2, column).trim();
    if (/^(points-code-batch|PAYPAY_API_KEY=)\s?/.test(left)) examples.push({ where: `${command} --help`, command: left, capture: [] });
    else if (left !== "") examples[examples.length - 1]!.command += ` ${left}`;
  }
  return examples;
}

/** Commands in the README's command sections: sh blocks, `$ …` lines of captures, inline code. */
function readmeExamples(readme: string): Example[] {
  const section = readme.slice(readme.indexOf("## Commands"), readme.indexOf("## Running it on a schedule"));
  const examples: Example[] = [];
  const fences = section.split(/^```/m);
  fences.forEach((part, i) => {
    if (i % 2 === 0) {
      for (const match of part.matchAll(/`(points-code-batch [^`]+)`/g))
        examples.push({ where: "README (inline)", command: match[1]!.replace(/\s+/g, " "), capture: [] });
      return;
    }
    const [lang, ...lines] = part.split("\n");
    if (lang === "sh") {
      const joined = lines.join("\n").replace(/\\\n\s*/g, "");
      for (const line of joined.split("\n"))
        if (line.startsWith("points-code-batch ")) examples.push({ where: "README (sh)", command: line.trim(), capture: [] });
    } else if (lang === "") {
      let current: Example | undefined;
      for (const line of lines) {
        if (line.startsWith("$ points-code-batch ")) examples.push((current = { where: "README", command: line.slice(2), capture: [] }));
        else if (line !== "" && current) current.capture.push(line);
      }
    }
  });
  return examples;
}

/** What the example means on this machine: the test's simulator for a remote environment, a free port. */
function localArgs(command: string, sim: Simulator): string[] {
  const words = shellWords(command).filter((w) => !/^PAYPAY_[A-Z_]+=/.test(w));
  assert.equal(words.shift(), "points-code-batch");
  const args: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--env" && (words[i + 1] === "production" || words[i + 1] === "sandbox")) {
      args.push("--base-url", sim.baseUrl);
      i++;
    } else if (word === "--base-url") {
      args.push("--base-url", sim.baseUrl);
      i++;
    } else if (word === "--port") {
      args.push("--port", "0");
      i++;
    } else args.push(word);
  }
  return args;
}

/**
 * Ports, times, rates, amounts and counts vary from run to run, and so do codes (shown masked, as
 * their first four characters) and verify's test requestId (derived from today's date in Japan);
 * the words and their order do not.
 */
const normalize = (line: string): string =>
  line
    .replace(/[A-Z0-9]{4}…/g, "CODE…")
    .replace(/requestId [0-9a-f-]{36} (\(derived from the merchant and today's JST date\))/, "requestId UUID $1")
    .replace(/\d+(,\d{3})*/g, "N")
    .trimEnd();

// Set up once, at the top level, so the simulator and the directory live until the file ends.
const sim: Simulator = await startSimulator();
const template = await tempDir("pcb-examples-");
await cp(join(ROOT, "samples"), join(template, "samples"), { recursive: true });
for (const name of await readdir(join(template, "samples"))) if (/\.results\.|\.checkpoint/.test(name)) throw new Error(`samples/ holds ${name}: remove it`);
await cp(join(ROOT, "samples/recipients.csv"), join(template, "recipients.csv"));
await cp(join(ROOT, "samples/campaign.json"), join(template, "campaign.json"));
await writeFile(join(template, "members.csv"), (await readFile(join(ROOT, "samples/recipients.csv"), "utf8")).replace(/^recipient_id,/, "member_no,"));
await mkdir(join(template, "moved"));
await cp(join(template, "recipients.csv"), join(template, "moved/recipients.csv"));

// What `npm start` leaves behind, which status, export and plan read.
const start = await runCli(["issue", "samples/recipients.csv", "--config", "samples/campaign.json"], { cwd: template, env: TODAY });
assert.equal(start.code, 0, start.stderr);

/**
 * A copy of the directory with the sample files and `npm start`'s checkpoint. `export` reads the
 * absolute paths a run recorded, so its examples get their own run, here: `npm start`'s, or one
 * whose input has moved since (`export --input`).
 */
async function exampleDir(command: string): Promise<string> {
  const dir = await tempDir("pcb-example-");
  await cp(template, dir, { recursive: true });
  if (command.startsWith("points-code-batch export samples/")) {
    const again = await runCli(["issue", "samples/recipients.csv", "--config", "samples/campaign.json", "--out", "samples/recipients.results.csv"], {
      cwd: dir,
      env: TODAY,
    });
    assert.equal(again.code, 0, again.stderr);
  }
  if (command.includes("run.checkpoint")) {
    const run = await runCli(["issue", "recipients.csv", "--config", "campaign.json", "--state", "run.checkpoint", "--out", "run.results.csv"], {
      cwd: dir,
      env: TODAY,
    });
    assert.equal(run.code, 0, run.stderr);
  }
  return dir;
}

async function runExample(example: Example): Promise<void> {
  const dir = await exampleDir(example.command);
  const args = localArgs(example.command, sim);
  const what = `${example.where}: ${example.command}`;
  if (args[0] === "simulator") {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: childEnv(TODAY), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    const done = collect(child);
    await waitFor(() => stdout.includes("Stop with Ctrl+C."), 90_000, `${what} to listen`);
    child.kill("SIGINT");
    const result = await done;
    assert.equal(result.code, 0, `${what}\n${result.stderr}`);
    compare(example, stdout, false, what);
    return;
  }
  const result = await runCli(args, { cwd: dir, env: TODAY });
  const refusal = example.capture[0]?.startsWith("points-code-batch: ") ?? false;
  assert.equal(result.code, refusal ? 2 : 0, `${what}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  compare(example, refusal ? result.stderr : result.stdout, refusal, what);
}

/** `stderr`: JSON log lines (the embedded simulator's) and the usage hint are not part of the capture. */
function compare(example: Example, output: string, stderr: boolean, what: string): void {
  if (example.capture.length === 0) return;
  const actual = output.split("\n").filter((l) => l !== "" && !(stderr && (l.startsWith("{") || l === "Run with --help for usage.")));
  assert.deepEqual(
    actual.map(normalize),
    example.capture.map(normalize),
    `${what}: the README shows other output than a real run (regenerate it)\n${actual.join("\n")}`,
  );
}

describe("examples run as written", async () => {
  const help = (await Promise.all(COMMANDS.map(helpExamples))).flat();
  const readme = readmeExamples(await readFile(join(ROOT, "README.md"), "utf8"));

  test("every .example() of every command was found in --help", async () => {
    let declared = 0;
    for (const command of COMMANDS) declared += ((await readFile(join(ROOT, `src/cli/commands/${command}.ts`), "utf8")).match(/\.example\(/g) ?? []).length;
    assert.equal(help.length, declared);
    assert.ok(readme.length >= 8, `README examples: ${readme.map((e) => e.command).join("\n")}`);
  });

  for (const example of [...help, ...readme]) {
    test(`${example.where}: ${example.command}`, () => runExample(example));
  }
});
