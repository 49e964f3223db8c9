/**
 * The fastest client this machine and simulator allow, as a reference for efficiency: c workers on
 * a keep-alive node:http agent, each signing (same OPA-Auth HMAC) and sending the next request the
 * moment its answer is read. No CSV, no checkpoint, no classification, no result file.
 *
 *   node floor-client.mjs --base-url URL --campaign C --concurrency N --rows R [--summary-json FILE]
 *
 * What it achieves against c / L is what the simulator, the timers, loopback and the two processes
 * sharing the CPU leave to any client; the tool's gap to it is the tool's own.
 */
import { writeFile } from "node:fs/promises";
import http from "node:http";
import { deriveRequestId } from "../src/job/request-id.js";
import { CREATE_PATH, flag, signedCreateHeaders } from "./lib/baseline-client.js";

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const base = new URL(flag(args, "base-url"));
  const campaign = flag(args, "campaign");
  const concurrency = Number(flag(args, "concurrency"));
  const rows = Number(flag(args, "rows"));
  const summaryFile = args.includes("--summary-json") ? flag(args, "summary-json") : undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

  const send = (i: number): Promise<boolean> => {
    const body = Buffer.from(
      `{"requestId":"${deriveRequestId(campaign, `F${i}`)}","groupId":29952775505428481,"giftCardName":"x","giftCardValue":1,"startAt":"2094-04-01","endAt":"2094-06-30"}`,
    );
    return new Promise((resolve) => {
      const req = http.request(
        {
          host: base.hostname,
          port: base.port,
          path: CREATE_PATH,
          method: "POST",
          agent,
          headers: { ...signedCreateHeaders(body), "Content-Length": body.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const ok = res.statusCode === 200 && Buffer.concat(chunks).toString("utf8").includes('"SUCCESS"');
            resolve(ok);
          });
        },
      );
      req.on("error", () => resolve(false));
      req.end(body);
    });
  };

  let next = 0;
  let issued = 0;
  let firstSend = 0;
  let lastAnswer = 0;
  const worker = async (): Promise<void> => {
    while (next < rows) {
      const i = next++;
      if (firstSend === 0) firstSend = performance.now();
      if (await send(i)) issued++;
      lastAnswer = performance.now();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  const sendingMs = lastAnswer - firstSend;
  const summary = { rows, issued, requests: rows, requestsPerSecond: (rows * 1000) / sendingMs, sendingSeconds: sendingMs / 1000 };
  if (summaryFile) await writeFile(summaryFile, `${JSON.stringify(summary)}\n`);
  process.stdout.write(`floor: ${issued}/${rows} issued, ${summary.requestsPerSecond.toFixed(1)} req/s\n`);
  process.exitCode = issued === rows ? 0 : 3;
}

await main();
