import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { launchDashboardBrowser, type DashboardBrowser } from './support/dashboard-browser.js';
import { pollUntil } from '../src/util/deadline.js';

/**
 * Issue 17's live migration from the dashboard: two in-process hosts on one
 * shared datastore and real QEMU; the admin picks the destination on the
 * VM's Migrate tab, the page follows the stages live and ends with the
 * result's total time and downtime, and the VM's page names its new host.
 */

let cloud: InProcessCloud;
let web: DashboardBrowser;

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-dashboard-mig-', logger: pino({ level: 'silent' }), hosts: 2, shared: true });
  web = await launchDashboardBrowser('nubo-dashboard-mig-');
});
after(async () => {
  if (process.env['NUBO_KEEP_SCREENSHOTS'] !== undefined) process.stdout.write(`# screenshots in ${web?.shotsDir}\n`);
  await web?.close();
  await cloud?.stop();
});

test('live migration from the Migrate tab: destination picked, stages followed live, the result with total time and downtime', async () => {
  const vm = await cloud.api.createVm({ template: 'tiny', name: 'mig-1', datastore: 'shared' });
  const running = await pollUntil('mig-1 running', async () => {
    const v = await cloud.api.getVm(vm.id);
    if (v.state === 'failed') throw new Error(`mig-1 failed: ${v.stateReason ?? ''}`);
    return v.state === 'running' ? v : undefined;
  }, { timeoutMs: 180_000, intervalMs: 500 });
  const destination = running.host === 'h1' ? 'h2' : 'h1';

  const page = await web.newPage(`${cloud.controller.url}/`);
  await page.getByLabel('API token').fill(cloud.api.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
  await page.goto(`${cloud.controller.url}/vms/${vm.id}/migrate`);
  await page.getByLabel('Destination').selectOption(destination);
  await page.getByRole('button', { name: 'Migrate', exact: true }).click();
  const view = page.getByRole('region', { name: 'Migration progress' });
  await view.getByRole('heading', { name: `${running.host} → ${destination}: succeeded` }).waitFor({ timeout: 120_000 });
  // Every one of stages 0–5 reached.
  assert.deepEqual(await view.locator('.stages li.done').allInnerTexts(), ['0 Pre-migration', '1 Reservation', '2 Pre-copy', '3 Stop-and-copy', '4 Commitment', '5 Activation']);
  assert.match(await view.getByTestId('total-time').innerText(), /^\d+(\.\d+)? m?s$/);
  assert.match(await view.getByTestId('downtime').innerText(), /^\d+(\.\d+)? m?s$/);
  await web.screenshot(page, 'vm-migrated');
  // The VM's own page follows: its host is the destination, without a reload.
  await page.getByRole('link', { name: 'Summary' }).click();
  await page.getByRole('definition').filter({ hasText: new RegExp(`^${destination}$`) }).waitFor();
  assert.equal((await cloud.api.getVm(vm.id)).host, destination);
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});
