import { existsSync } from "node:fs";
import { after } from "node:test";
import { type Browser, chromium } from "playwright-core";

/**
 * Debian's Chromium driven by playwright-core (never its own browser download). Each launch gets a
 * fresh temporary profile (playwright passes its own --user-data-dir); every user is a new context,
 * so each has its own cookies.
 */

export const CHROMIUM = process.env.PCB_CHROMIUM ?? "/usr/bin/chromium";

/** Why browser tests cannot run here, or undefined. With CI=true a missing browser is a failure. */
export function browserMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.env.CI === "true") throw new Error(`${CHROMIUM} is missing; CI installs it (apt-get install -y chromium)`);
  return `skipped: ${CHROMIUM} is missing (apt-get install -y chromium); mandatory with CI=true`;
}

export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  after(() => browser.close());
  return browser;
}
