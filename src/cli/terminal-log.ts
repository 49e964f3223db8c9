/**
 * Where pretty log lines go on a terminal: straight to stderr, or, while a progress bar is drawn,
 * above it through the bar's own redraw, so a log line never lands inside the bar's line.
 */

type Sink = (text: string) => void;

let above: Sink | undefined;

export function writeTerminalLog(text: string): void {
  if (above) above(text);
  else process.stderr.write(text);
}

/** While set, log text goes to `sink` (the bar prints it above itself); `undefined` restores stderr. */
export function routeTerminalLog(sink: Sink | undefined): void {
  above = sink;
}
