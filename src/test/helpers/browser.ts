import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (scripts/setup installs it); Playwright drives it, nothing is downloaded. */
export const CHROMIUM = process.env.BOTHUB_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Screenshots of each page, kept after the run (gitignored). */
export const SCREENSHOTS = new URL('../../../artifacts/screenshots/', import.meta.url).pathname;

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export function launchBrowser(): Promise<Browser> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ['--disable-gpu', '--disable-dev-shm-usage'] });
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Runs axe-core in the page and fails on serious or critical violations. */
export async function assertAccessible(page: Page, what: string): Promise<void> {
  // Evaluated through the debugging protocol: the daemon's CSP rightly refuses inline scripts.
  await page.evaluate(axeSource);
  const violations = await page.evaluate<AxeViolation[]>('axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations)');
  const bad = violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} at ${v.nodes
          .slice(0, 3)
          .map((n) => n.target.join(' '))
          .join('; ')}`,
    );
  assert.deepEqual(bad, [], `accessibility of ${what}`);
}

/** An accessibility check, then a screenshot of the page as an artifact. */
export async function checkPage(page: Page, name: string): Promise<void> {
  await assertAccessible(page, name);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The element that has the keyboard focus, described by its accessible label or text. */
export function focused(page: Page): Promise<string> {
  return page.evaluate<string>('(() => { const e = document.activeElement; return (e?.getAttribute("aria-label") || e?.textContent || e?.id || "").trim(); })()');
}
