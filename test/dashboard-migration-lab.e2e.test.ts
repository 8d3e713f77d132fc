import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';
import { labDown } from '../src/lab/lab.js';
import { labLeftovers } from './support/lab-checks.js';
import { MigrationLab, type GuestFacts } from './support/migration-lab.js';
import { launchDashboardBrowser, type DashboardBrowser } from './support/dashboard-browser.js';

/**
 * Issue 17's "in a lab live-migrate a VM from the UI and watch the stages":
 * the dashboard of a controller whose two hosts are the lab's namespaced
 * agents with real QEMU (migration TLS on, a shared datastore, a 128 MiB
 * guest). The admin opens the running VM's Migrate tab, picks the other host
 * and a bandwidth cap, sees the pre-check and the predicted time before
 * anything starts, and follows the stage timeline live through stages 0–5
 * with the % of RAM sent, to the result's total time and downtime; the VM's
 * page then names its new host. A second, slower migration is cancelled with
 * the page's Cancel button, and a third loses its destination QEMU
 * (SIGKILL) during the pre-copy: both end on the page with their reason and
 * the VM running on its source — one copy, its guest never rebooted.
 */

const lab = new MigrationLab();
let web: DashboardBrowser;
let vmId = '';
let ip = '';
let facts0: GuestFacts;

before(async () => {
  await lab.start(2);
  web = await launchDashboardBrowser('nubo-dashboard-lab-');
  const booted = await lab.bootVm('web-mig', 1, 'shared');
  vmId = booted.vm.id;
  ip = booted.ip;
  facts0 = await lab.facts(ip);
});
after(async () => {
  if (process.env['NUBO_KEEP_SCREENSHOTS'] !== undefined) process.stdout.write(`# screenshots in ${web?.shotsDir}\n`);
  await web?.close();
  await lab.stop();
});

const url = (path: string): string => `${lab.controller!.url}${path}`;

async function signIn(path: string): Promise<Page> {
  const page = await web.newPage(url('/'));
  await page.getByLabel('API token').fill(lab.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
  await page.goto(url(path));
  return page;
}

/** What the progress view showed at one moment: its heading, the stage (0–5) it had reached, and the % of RAM sent. */
interface Seen { heading: string; stage: number; sent: number | null }

/**
 * Records every change of the Migrate tab's progress view, as the page draws
 * it (a MutationObserver in the page): the test reads afterwards what the
 * user saw, however fast the stages went by. Evaluated as a string: this
 * file is compiled without the DOM's types.
 */
async function recordProgress(page: Page): Promise<() => Promise<Seen[]>> {
  await page.evaluate(`(() => {
    const seen = [];
    let last = '';
    const read = () => {
      const view = document.querySelector('section.migration');
      if (!view) return;
      const current = view.querySelector('.stages li.current');
      const done = view.querySelectorAll('.stages li.done').length;
      const ram = [...view.querySelectorAll('label.progress')].find((l) => l.textContent.startsWith('RAM sent'));
      const s = {
        heading: view.querySelector('h2')?.textContent ?? '',
        stage: current ? parseInt(current.textContent, 10) : done - 1,
        sent: ram ? Number(ram.querySelector('progress').value) : null,
      };
      const key = JSON.stringify(s);
      if (key !== last) { last = key; seen.push(s); }
    };
    new MutationObserver(read).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    read();
    window.__nuboSeen = seen;
  })()`);
  return () => page.evaluate<Seen[]>('window.__nuboSeen');
}

/** Migrate tab: destination and cap filled in, Migrate pressed; returns the confirmation once its pre-check passed. */
async function askMigration(page: Page, to: string, capMiBps: number): Promise<Locator> {
  await page.getByLabel('Destination').selectOption(to);
  await page.getByLabel('Bandwidth limit (MiB/s)').fill(String(capMiBps));
  await page.getByRole('button', { name: 'Migrate', exact: true }).click();
  const confirm = page.getByRole('dialog', { name: 'Live-migrate web-mig?' });
  await confirm.getByText(`while it runs, its stream capped at ${capMiBps} MiB/s.`).waitFor();
  // The planner measures the guest's dirty rate first (about a second, more on a loaded machine).
  await confirm.getByRole('status').filter({ hasText: 'Pre-check: passed' }).waitFor({ timeout: 60_000 });
  return confirm;
}

/** Seconds in the dialog's "12.3 s". */
const seconds = async (l: Locator): Promise<number> => {
  const text = await l.innerText();
  const m = /^(\d+(\.\d+)?) s$/.exec(text);
  assert.ok(m, `a time in seconds: ${text}`);
  return Number(m[1]);
};

/** The migration the page started: the VM's newest record. */
const newest = async () => (await lab.api.listMigrations({ vm: vmId })).at(-1)!;

/** The progress view's numbers as migration-numbers.ts formats them. */
const shown = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`);

test('lab: the Migrate tab live-migrates the running VM h1 → h2 — pre-check and predicted time first, the stage timeline live with % of RAM sent, the result with total time and downtime, the VM\'s host changed on its page', async () => {
  const page = await signIn(`/vms/${vmId}/migrate`);
  await page.getByLabel('Destination').locator('option[value="h2"]').waitFor({ state: 'attached' });
  const seen = await recordProgress(page);

  const confirm = await askMigration(page, 'h2', 8);
  // The prediction is the planner's for this cap: 128 MiB at no more than 8 MiB/s takes at least 16 s.
  const predicted = await seconds(confirm.getByTestId('predicted-time'));
  assert.ok(predicted >= 16, `predicted ${predicted} s at 8 MiB/s`);
  assert.match(await confirm.getByTestId('predicted-downtime').innerText(), /^\d+ ms$/);
  assert.equal((await lab.api.listMigrations({ vm: vmId })).length, 0, 'the dry run started nothing');
  await confirm.getByRole('button', { name: 'Start migration' }).click();

  const view = page.getByRole('region', { name: 'Migration progress' });
  await view.getByRole('heading', { name: 'h1 → h2: succeeded' }).waitFor({ timeout: 240_000 });
  const m = await newest();
  assert.equal(m.state, 'succeeded', `migration: ${m.reason ?? ''}`);
  assert.equal(m.policy['maxBandwidthMiBps'], 8, 'the cap reached the migration');

  // What the page showed on the way: the pre-copy with a share of RAM sent, and the stages only ever advancing.
  const steps = await seen();
  process.stdout.write(`# the progress view showed: ${steps.map((s) => `${s.heading} @${s.stage}${s.sent === null ? '' : ` ${s.sent}%`}`).join(' | ')}\n`);
  const running = steps.filter((s) => s.heading === 'h1 → h2: running');
  assert.ok(running.some((s) => s.stage === 2 && s.sent !== null && s.sent >= 0 && s.sent <= 100), 'the pre-copy seen with its % of RAM sent');
  assert.ok(new Set(running.map((s) => s.stage)).size >= 2, `the timeline seen advancing while it ran: ${running.map((s) => s.stage).join(',')}`);
  const stages = steps.filter((s) => s.heading.startsWith('h1 → h2')).map((s) => s.stage);
  assert.deepEqual(stages, [...stages].sort((a, b) => a - b), 'the timeline never went back');
  assert.deepEqual({ ...steps.at(-1), sent: undefined }, { heading: 'h1 → h2: succeeded', stage: 5, sent: undefined });

  assert.deepEqual(await view.locator('.stages li.done').allInnerTexts(), ['0 Pre-migration', '1 Reservation', '2 Pre-copy', '3 Stop-and-copy', '4 Commitment', '5 Activation']);
  // The result is the API's own figures.
  assert.equal(await view.getByTestId('total-time').innerText(), shown(Number(m.stats['totalTimeMs'])));
  assert.equal(await view.getByTestId('downtime').innerText(), shown(Number(m.stats['downtimeMs'])));
  assert.equal(await view.getByTestId('bandwidth-cap').innerText(), '8 MiB/s');
  assert.equal(await view.getByRole('button', { name: 'Cancel migration' }).count(), 0, 'nothing left to cancel');
  // h2 is the VM's own host now, so no longer offered: the form is back to the scheduler's choice.
  assert.equal(await page.getByLabel('Destination').inputValue(), '');
  assert.deepEqual(await page.getByLabel('Destination').locator('option').allInnerTexts().then((o) => o.map((x) => x.replace(/ \(.*/, ''))), ['chosen by the scheduler', 'h1']);
  assert.deepEqual(await web.axe(page), [], 'axe-core on a finished migration');
  await web.docScreenshot(page, 'vm-migrate');

  // The VM's own page follows: its host is the destination, without a reload.
  await page.getByRole('link', { name: 'Summary' }).click();
  await page.getByRole('definition').filter({ hasText: /^h2$/ }).waitFor();
  await lab.assertOneCopy(vmId, 2);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > facts0.uptime, 'the guest kept running: no reboot');
  assert.equal(after.sum, facts0.sum, 'its disk data unchanged');
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

/** Migrate tab at h2 → h1 under a 1 MiB/s cap: started from the page, and followed there until its pre-copy shows RAM being sent. */
async function slowMigration(): Promise<{ page: Page; view: Locator; id: string }> {
  const page = await signIn(`/vms/${vmId}/migrate`);
  await page.getByLabel('Destination').locator('option[value="h1"]').waitFor({ state: 'attached' });
  const confirm = await askMigration(page, 'h1', 1);
  assert.ok((await seconds(confirm.getByTestId('predicted-time'))) >= 128, '128 MiB at 1 MiB/s');
  const before = (await lab.api.listMigrations({ vm: vmId })).length;
  await confirm.getByRole('button', { name: 'Start migration' }).click();
  const view = page.getByRole('region', { name: 'Migration progress' });
  await view.getByRole('heading', { name: 'h2 → h1: running' }).waitFor({ timeout: 60_000 });
  await view.locator('.stages li.current').filter({ hasText: '2 Pre-copy' }).waitFor({ timeout: 120_000 });
  await view.getByText('RAM sent').waitFor();
  const all = await lab.api.listMigrations({ vm: vmId });
  assert.equal(all.length, before + 1, 'one migration started');
  const m = all.at(-1)!;
  assert.equal(m.state, 'running');
  assert.equal(m.policy['maxBandwidthMiBps'], 1);
  return { page, view, id: m.id };
}

/** The VM runs on h2 and only there, its page says so, and its guest never rebooted. */
async function stillOnSource(page: Page): Promise<void> {
  await page.getByRole('link', { name: 'Summary' }).click();
  await page.getByRole('definition').filter({ hasText: /^h2$/ }).waitFor();
  await page.getByRole('definition').filter({ hasText: /^running/ }).waitFor();
  await lab.assertOneCopy(vmId, 2);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > facts0.uptime, 'the guest kept running: no reboot');
  assert.equal(after.sum, facts0.sum, 'its disk data unchanged');
}

test('lab: a slow migration (1 MiB/s) is cancelled with the progress view\'s Cancel button; the VM stays on its source, running', async () => {
  const { page, view, id } = await slowMigration();
  assert.deepEqual(await web.axe(page), [], 'axe-core on a running migration');
  await view.getByRole('button', { name: 'Cancel migration' }).click();
  await view.getByRole('heading', { name: 'h2 → h1: aborted' }).waitFor({ timeout: 120_000 });
  const m = await lab.api.getMigration(id);
  assert.equal(m.state, 'aborted');
  assert.match(m.reason ?? '', /cancel/);
  assert.equal(await view.locator('dt:text-is("Reason") + dd').innerText(), m.reason);
  // It ended in the pre-copy: the timeline stops there, marked stopped (not done), short of the commitment.
  assert.deepEqual(await view.locator('.stages li.done').allInnerTexts(), ['0 Pre-migration', '1 Reservation']);
  assert.deepEqual(await view.locator('.stages li.stopped').allInnerTexts(), ['2 Pre-copy']);
  assert.equal(await view.getByRole('button', { name: 'Cancel migration' }).count(), 0);
  // The form is offered again.
  await page.getByRole('button', { name: 'Migrate', exact: true }).waitFor();
  await stillOnSource(page);
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('lab: the destination QEMU killed (SIGKILL) during a migration the page follows — it ends failed with its reason on the page; the VM stays on its source, running', async () => {
  const { page, view, id } = await slowMigration();
  const pid = await lab.qemuPid(1, vmId);
  assert.ok(pid !== undefined, 'the destination QEMU runs');
  process.kill(pid, 'SIGKILL');
  await view.getByRole('heading', { name: 'h2 → h1: failed' }).waitFor({ timeout: 120_000 });
  const m = await lab.api.getMigration(id);
  assert.equal(m.state, 'failed');
  assert.ok((m.reason ?? '').length > 0, 'the API gives a reason');
  assert.equal(await view.locator('dt:text-is("Reason") + dd').innerText(), m.reason);
  await stillOnSource(page);
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();

  await lab.api.vmAction(vmId, 'terminate-hard');
  await lab.waitState(vmId, 'terminated');
  await labDown(lab.dir);
  lab.down = true;
  assert.deepEqual(await labLeftovers(lab.prefix), [], 'the lab left nothing behind');
});
