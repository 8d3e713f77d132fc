import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  /** The viewport only, into the repo's docs/screenshots/ (shown in the README): small PNGs of the main pages. */
  docScreenshot(page: Page, name: string): Promise<string>;
  /** axe-core's serious and critical violations on the page as it is now, one line each (none is the goal). */
  axe(page: Page): Promise<string[]>;
  close(): Promise<void>;
}

/** docs/screenshots/ of the repo, from dist/test/support/ where this file runs compiled. */
export const DOC_SHOTS_DIR = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));

/** axe-core's browser bundle, injected into pages as a script (it is a dev dependency, never in the dashboard's bundle). */
const axeSource = (): Promise<string> => readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }

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
    async docScreenshot(page, name) {
      await mkdir(DOC_SHOTS_DIR, { recursive: true });
      const file = join(DOC_SHOTS_DIR, `${name}.png`);
      await page.screenshot({ path: file, fullPage: false });
      return file;
    },
    async axe(page) {
      if (await page.evaluate('typeof window.axe') !== 'object') await page.addScriptTag({ content: await axeSource() });
      // Evaluated in the page, hence a string: this file is compiled without the DOM's types.
      const violations = await page.evaluate<AxeViolation[]>('window.axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations)');
      return violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.impact}: ${v.id} (${v.help}) at ${v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)).join(', ')}`);
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
      if (process.env['NUBO_KEEP_SCREENSHOTS'] === undefined) await rm(shotsDir, { recursive: true, force: true });
    },
  };
}
