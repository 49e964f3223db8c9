import assert from "node:assert/strict";
import { after } from "node:test";
import yargs from "yargs";
import { simulatorCommand, type SimulatorCommandIo } from "../../src/cli/commands/simulator.js";
import { createSimulator, type Simulator, type SimulatorOptions } from "../../src/simulator/index.js";

/** A simulator on 127.0.0.1 port 0, closed when the test file ends. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const simulator = createSimulator(options);
  await simulator.start(0, "127.0.0.1");
  after(() => simulator.close());
  return simulator;
}

/** Output of the `simulator` command, captured by line. */
export function captureSimulatorIo(env: NodeJS.ProcessEnv = {}): SimulatorCommandIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { env, lines, errors, out: (line) => lines.push(line), err: (line) => errors.push(line) };
}

/** Parses argv through the `simulator` command's real builder with .strict(), returning the args its handler would get. */
export async function parseSimulatorArgs(argv: string[]): Promise<Record<string, unknown>> {
  let captured: Record<string, unknown> | undefined;
  await yargs(argv)
    .command({ ...simulatorCommand, handler: (args) => void (captured = args) })
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new Error(message);
    })
    .parseAsync();
  assert.ok(captured, "handler ran");
  return captured;
}
