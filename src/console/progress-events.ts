import type { IncomingMessage, ServerResponse } from "node:http";
import type { ProgressSnapshot } from "./run-progress.js";

/** Server-sent events: the progress snapshot twice a second while it changes, until the run ends. */
export function streamProgress(req: IncomingMessage, res: ServerResponse, snapshot: () => ProgressSnapshot | undefined): void {
  res.writeHead(200, { "Content-Type": "text/event-stream; charset=utf-8", Connection: "keep-alive" });
  let last = "";
  const send = (): void => {
    const s = snapshot();
    const text = JSON.stringify(s ?? null);
    if (text !== last) {
      last = text;
      res.write(`data: ${text}\n\n`);
    }
    if (!s || s.state === "ended") finish();
  };
  const timer = setInterval(send, 500);
  const finish = (): void => {
    clearInterval(timer);
    res.end();
  };
  req.on("close", () => clearInterval(timer));
  send();
}
