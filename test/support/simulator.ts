import { after } from "node:test";
import { createSimulator, type Simulator, type SimulatorOptions } from "../../src/simulator/index.js";

/** A simulator on 127.0.0.1 port 0, closed when the test file ends. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const simulator = createSimulator(options);
  await simulator.start(0, "127.0.0.1");
  after(() => simulator.close());
  return simulator;
}
