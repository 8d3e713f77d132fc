import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium package (scripts/install-deps.sh): playwright-core drives it; no browser is downloaded. */
export const CHROMIUM = '/usr/bin/chromium';

/** One headless chromium for a test file, pages that record every console error, and screenshots in a temp dir. */
export interface DashboardBrowser {
  readonly browser: Browser;
  /** Where the screenshots go (kept when NUBO_KEEP_SCREENSHOTS is set, else removed by close()). */
  readonly shotsDir: string;
  /** A fresh context (its own sessionStorage) and page at the dashboard's URL. */
  newPage(url: string, viewport?: { width: number; height: number }): Promise<Page>;
  /** Console errors and page errors seen so far, on every page. */
  readonly errors: string[];
  /** Removes and returns the errors matching `re`: those a test provoked on purpose (the browser logs every 4xx answer). */
  takeErrors(re: RegExp): string[];
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchDashboardBrowser(prefix: string): Promise<DashboardBrowser> {
  const shotsDir = await mkdtemp(join(tmpdir(), `${prefix}shots-`));
  // Playwright gives the browser a fresh profile directory of its own (it refuses --user-data-dir in args) and removes it at close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const errors: string[] = [];
  const contexts: BrowserContext[] = [];
  return {
    browser, shotsDir, errors,
    takeErrors(re) {
      const taken = errors.filter((e) => re.test(e));
      const kept = errors.filter((e) => !re.test(e));
      errors.splice(0, errors.length, ...kept);
      return taken;
    },
    async newPage(url, viewport = { width: 1280, height: 800 }) {
      const ctx = await browser.newContext({ viewport });
      contexts.push(ctx);
      const page = await ctx.newPage();
      page.setDefaultTimeout(30_000);
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`${page.url()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
      await page.goto(url);
      return page;
    },
    async screenshot(page, name) {
      const file = join(shotsDir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
      if (process.env['NUBO_KEEP_SCREENSHOTS'] === undefined) await rm(shotsDir, { recursive: true, force: true });
    },
  };
}
