import { createInterface } from "node:readline/promises";
import type { PreparedRun } from "../job/prepare-run.js";
import { describeCharges } from "../job/spend-guard.js";
import { describeTarget, type Target } from "../paypay/target.js";

/** A person is at a terminal: both ends of the conversation are one. */
export function isInteractive(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

/** Shows what a production run will charge and asks for "yes" before anything is recorded or sent. */
export async function confirmAtTerminal(prepared: PreparedRun, target: Target): Promise<boolean> {
  const lines = [`This run sends ${prepared.plan.actions.send} row(s) to ${describeTarget(target)}.`, `It may charge ${describeCharges(prepared.charges)}.`];
  for (const group of prepared.plan.groups.values()) {
    if (group.sendRows + group.inDoubtRows > 0) lines.push(`  group ${group.groupId}: ${group.sendRows + group.inDoubtRows} row(s)`);
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${lines.join("\n")}\nType yes to issue (anything else stops; --yes skips this question): `);
    return answer.trim().toLowerCase() === "yes";
  } finally {
    prompt.close();
  }
}

/** Asks a person at the terminal to type "yes" after `text`; anything else is no. */
export async function askYes(text: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await prompt.question(text)).trim().toLowerCase() === "yes";
  } finally {
    prompt.close();
  }
}
