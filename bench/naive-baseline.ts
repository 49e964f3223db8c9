/**
 * The simplest script a user could write instead of points-code-batch: read the CSV, sign each
 * request with the same OPA-Auth HMAC, send it with fetch under p-limit, count the answers.
 * No checkpoint, no retries, no result CSV, no validation beyond what the bench input needs.
 *
 *   node naive-baseline.mjs <csv> --base-url URL --campaign C --concurrency N --group-id G
 *        --name X --start-at D --end-at D --value V [--summary-json FILE]
 *
 * The bench bundles this file (esbuild) so that it starts like the compiled tool does, without tsx.
 * It derives requestIds the same way as the tool (UUIDv5 of [campaign, recipient_id]) so that both
 * put the same work on the simulator.
 */
import { readFile, writeFile } from "node:fs/promises";
import pLimit from "p-limit";
import { deriveRequestId } from "../src/job/request-id.js";
import { CREATE_PATH, flag, signedCreateHeaders } from "./lib/baseline-client.js";

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const csv = args[0];
  if (!csv) throw new Error("usage: naive-baseline <csv> --base-url URL ...");
  const baseUrl = flag(args, "base-url");
  const campaign = flag(args, "campaign");
  const concurrency = Number(flag(args, "concurrency", "4"));
  const groupId = flag(args, "group-id");
  const name = flag(args, "name");
  const startAt = flag(args, "start-at");
  const endAt = flag(args, "end-at");
  const value = Number(flag(args, "value"));
  const summaryFile = args.includes("--summary-json") ? flag(args, "summary-json") : undefined;

  const started = performance.now();
  const lines = (await readFile(csv, "utf8")).split("\n");
  const header = lines[0]!.split(",");
  const idColumn = header.indexOf("recipient_id");
  const rows = lines
    .slice(1)
    .filter((line) => line !== "")
    .map((line) => line.split(",")[idColumn]!);

  const limit = pLimit(concurrency);
  let issued = 0;
  let failed = 0;
  let firstSend = 0;
  let lastAnswer = 0;
  await Promise.all(
    rows.map((recipientId) =>
      limit(async () => {
        const body = JSON.stringify({
          requestId: deriveRequestId(campaign, recipientId),
          groupId: 0,
          giftCardName: name,
          giftCardValue: value,
          startAt,
          endAt,
        }).replace('"groupId":0', `"groupId":${groupId}`);
        if (firstSend === 0) firstSend = performance.now();
        try {
          const response = await fetch(baseUrl + CREATE_PATH, { method: "POST", headers: signedCreateHeaders(body), body });
          const json = (await response.json()) as { resultInfo?: { code?: string } };
          if (response.ok && json.resultInfo?.code === "SUCCESS") issued++;
          else failed++;
        } catch {
          failed++;
        }
        lastAnswer = performance.now();
      }),
    ),
  );
  const sendingMs = lastAnswer - firstSend;
  const summary = {
    rows: rows.length,
    issued,
    failed,
    requests: rows.length,
    elapsedSeconds: (performance.now() - started) / 1000,
    requestsPerSecond: sendingMs > 0 ? (rows.length * 1000) / sendingMs : 0,
    sendingSeconds: sendingMs / 1000,
  };
  if (summaryFile) await writeFile(summaryFile, `${JSON.stringify(summary)}\n`);
  process.stdout.write(`naive: ${issued} issued, ${failed} failed, ${summary.requestsPerSecond.toFixed(1)} req/s\n`);
  process.exitCode = failed > 0 ? 3 : 0;
}

await main();
