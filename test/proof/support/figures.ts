import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PROOF_SEED } from "./seed.js";

/**
 * Figures of one proof: written as JSON into $PROOF_FIGURES_DIR (one file per proof) when that
 * variable is set, for scripts/proof-report.ts to tabulate; nothing is written otherwise.
 */
export interface Figures {
  /** Which part of the suite: crash, chaos, torn, hostile, secrets, contract, lock. */
  part: string;
  /** One proof within the part, e.g. a fault kind. */
  name: string;
  violations: number;
  [key: string]: unknown;
}

export async function writeFigures(figures: Figures): Promise<void> {
  const dir = process.env.PROOF_FIGURES_DIR;
  if (!dir) return;
  await mkdir(dir, { recursive: true });
  // The name, made safe for a file name, plus a hash of it: names such as amount " 500" and "500 "
  // must not land in the same file.
  const hash = createHash("sha256").update(figures.name).digest("hex").slice(0, 8);
  const file = join(dir, `${figures.part}--${figures.name.replace(/[^A-Za-z0-9._-]+/g, "_")}--${hash}.json`);
  await writeFile(file, `${JSON.stringify({ seed: PROOF_SEED, writtenAt: new Date().toISOString(), ...figures }, null, 2)}\n`);
}
