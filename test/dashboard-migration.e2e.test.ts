import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { launchDashboardBrowser, type DashboardBrowser } from './support/dashboard-browser.js';
import type { Page } from 'playwright-core';
import { pollUntil } from '../src/util/deadline.js';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Issue 17's migrations from the dashboard, on two in-process hosts on one
 * shared datastore and real QEMU. On the hosts page the admin drags the VM
 * onto the other host (or moves it by keyboard) and confirms; the
 * confirmation shows the planner's pre-check and predicted time when the API
 * answers a dry run. Host maintenance from the hosts page (blocked, moving,
 * in maintenance, Enable), the migrations list's filters, and the progress
 * view of a disk mirror with its Cancel. The Migrate tab's own live
 * migration — the stages followed live, the result, a cancel — runs in the
 * namespace lab: test/dashboard-migration-lab.e2e.test.ts.
 */

let cloud: InProcessCloud;
let web: DashboardBrowser;
/** The VM the tests move. */
let vmId = '';

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-dashboard-mig-', logger: pino({ level: 'silent' }), hosts: 2, shared: true });
  const vm = await cloud.api.createVm({ template: 'tiny', name: 'mig-1', datastore: 'shared' });
  vmId = vm.id;
  await pollUntil('mig-1 running', async () => {
    const v = await cloud.api.getVm(vm.id);
    if (v.state === 'failed') throw new Error(`mig-1 failed: ${v.stateReason ?? ''}`);
    return v.state === 'running' ? true : undefined;
  }, { timeoutMs: 180_000, intervalMs: 500 });
  web = await launchDashboardBrowser('nubo-dashboard-mig-');
});
after(async () => {
  if (process.env['NUBO_KEEP_SCREENSHOTS'] !== undefined) process.stdout.write(`# screenshots in ${web?.shotsDir}\n`);
  await web?.close();
  await cloud?.stop();
});

async function signIn(path: string): Promise<Page> {
  const page = await web.newPage(`${cloud.controller.url}/`);
  await page.getByLabel('API token').fill(cloud.api.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
  await page.goto(`${cloud.controller.url}${path}`);
  return page;
}

const hostOf = async (): Promise<string> => (await cloud.api.getVm(vmId)).host!;
const other = (h: string): string => (h === 'h1' ? 'h2' : 'h1');

/** Waits until the VM runs on `host` after a migration the page started. */
async function landsOn(host: string): Promise<void> {
  await pollUntil(`mig-1 on ${host}`, async () => {
    const v = await cloud.api.getVm(vmId);
    return v.host === host && v.state === 'running' ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500 });
}

test('hosts page: dragging the VM onto the other host asks, then live-migrates it; Cancel in the dialog moves nothing', async () => {
  const from = await hostOf();
  const to = other(from);
  const page = await signIn('/hosts');
  const vmItem = page.locator(`[data-host="${from}"] li[data-vm="mig-1"]`);
  await vmItem.waitFor();
  await vmItem.dragTo(page.locator(`[data-host="${to}"]`));
  const confirm = page.getByRole('dialog', { name: 'Live-migrate mig-1?' });
  await confirm.getByText(`mig-1 moves from ${from} to ${to} while it runs.`).waitFor();
  // The planner's dry run answers before anything moves: its pre-checks passed.
  await confirm.getByRole('status').filter({ hasText: 'Pre-check: passed' }).waitFor({ timeout: 30_000 });
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await confirm.waitFor({ state: 'hidden' });
  assert.equal(await hostOf(), from, 'nothing moved');

  await vmItem.dragTo(page.locator(`[data-host="${to}"]`));
  await confirm.getByRole('button', { name: 'Start migration' }).click();
  await page.getByRole('status').filter({ hasText: `Live migration of mig-1 to ${to} started.` }).waitFor();
  await landsOn(to);
  // The page follows: the VM is listed under its new host.
  await page.locator(`[data-host="${to}"] li[data-vm="mig-1"]`).waitFor({ timeout: 30_000 });
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('hosts page by keyboard: Move on the VM, Move here on the other host, Start migration', async () => {
  const from = await hostOf();
  const to = other(from);
  const page = await signIn('/hosts');
  const move = page.getByRole('button', { name: 'Move mig-1', exact: true });
  await move.focus();
  await page.keyboard.press('Enter');
  assert.equal(await move.getAttribute('aria-pressed'), 'true');
  assert.equal(await page.locator(`[data-host="${from}"]`).getByRole('button', { name: 'Move mig-1 here' }).count(), 0, 'not onto its own host');
  await page.locator(`[data-host="${to}"]`).getByRole('button', { name: 'Move mig-1 here' }).focus();
  await page.keyboard.press('Enter');
  const confirm = page.getByRole('dialog', { name: 'Live-migrate mig-1?' });
  await confirm.waitFor();
  // Start is enabled once the dry run is answered; Cancel has the focus until then.
  await pollUntil('Start enabled', async () => ((await confirm.getByRole('button', { name: 'Start migration' }).isEnabled()) ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await landsOn(to);
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('the pre-check and predicted time of a dry run are shown before a migration, and a failed pre-check keeps Start disabled', async () => {
  const page = await signIn(`/vms/${vmId}/migrate`);
  // The planner's answers in the API's own shapes (a refusal is a 409 MIGRATION_REFUSED), chosen here so that both outcomes are shown.
  let answer: { status: number; body: unknown } = { status: 409, body: { error: { code: 'MIGRATION_REFUSED', message: 'h9 has 0 MiB free, mig-1 needs 128' } } };
  await page.route('**/api/v1/vms/*/migrate', async (route) => {
    const body = route.request().postDataJSON() as { dryRun?: boolean };
    if (body.dryRun === true) await route.fulfill({ status: answer.status, contentType: 'application/json', body: JSON.stringify(answer.body) });
    else await route.fallback();
  });
  await page.getByRole('button', { name: 'Migrate', exact: true }).click();
  const confirm = page.getByRole('dialog', { name: 'Live-migrate mig-1?' });
  await confirm.getByRole('status').filter({ hasText: 'Pre-check: failed' }).waitFor();
  await confirm.getByText('h9 has 0 MiB free, mig-1 needs 128').waitFor();
  assert.equal(await confirm.getByRole('button', { name: 'Start migration' }).isDisabled(), true);
  await confirm.getByRole('button', { name: 'Cancel' }).click();

  answer = { status: 200, body: { dryRun: true, vm: 'mig-1', vmId, kind: 'live', source: 'h1', destination: 'h2', checks: 'passed', prediction: { kind: 'live', totalMs: 2350, downtimeMs: 41.6 } } };
  await page.getByRole('button', { name: 'Migrate', exact: true }).click();
  await confirm.getByRole('status').filter({ hasText: 'Pre-check: passed' }).waitFor();
  assert.equal(await confirm.getByTestId('predicted-time').innerText(), '2.4 s');
  assert.equal(await confirm.getByTestId('predicted-downtime').innerText(), '42 ms');
  assert.equal(await confirm.getByRole('button', { name: 'Start migration' }).isEnabled(), true);
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(web.takeErrors(/409/).length, 1, 'the refused dry run');
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('hosts page: Maintenance asks, the card shows the evacuation blocked with the VM and why, then moving and in maintenance live; Enable returns the host; a second admin\'s start is refused readably', async () => {
  const from = await hostOf();
  const to = other(from);
  // The other host takes no VMs: the evacuation has nowhere to go, and says so.
  await cloud.api.disableHost(to);
  const page = await signIn('/hosts');
  const card = page.getByRole('article', { name: `host ${from}` });
  // A second admin's page, its dialog opened while the host is still in service.
  const second = await signIn('/hosts');
  await second.getByRole('article', { name: `host ${from}` }).getByRole('button', { name: 'Maintenance' }).click();
  const secondDialog = second.getByRole('dialog', { name: `Put ${from} in maintenance?` });
  await secondDialog.waitFor();

  // Asked first, with what will move; Cancel changes nothing.
  await card.getByRole('button', { name: 'Maintenance' }).click();
  const dialog = page.getByRole('dialog', { name: `Put ${from} in maintenance?` });
  await dialog.getByRole('list', { name: `VMs on ${from}` }).getByText('mig-1').waitFor();
  await dialog.getByText(`${from} takes no new VMs, and its 1 VM is migrated away: 1 running (live).`).waitFor();
  assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Cancel');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal((await cloud.api.getHostMaintenance(from)).state, 'none', 'Cancel began nothing');

  await card.getByRole('button', { name: 'Maintenance' }).click();
  await dialog.getByRole('button', { name: 'Start maintenance' }).waitFor();
  assert.deepEqual(await web.axe(page), [], 'axe-core on the maintenance dialog');
  await dialog.getByRole('button', { name: 'Start maintenance' }).click();
  await dialog.waitFor({ state: 'hidden' });
  const panel = card.getByRole('region', { name: `Maintenance of ${from}` });
  const row = panel.getByRole('table', { name: `Evacuation of ${from}` }).locator('tr[data-vm="mig-1"]');
  await panel.getByRole('heading', { name: 'Maintenance blocked' }).waitFor({ timeout: 60_000 });
  const blocked = await cloud.api.getHostMaintenance(from);
  assert.equal(blocked.state, 'blocked');
  const reason = blocked.vms.find((v) => v.name === 'mig-1')?.reason ?? '';
  assert.match(reason, new RegExp(`${to}.*disabled`), 'the API names the disabled host');
  await row.getByRole('cell', { name: reason }).waitFor();
  await row.getByText('blocked', { exact: true }).waitFor();
  assert.match(await panel.getByTestId('maintenance-status').innerText(), /blocked: 1 VM cannot move/);
  assert.equal(await card.locator('.badges .badge', { hasText: 'evacuating' }).count(), 1, 'the card is badged');
  assert.deepEqual(await web.axe(page), [], 'axe-core on the hosts page with a blocked maintenance');
  await web.screenshot(page, 'host-maintenance-blocked');
  assert.equal(await hostOf(), from, 'nothing moved yet');

  // The second admin's start, sent after the first: refused, readable, and nothing changes.
  await secondDialog.getByRole('button', { name: 'Start maintenance' }).click();
  await secondDialog.getByRole('alert').filter({ hasText: 'CONFLICT' }).waitFor();
  assert.match(await secondDialog.getByRole('alert').innerText(), /already being evacuated for maintenance/);
  const still = await cloud.api.getHostMaintenance(from);
  assert.equal(still.since, blocked.since, 'the maintenance begun first is untouched');
  assert.equal(web.takeErrors(/409/).length, 1);
  await second.context().close();

  // Room appears: the blocked VM is tried again and moves; the card follows to "maintenance" without a reload.
  await page.getByRole('article', { name: `host ${to}` }).getByRole('button', { name: 'Enable' }).click();
  await panel.getByRole('heading', { name: 'Maintenance maintenance' }).waitFor({ timeout: 120_000 });
  await row.getByText('moved', { exact: true }).waitFor();
  await row.getByRole('cell', { name: `to ${to}` }).waitFor();
  assert.match(await panel.getByTestId('maintenance-status').innerText(), /^In maintenance since .* \(by admin\): no VM runs here/);
  assert.equal(await hostOf(), to);
  assert.equal((await cloud.api.getHostMaintenance(from)).state, 'maintenance');
  // A host in maintenance is no drop target: Move offers no "Move here" on it.
  await page.getByRole('button', { name: 'Move mig-1', exact: true }).click();
  assert.equal(await card.getByRole('button', { name: 'Move mig-1 here' }).count(), 0);
  await page.keyboard.press('Escape');
  await web.docScreenshot(page, 'host-maintenance');

  // Enable ends it: the card is in service again, and so says the API.
  await card.getByRole('button', { name: 'Enable' }).click();
  await panel.waitFor({ state: 'detached' });
  await card.getByRole('button', { name: 'Maintenance' }).waitFor();
  assert.equal((await cloud.api.getHostMaintenance(from)).state, 'none');
  assert.equal((await cloud.api.getHost(from)).state, 'enabled');
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('the migrations list filters by outcome (asked of the API), kind and VM', async () => {
  const page = await signIn('/migrations');
  const table = page.getByRole('table', { name: 'Migrations' });
  const rows = table.locator('tbody tr');
  const succeeded = await cloud.api.listMigrations({ state: 'succeeded' });
  assert.ok(succeeded.length >= 3, `the earlier tests' migrations (drag, keyboard, maintenance): ${succeeded.length}`);
  await page.getByLabel('Outcome').selectOption('succeeded');
  await pollUntil('the succeeded migrations listed', async () => ((await rows.count()) === succeeded.length ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
  assert.deepEqual([...new Set(await rows.locator('td:nth-child(1)').allInnerTexts())], ['mig-1']);
  await page.getByLabel('Kind').selectOption('cold');
  await page.getByText('No migrations match.').waitFor();
  await page.getByLabel('Kind').selectOption('live');
  await page.getByLabel('VM', { exact: true }).fill('nope');
  await page.getByText('No migrations match.').waitFor();
  await page.getByLabel('VM', { exact: true }).fill('mig');
  await pollUntil('mig-1\'s live migrations listed again', async () => ((await rows.count()) === succeeded.length ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
  await page.getByLabel('Outcome').selectOption('failed');
  await page.getByText(/^No migrations\.$/).waitFor();
  // The VM's History tab: its migrations with their numbers, as the API has them.
  await page.goto(`${cloud.controller.url}/vms/${vmId}/history`);
  const own = page.getByRole('table', { name: 'Migrations of this VM' }).locator('tbody tr');
  await pollUntil('the VM\'s migrations in its history', async () => ((await own.count()) === succeeded.length ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
  for (const cell of await own.locator('td:nth-child(6)').allInnerTexts()) assert.match(cell, /^\d+(\.\d+)? m?s$/, 'each with its downtime');
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('the progress view of a live migration of local disks shows the mirror\'s progress and stage 1, and its Cancel asks the API to cancel that migration', async () => {
  // A running migration with its disks half mirrored, made from the VM's real last record: the shared-storage VM here mirrors nothing, and a real one would end before it is seen.
  const real = (await cloud.api.listMigrations({ vm: vmId })).at(-1)!;
  const running = {
    ...real, state: 'running', stage: 'mirroring', finishedAt: null, reason: null,
    journal: real.journal.filter((j) => ['reservation', 'prepared', 'mirroring'].includes(j.stage)),
    stats: { diskCopiedBytes: 3 * 1048576, diskTotalBytes: 12 * 1048576 },
  };
  const cancels: string[] = [];
  const page = await web.newPage(`${cloud.controller.url}/`);
  const aborted = { ...running, state: 'aborted', reason: 'cancelled by admin', finishedAt: new Date().toISOString() };
  let shown: unknown = running;
  await page.route('**/api/v1/migrations?vm=*', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify([shown]) }));
  await page.route('**/api/v1/migrations/*/cancel', async (route) => {
    cancels.push(new URL(route.request().url()).pathname);
    shown = aborted;
    await route.fulfill({ status: 202, contentType: 'application/json', body: JSON.stringify(aborted) });
  });
  await page.getByLabel('API token').fill(cloud.api.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
  await page.goto(`${cloud.controller.url}/vms/${vmId}/migrate`);
  const view = page.getByRole('region', { name: 'Migration progress' });
  assert.equal(await view.getByTestId('disk-mirrored').innerText(), '25 % (3.0 MiB of 12.0 MiB)');
  assert.equal(await view.locator('progress').last().getAttribute('value'), '25');
  assert.deepEqual(await view.locator('.stages li.done').allInnerTexts(), ['0 Pre-migration']);
  assert.deepEqual(await view.locator('.stages li.current').allInnerTexts(), ['1 Reservation']);
  await view.getByRole('button', { name: 'Cancel migration' }).click();
  await pollUntil('the cancel sent', async () => (cancels.length > 0 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
  assert.deepEqual(cancels, [`/api/v1/migrations/${real.id}/cancel`]);
  // Aborted: the stage it stopped in is marked stopped, not done (nothing after it was reached).
  await view.locator('.stages li.stopped').waitFor({ timeout: 15_000 });
  assert.deepEqual(await view.locator('.stages li.stopped').allInnerTexts(), ['1 Reservation']);
  assert.deepEqual(await view.locator('.stages li.done').allInnerTexts(), ['0 Pre-migration']);
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

/** An admin's call the typed client has no method for (the rebalancer's routes). */
async function adminPost(path: string, body?: unknown): Promise<number> {
  const r = await fetch(`${cloud.controller.url}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cloud.api.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  await r.arrayBuffer();
  return r.status;
}

test('hosts page: a host on standby (DRS consolidation emptied it) and a degraded host (its health check fails) are badged with why, live, and are no drop target; woken and healthy again, they are back', async () => {
  const from = await hostOf();
  const idle = other(from);
  const page = await signIn('/hosts');
  const card = page.getByRole('article', { name: `host ${idle}` });
  await card.waitFor();
  const moveHere = card.getByRole('button', { name: 'Move mig-1 here' });

  // Consolidation empties the least used host: the idle one runs no VM, so it goes on standby with no move.
  assert.equal(await adminPost('/drs/apply', { policy: { mode: 'consolidate' } }), 202);
  await pollUntil(`${idle} on standby`, async () => ((await cloud.api.getHost(idle)).standbySince !== null ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
  await card.locator('.badges .badge', { hasText: 'standby' }).waitFor();
  assert.match(await card.getByTestId('host-standby').innerText(), /^On standby since .*: the rebalancer's consolidation emptied it; it takes no VMs until woken\.$/);
  await page.getByRole('button', { name: 'Move mig-1', exact: true }).click();
  assert.equal(await moveHere.count(), 0, 'a host on standby is no drop target');
  await page.keyboard.press('Escape');
  assert.deepEqual(await web.axe(page), [], 'axe-core on the hosts page with a host on standby');
  assert.equal(await hostOf(), from, 'nothing moved');
  assert.equal(await adminPost(`/drs/wake/${idle}`), 204);
  await card.getByTestId('host-standby').waitFor({ state: 'detached' });
  assert.equal((await cloud.api.getHost(idle)).standbySince, null);

  // The agent's health flag file fails its check: the next heartbeat reports the host degraded, with the reason.
  const flag = join(cloud.root, idle, 'degraded');
  await writeFile(flag, 'disk /dev/vdz is failing\n');
  try {
    await pollUntil(`${idle} degraded`, async () => ((await cloud.api.getHost(idle)).degraded !== null ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
    assert.equal((await cloud.api.getHost(idle)).degraded, 'disk /dev/vdz is failing');
    await card.locator('.badges .badge', { hasText: 'degraded' }).waitFor();
    assert.equal(await card.getByTestId('host-degraded').innerText(), 'Degraded: disk /dev/vdz is failing. Its running VMs are moved away; it takes no new ones.');
    await page.getByRole('button', { name: 'Move mig-1', exact: true }).click();
    assert.equal(await moveHere.count(), 0, 'a degraded host is no drop target');
    await page.keyboard.press('Escape');
    assert.deepEqual(await web.axe(page), [], 'axe-core on the hosts page with a degraded host');
  } finally {
    await rm(flag, { force: true });
  }
  await card.getByTestId('host-degraded').waitFor({ state: 'detached', timeout: 60_000 });
  assert.equal((await cloud.api.getHost(idle)).degraded, null);
  // In service again: a drop target once more.
  await page.getByRole('button', { name: 'Move mig-1', exact: true }).click();
  await moveHere.waitFor();
  await page.keyboard.press('Escape');
  assert.equal(await hostOf(), from, 'nothing moved');
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});
