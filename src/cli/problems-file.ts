import { chmod, writeFile } from "node:fs/promises";
import { problemsCsv, RowsInvalidError } from "../job/refusals.js";
import type { RowProblem } from "../job/validate-row.js";

/** --problems-csv: every problem of a refused input. Mode 0600: the values are people's data. */
export async function writeProblemsCsv(file: string, problems: readonly RowProblem[]): Promise<void> {
  await writeFile(file, problemsCsv(problems), { mode: 0o600 });
  await chmod(file, 0o600);
}

/** When a run is refused for its rows and --problems-csv was given, writes them there and says so. */
export async function writeProblemsOf(error: unknown, file: string | undefined): Promise<void> {
  if (file === undefined || !(error instanceof RowsInvalidError)) return;
  await writeProblemsCsv(file, error.problems);
  error.notePrinted(file);
}
