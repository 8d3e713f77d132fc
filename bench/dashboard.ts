/**
 * The dashboard's first load (issue 17): a real `nubo controller` in a process
 * of its own with --vms VMs in its store (created through the API on a fake
 * fleet, so they are `running` without QEMU), and Debian's chromium loading
 * the dashboard cold (a fresh browser context: no cache, a saved session
 * token) --runs times. Measured in the page: navigation start → the
 * overview shows every VM in its by-state tiles and the hosts; and → the VMs
 * list shows its rows. Goal: overview under 1 s (the median's 95 % bootstrap
 * interval below it). Also the bundle's size, gzip'd, split into what the
 * first load fetches and what is loaded on demand. Table + JSON in
 * bench/results/. Not a test.
 *
 *   node dist/bench/dashboard.js [--vms 1000] [--hosts 10] [--runs 15]
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { chromium } from 'playwright-core';
import { FakeFleet } from '../src/agent/fake-fleet.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { startControllerProcess } from '../test/support/controller-process.js';
import { CHROMIUM } from '../test/support/dashboard-browser.js';
import { benchFlag } from './support/bench-flag.js';
import { bootstrapCi } from './support/bootstrap-ci.js';
import { quantile } from './support/quantile.js';
import { textTable } from './support/text-table.js';
import { verdict } from './support/verdict.js';

const vms = benchFlag('vms', 'BENCH_VMS', 1_000);
const hosts = benchFlag('hosts', 'BENCH_HOSTS', 10);
const runs = benchFlag('runs', 'BENCH_RUNS', 15);
const GOAL_MS = 1_000;
const logger = pino({ level: process.env['NUBO_BENCH_LOG'] ?? 'silent' });
const webDir = join(import.meta.dirname, '../web');

/**
 * Runs in the page before its own scripts: records `performance.now()` (ms
 * since navigation start) the first time each view is complete. Complete
 * means the data is on screen, not a spinner: the overview's tiles add up to
 * every VM and every host has its card; the VMs list shows its first rows
 * and says how many there are.
 */
const probe = (token: string, expectVms: number, expectHosts: number): string => `
sessionStorage.setItem('nubo.token', ${JSON.stringify(token)});
window.__nuboDone = {};
new MutationObserver(() => {
  const d = window.__nuboDone;
  if (d.overview === undefined) {
    const tiles = [...document.querySelectorAll('[data-testid="vm-states"] .n')].reduce((s, e) => s + Number(e.textContent), 0);
    const cards = document.querySelectorAll('article.host').length;
    if (tiles === ${expectVms} && cards === ${expectHosts}) d.overview = performance.now();
  }
  if (d.vms === undefined && document.querySelector('table[aria-label="VMs"] tbody tr[data-vm]') !== null && document.querySelector('[data-testid="vm-count"]')?.textContent.startsWith('${expectVms} ')) d.vms = performance.now();
}).observe(document, { subtree: true, childList: true, characterData: true });
`;

async function bundleSizes(): Promise<{ file: string; bytes: number; gzip: number; initial: boolean }[]> {
  const dir = join(import.meta.dirname, '../web/assets');
  const html = await readFile(join(import.meta.dirname, '../web/index.html'), 'utf8');
  const out = [];
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.js') || x.endsWith('.css')).sort()) {
    const b = await readFile(join(dir, f));
    out.push({ file: f, bytes: b.length, gzip: gzipSync(b, { level: 9 }).length, initial: html.includes(f) });
  }
  return out;
}

const root = await mkdtemp(join(tmpdir(), 'nubo-bench-dashboard-'));
const ctl = await startControllerProcess({ cli: join(import.meta.dirname, '../src/cli/nubo.js'), dataDir: join(root, 'controller'), home: join(root, 'home'), heartbeatMs: 5_000 });
let fleet: FakeFleet | undefined;
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
try {
  const api = new NuboClient(ctl.url, ctl.adminToken);
  const perHost = Math.ceil(vms / hosts) + 4;
  fleet = await FakeFleet.start({ hosts, rootDir: join(root, 'fleet'), capacity: { cpus: perHost, memoryMiB: perHost * 256, diskMiB: perHost * 10_240 }, controllerUrl: ctl.url, heartbeatIntervalMs: 5_000, logger });
  for (const h of fleet.hosts) await api.registerHost({ name: h.name, agentUrl: h.url, agentToken: h.token }, { timeoutMs: 60_000 });
  await fleet.beatAll({ concurrency: 8 });
  fleet.startBeating();
  const disk = join(root, 'disk.qcow2');
  await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1M'], { timeoutMs: 30_000 });
  await api.uploadImage({ name: 'disk', file: disk });
  await api.createTemplate({ name: 'small', vcpus: 1, memoryMiB: 128, image: 'disk' });
  const names = Array.from({ length: vms }, (_, i) => `vm-${String(i).padStart(4, '0')}`);
  const s0 = performance.now();
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let name = names.shift(); name !== undefined; name = names.shift()) await api.createVm({ template: 'small', name }, { timeoutMs: 120_000 });
  }));
  await pollUntil(`${vms} VMs running`, async () => ((await api.listVms({}, { timeoutMs: 120_000 })).every((v) => v.state === 'running') ? true : undefined), { timeoutMs: 1_800_000, intervalMs: 2_000 });
  process.stderr.write(`# ${vms} VMs running on ${hosts} fake hosts after ${((performance.now() - s0) / 1000).toFixed(0)} s\n`);

  const samples: { overview: number; vms: number; requests: { path: string; start: number; ms: number }[] }[] = [];
  for (let r = 0; r < runs; r++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await ctx.addInitScript(probe(ctl.adminToken, vms, hosts));
    const page = await ctx.newPage();
    page.setDefaultTimeout(60_000);
    await page.goto(`${ctl.url}/overview`);
    await page.waitForFunction('window.__nuboDone.overview !== undefined', undefined, { timeout: 60_000 });
    const overview = await page.evaluate<number>('window.__nuboDone.overview');
    // Where the time went: every API request of the first load, with when it started and how long it took.
    const requests = await page.evaluate<{ path: string; start: number; ms: number }[]>(`performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/')).map((e) => ({ path: new URL(e.name).pathname + new URL(e.name).search, start: Math.round(e.startTime), ms: Math.round(e.duration) }))`);
    // The VMs list from a cold start too: a deep link, as a bookmark would open it.
    await page.goto(`${ctl.url}/vms`);
    await page.waitForFunction('window.__nuboDone.vms !== undefined', undefined, { timeout: 60_000 });
    const list = await page.evaluate<number>('window.__nuboDone.vms');
    samples.push({ overview, vms: list, requests });
    await ctx.close();
  }

  const fmt = (x: number): string => x.toFixed(0);
  const rows = (['overview', 'vms'] as const).map((k) => {
    const xs = samples.map((s) => s[k]);
    const ci = bootstrapCi(xs);
    return { view: k, n: xs.length, median: ci.point, lo: ci.lo, hi: ci.hi, p90: quantile(xs, 0.9), min: Math.min(...xs), max: Math.max(...xs), verdict: k === 'overview' ? verdict(ci, { limit: GOAL_MS, kind: 'atMost' }) : '' };
  });
  console.log(`\nDashboard first load, ${vms} VMs on ${hosts} hosts, ${runs} cold loads (fresh context), ms from navigation start, ${new Date().toISOString()}`);
  console.log(textTable(['view', 'runs', 'median', '95 % CI', 'p90', 'min', 'max', 'goal', 'verdict'], rows.map((r) => [r.view, String(r.n), fmt(r.median), `${fmt(r.lo)}–${fmt(r.hi)}`, fmt(r.p90), fmt(r.min), fmt(r.max), r.view === 'overview' ? `< ${GOAL_MS}` : '', r.verdict])));
  // The API requests of the overview's first load, by path (the event history's pages merged): median start and duration.
  const byPath = new Map<string, { start: number[]; ms: number[] }>();
  for (const s of samples) {
    for (const q of s.requests) {
      const k = q.path.replace(/since=\d+/, 'since=N');
      const e = byPath.get(k) ?? { start: [], ms: [] };
      e.start.push(q.start);
      e.ms.push(q.ms);
      byPath.set(k, e);
    }
  }
  console.log('\nAPI requests of the overview\'s first load (median over runs; ms from navigation start)');
  console.log(textTable(['request', 'per load', 'start', 'duration'], [...byPath].map(([k, e]) => [k, (e.ms.length / samples.length).toFixed(1), fmt(quantile(e.start, 0.5)), fmt(quantile(e.ms, 0.5))])));
  const bundle = await bundleSizes();
  const sum = (xs: typeof bundle, k: 'bytes' | 'gzip'): number => xs.reduce((s, x) => s + x[k], 0);
  const initial = bundle.filter((b) => b.initial);
  const lazy = bundle.filter((b) => !b.initial);
  console.log('\nBundle (dist/web/assets), KiB');
  console.log(textTable(['part', 'files', 'raw', 'gzip'], [
    ['first load', String(initial.length), (sum(initial, 'bytes') / 1024).toFixed(1), (sum(initial, 'gzip') / 1024).toFixed(1)],
    ['on demand (console)', String(lazy.length), (sum(lazy, 'bytes') / 1024).toFixed(1), (sum(lazy, 'gzip') / 1024).toFixed(1)],
    ['total', String(bundle.length), (sum(bundle, 'bytes') / 1024).toFixed(1), (sum(bundle, 'gzip') / 1024).toFixed(1)],
  ]));
  await mkdir(join(import.meta.dirname, '../../bench/results'), { recursive: true });
  const file = join(import.meta.dirname, '../../bench/results', `dashboard-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ at: new Date().toISOString(), vms, hosts, runs, goalMs: GOAL_MS, samples, rows, bundle, webDir }, null, 2));
  console.log(`\n${file}`);
} finally {
  await browser.close();
  await fleet?.close();
  await ctl.stop();
  await rm(root, { recursive: true, force: true });
}
