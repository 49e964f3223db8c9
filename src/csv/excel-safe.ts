/**
 * Spreadsheet-safe cells. A cell starting with `=`, `+`, `-`, `@`, tab or CR is a formula to Excel
 * and LibreOffice, so a name typed into a campaign sheet could run when the result is opened
 * (CSV injection). Prefixing a single quote makes the application show it as text.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export function neutralizeFormula(cell: string): string {
  return FORMULA_START.test(cell) ? `'${cell}` : cell;
}
