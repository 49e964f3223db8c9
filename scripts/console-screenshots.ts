/**
 * Screenshots of every console page, for the README: docs/console/*.png. Runs the built CLI's
 * `console` against an in-process simulator and drives Debian's Chromium through playwright-core.
 * Usage: npm run console:screenshots
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type Page } from "playwright-core";
import { hashPassword } from "../src/console/passwords.js";
import { createSimulator } from "../src/simulator/index.js";

const ROOT = resolve(import.meta.dirname, "..");
const OUT = join(ROOT, "docs/console");
const GROUP = "29952775505428481";
const CHROMIUM = process.env.PCB_CHROMIUM ?? "/usr/bin/chromium";

function csv(count: number, bad: boolean): string {
  const lines = ["recipient_id,amount,email"];
  for (let i = 1; i <= count; i++) {
    const amount = bad && i === 3 ? "1,000" : bad && i === 7 ? "-500" : String(300 + (i % 5) * 100);
    lines.push(`M-${String(i).padStart(4, "0")},${amount.includes(",") ? `"${amount}"` : amount},member${i}@example.com`);
  }
  if (bad) lines.push("M-0002,500,again@example.com");
  return `${lines.join("\n")}\n`;
}

const sim = createSimulator({ latencyMs: 30 });
const baseUrl = await sim.start(0, "127.0.0.1");
const dir = await mkdtemp(join(tmpdir(), "pcb-screens-"));
const users = [
  { name: "hanako", roles: ["preparer"], password: await hashPassword("hanako-pass") },
  { name: "kenji", roles: ["approver"], password: await hashPassword("kenji-pass") },
];
await writeFile(join(dir, "accounts.json"), JSON.stringify({ users }), { mode: 0o600 });
const child = spawn(
  process.execPath,
  [
    join(ROOT, "dist/cli.js"),
    "console",
    "--dir",
    join(dir, "console"),
    "--port",
    "0",
    "--base-url",
    baseUrl,
    "--auth",
    "accounts",
    "--accounts",
    join(dir, "accounts.json"),
    "--rate",
    "6",
    "--concurrency",
    "2",
  ],
  { env: { ...process.env, POINTS_CODE_BATCH_TODAY: "2099-03-15" }, stdio: ["ignore", "pipe", "inherit"] },
);
let stdout = "";
child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
while (!/listening on (\S+)/.test(stdout)) await new Promise((r) => setTimeout(r, 20));
const url = /listening on (\S+)/.exec(stdout)?.[1] ?? "";

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
await mkdir(OUT, { recursive: true });
// Long pages (a result of 120 rows) are cut at the window: the top is what a reader needs to see.
const shot = (page: Page, name: string) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: !name.startsWith("results") });

async function signIn(name: string, password: string, locale = "en-US"): Promise<Page> {
  const context = await browser.newContext({ locale, viewport: { width: 1180, height: 760 } });
  const page = await context.newPage();
  await page.goto(`${url}/login`);
  await page.fill("input[name=user]", name);
  await page.fill("input[name=password]", password);
  if (name === "hanako" && locale === "en-US") await shot(page, "login");
  await page.click("button[type=submit]");
  await page.waitForSelector('[data-testid="user"]');
  return page;
}

try {
  const hanako = await signIn("hanako", "hanako-pass");
  await hanako.goto(`${url}/new`);
  await hanako.fill("input[name=id]", "spring-2099");
  await hanako.selectOption("select[name=groupId]", GROUP);
  await hanako.fill("input[name=name]", "春のありがとうキャンペーン");
  await hanako.fill("input[name=startAt]", "2099-04-01");
  await hanako.fill("input[name=endAt]", "2099-06-30");
  await hanako.setInputFiles("input[name=file]", { name: "spring.csv", mimeType: "text/csv", buffer: Buffer.from(csv(120, true)) });
  await shot(hanako, "new-campaign");
  await Promise.all([hanako.waitForURL(`${url}/campaigns/spring-2099`), hanako.click("#new-campaign button[type=submit]")]);
  await shot(hanako, "problems");
  await hanako.setInputFiles(".upload input[name=file]", { name: "spring-fixed.csv", mimeType: "text/csv", buffer: Buffer.from(csv(120, false)) });
  await Promise.all([hanako.waitForURL(`${url}/campaigns/spring-2099`), hanako.click(".upload button[type=submit]")]);
  await shot(hanako, "plan");

  const kenji = await signIn("kenji", "kenji-pass");
  await kenji.goto(`${url}/campaigns/spring-2099`);
  await kenji.fill('[data-testid="confirm-id"]', "spring-2099");
  await shot(kenji, "approve");
  await Promise.all([kenji.waitForURL(`${url}/campaigns/spring-2099`), kenji.click('[data-testid="approve-button"]')]);
  while (sim.ledger().length < 70) await new Promise((r) => setTimeout(r, 50));
  await shot(kenji, "progress");
  await kenji.waitForSelector('[data-testid="run-ended"][data-exit="0"]', { timeout: 60_000 });
  await shot(kenji, "results");
  await kenji.goto(url);
  await shot(kenji, "campaigns");
  const japanese = await signIn("hanako", "hanako-pass", "ja-JP");
  await japanese.goto(`${url}/campaigns/spring-2099`);
  await shot(japanese, "results-ja");
  process.stdout.write(`wrote ${OUT}/{login,new-campaign,problems,plan,approve,progress,results,campaigns,results-ja}.png\n`);
} finally {
  await browser.close();
  child.kill("SIGINT");
  await new Promise((r) => child.on("close", r));
  await sim.close();
  await rm(dir, { recursive: true, force: true });
}
