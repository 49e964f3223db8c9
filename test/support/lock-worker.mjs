// One contender for the checkpoint lock, in its own process, driven line by line on stdin:
// "try" takes the lock once (answers "won", or "lost <error code> <message>"), "release" lets it go
// (answers "released"). It uses the built lock (dist/), exactly as the CLI does.
import { createInterface } from "node:readline";
import { acquireLock } from "../../dist/checkpoint/lock.js";

const lockFile = process.argv[2];
let held;
const say = (line) => process.stdout.write(`${line}\n`);

createInterface({ input: process.stdin })
  .on("line", async (command) => {
    if (command === "try") {
      try {
        held = await acquireLock(lockFile);
        say("won");
      } catch (error) {
        say(`lost ${error.code ?? "?"} ${String(error.message).replace(/\n/g, " ")}`);
      }
    } else if (command === "release") {
      await held?.release();
      held = undefined;
      say("released");
    }
  })
  .on("close", () => process.exit(0));
say("ready");
