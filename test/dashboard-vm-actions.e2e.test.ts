import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Page } from 'playwright-core';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { launchDashboardBrowser, type DashboardBrowser } from './support/dashboard-browser.js';
import { pollUntil } from '../src/util/deadline.js';

/**
 * Issue 17's VM actions in Debian's chromium against an in-process cloud with
 * real QEMU: the create wizard and a destructive action used by keyboard
 * alone; save-as (image and template), clone and OVA export from the VM
 * page, each with its progress, and refusals that name their field and
 * change nothing; the VM list's search, filter, sort and bulk actions; a
 * volume attached and detached and a NIC refused on the VM's Disks & NICs
 * tab; a network's leases table; an image and the exported OVA uploaded
 * on the images page with the upload's progress.
 */

let cloud: InProcessCloud;
let web: DashboardBrowser;
/** The VM the copy actions work on (admin's, running). */
let capId: string;
/** The OVA the export test downloads, uploaded again by the import test. */
let ovaFile = '';

async function running(id: string, name: string): Promise<void> {
  await pollUntil(`${name} running`, async () => {
    const v = await cloud.api.getVm(id);
    if (v.state === 'failed') throw new Error(`${name} failed: ${v.stateReason ?? ''}`);
    return v.state === 'running' ? true : undefined;
  }, { timeoutMs: 180_000, intervalMs: 500 });
}

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-dashboard-actions-', logger: pino({ level: 'silent' }) });
  capId = (await cloud.api.createVm({ template: 'tiny', name: 'cap-1', memoryMiB: 128 })).id;
  await running(capId, 'cap-1');
  web = await launchDashboardBrowser('nubo-dashboard-actions-');
  ovaFile = join(web.shotsDir, 'cap-1.ova');
});
after(async () => {
  await web?.close();
  await cloud?.stop();
});

const url = (path = '/'): string => `${cloud.controller.url}${path}`;

async function signIn(path = '/'): Promise<Page> {
  const page = await web.newPage(url(path));
  await page.getByLabel('API token').fill(cloud.api.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
  return page;
}

/** The focused element's accessible text (its aria-label, its label's text, or its own text), read in the page. */
const FOCUSED = `(() => { const e = document.activeElement; if (!e) return ''; return (e.getAttribute('aria-label') || (e.labels && e.labels[0] ? e.labels[0].innerText : '') || e.innerText || '').trim(); })()`;

/** Presses Tab until the focused element's text matches: what a keyboard user does to reach a control. */
async function tabTo(page: Page, name: RegExp): Promise<void> {
  const seen: string[] = [];
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    const text = await page.evaluate<string>(FOCUSED);
    if (name.test(text)) return;
    seen.push(text);
  }
  assert.fail(`Tab never reached ${String(name)}; focus went through: ${seen.join(' | ')}`);
}

test('keyboard alone: sign in, create a VM through the wizard, and terminate it after the confirmation', async () => {
  const page = await web.newPage(url('/'));
  await tabTo(page, /^API token/);
  await page.keyboard.type(cloud.api.token);
  await page.keyboard.press('Enter');
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
  await tabTo(page, /^VMs$/);
  await page.keyboard.press('Enter');
  await tabTo(page, /^Create VM$/);
  await page.keyboard.press('Enter');
  await tabTo(page, /tiny/);
  await page.keyboard.press('Space');
  await tabTo(page, /^Next$/);
  await page.keyboard.press('Enter');
  await tabTo(page, /^Memory \(MiB\)/);
  await page.keyboard.type('128');
  await tabTo(page, /^Next$/);
  await page.keyboard.press('Enter');
  await tabTo(page, /^Name/);
  await page.keyboard.type('kb-1');
  await tabTo(page, /^Next$/);
  await page.keyboard.press('Enter');
  await tabTo(page, /^Create$/);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/vms\/(?!new$)[^/]+$/);
  const id = new URL(page.url()).pathname.split('/')[2]!;
  await page.getByRole('heading', { name: /kb-1/ }).locator('.badge', { hasText: 'running' }).waitFor({ timeout: 180_000 });
  assert.equal((await cloud.api.getVm(id)).memoryMiB, 128);

  // The skip link first, as a keyboard user meets it; then the destructive action: Cancel holds the focus, Tab reaches the confirming button.
  await tabTo(page, /^Terminate$/);
  await page.keyboard.press('Enter');
  await page.getByRole('dialog', { name: 'Terminate kb-1?' }).waitFor();
  assert.equal(await page.evaluate<string>(FOCUSED), 'Cancel');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate<string>(FOCUSED), 'Terminate');
  await page.keyboard.press('Enter');
  await pollUntil('kb-1 terminated', async () => ((await cloud.api.getVm(id)).state === 'terminated' ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
  await page.getByRole('heading', { name: /kb-1/ }).locator('.badge', { hasText: 'terminated' }).waitFor({ timeout: 30_000 });
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('save-as: a bad image name and a taken template name are refused naming the field and copy nothing; then image and template are made, with progress meanwhile', async () => {
  const page = await signIn(`/vms/${capId}`);
  await page.getByRole('button', { name: 'Save as…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Save cap-1 as an image' });
  await dialog.getByLabel('Image name').fill('bad name!');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.getByRole('alert').filter({ hasText: 'VALIDATION_FAILED' }).waitFor();
  assert.match(await dialog.getByRole('alert').innerText(), /field image/);
  assert.equal(await dialog.getByLabel('Image name').getAttribute('aria-invalid'), 'true');

  // `tiny` is the admin's template already: refused before the disk is copied.
  await dialog.getByLabel('Image name').fill('cap-img');
  await dialog.getByLabel('Template name (optional)').fill('tiny');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.getByRole('alert').filter({ hasText: 'CONFLICT' }).waitFor();
  assert.match(await dialog.getByRole('alert').innerText(), /field template/);
  assert.equal(await dialog.getByLabel('Template name (optional)').getAttribute('aria-invalid'), 'true');
  assert.equal(await dialog.getByLabel('Image name').getAttribute('aria-invalid'), null);
  assert.deepEqual((await cloud.api.listImages()).filter((i) => i.name === 'cap-img'), [], 'no image was made');
  assert.equal(web.takeErrors(/40[09]/).length, 2);

  // Held back a moment on its way to the API, so the progress is seen whatever the disk's copy takes.
  await page.route('**/api/v1/vms/*/save-as', async (route) => {
    await new Promise((r) => setTimeout(r, 1_500));
    await route.continue();
  });
  await dialog.getByLabel('Template name (optional)').fill('cap-tpl');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.getByRole('status').filter({ hasText: 'Saving cap-1\'s disk' }).locator('progress').waitFor();
  await page.getByRole('status').filter({ hasText: 'Saved as image cap-img and template cap-tpl.' }).waitFor({ timeout: 120_000 });
  await dialog.waitFor({ state: 'hidden' });
  assert.deepEqual((await cloud.api.listImages()).filter((i) => i.name === 'cap-img').map((i) => i.format), ['qcow2']);
  assert.equal((await cloud.api.listTemplates()).find((t) => t.name === 'cap-tpl')?.memoryMiB, 128);
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('clone: a taken name is refused naming it; then the clone is made and its page opens', async () => {
  const page = await signIn(`/vms/${capId}`);
  await page.getByRole('button', { name: 'Clone…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Clone cap-1' });
  await dialog.getByLabel('New VM name').fill('cap-1');
  await dialog.getByRole('button', { name: 'Clone' }).click();
  await dialog.getByRole('alert').filter({ hasText: 'CONFLICT' }).waitFor();
  assert.match(await dialog.getByRole('alert').innerText(), /field name/);
  assert.equal(await dialog.getByLabel('New VM name').getAttribute('aria-invalid'), 'true');
  assert.equal((await cloud.api.listVms()).filter((v) => v.name === 'cap-1').length, 1, 'no second cap-1');
  assert.equal(web.takeErrors(/409/).length, 1);

  await dialog.getByLabel('New VM name').fill('cap-2');
  await dialog.getByRole('button', { name: 'Clone' }).click();
  await page.getByRole('heading', { level: 1, name: /cap-2/ }).waitFor({ timeout: 120_000 });
  const clone = (await cloud.api.listVms()).find((v) => v.name === 'cap-2');
  assert.ok(clone, 'the clone exists');
  assert.equal(new URL(page.url()).pathname, `/vms/${clone.id}`);
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('export: the OVA is downloaded through the page (an OVF descriptor first in a tar), with progress while it arrives', async () => {
  const page = await signIn(`/vms/${capId}`);
  const download = page.waitForEvent('download', { timeout: 120_000 });
  await page.getByRole('button', { name: 'Export OVA' }).click();
  await page.getByRole('status').filter({ hasText: 'Exporting an OVA' }).waitFor();
  const file = await download;
  assert.match(file.suggestedFilename(), /^cap-1.*\.ova$/);
  await file.saveAs(ovaFile);
  const bytes = await readFile(ovaFile);
  assert.equal(bytes.subarray(257, 262).toString('latin1'), 'ustar', 'a tar archive');
  assert.match(bytes.subarray(0, 100).toString('latin1'), /\.ovf\0/, 'the descriptor comes first');
  await page.getByRole('status').filter({ hasText: /^Exported cap-1.*\.ova \(\d/ }).waitFor();
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('the VM list: search, state filter, sort by name, and a bulk action refused for a VM in the wrong state, shown readably; a destructive one asks first', async () => {
  const page = await signIn('/vms');
  const table = page.getByRole('table', { name: 'VMs' });
  const names = (): Promise<string[]> => table.locator('tbody tr[data-vm] td:nth-child(2)').allInnerTexts();
  await table.locator('tr[data-vm="cap-1"]').waitFor();
  await page.getByLabel('Search').fill('cap');
  await pollUntil('cap-1 and cap-2 only', async () => (JSON.stringify(await names()) === '["cap-1","cap-2"]' ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
  await table.getByRole('button', { name: 'Name' }).click();
  assert.deepEqual(await names(), ['cap-2', 'cap-1'], 'descending after a second click');
  assert.equal(await table.locator('th[aria-sort="descending"]').innerText(), 'Name');
  await page.getByLabel('Search').fill('');
  await page.getByRole('combobox', { name: /^State/ }).selectOption('terminated');
  await pollUntil('the terminated VM only', async () => (JSON.stringify(await names()) === '["kb-1"]' ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
  await page.getByRole('combobox', { name: /^State/ }).selectOption('');
  await page.getByLabel('Search').fill('cap-1');
  await table.getByLabel('Select cap-1').check();
  // Start is refused for a running VM: the notice counts, the API's reason is shown, nothing changed.
  await page.getByLabel('Action for the selected VMs').selectOption('start');
  await page.getByRole('status').filter({ hasText: 'start: 0 of 1 accepted; refused for cap-1' }).waitFor();
  await page.getByRole('alert').filter({ hasText: 'INVALID_STATE' }).waitFor();
  assert.equal(web.takeErrors(/409/).length, 1);
  assert.equal((await cloud.api.getVm(capId)).state, 'running');
  await table.getByLabel('Select cap-1').check();
  await page.getByLabel('Action for the selected VMs').selectOption('terminate');
  const dialog = page.getByRole('dialog', { name: 'Terminate 1 VMs?' });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal((await cloud.api.getVm(capId)).state, 'running', 'Cancel terminated nothing');
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('Disks & NICs: a volume attached to the running VM and detached again; a NIC on a network the host has no bridge for is refused readably; the network\'s leases table', async () => {
  const page = await signIn('/volumes');
  const form = page.getByRole('form', { name: 'Create a volume' });
  await form.getByLabel('Name').fill('bad name!');
  await form.getByRole('button', { name: 'Create volume' }).click();
  await page.getByRole('alert').filter({ hasText: 'VALIDATION_FAILED' }).filter({ hasText: 'field name' }).waitFor();
  assert.equal(web.takeErrors(/400/).length, 1);
  assert.deepEqual(await cloud.api.listVolumes(), [], 'nothing was created');
  await form.getByLabel('Name').fill('vol-a');
  await form.getByLabel('Size (MiB)').fill('16');
  await form.getByRole('button', { name: 'Create volume' }).click();
  await page.getByRole('table', { name: 'Volumes' }).getByRole('cell', { name: 'vol-a' }).waitFor();

  // Networks make no events: made before the tab loads its list.
  await cloud.api.createNetwork({ name: 'lan', cidr: '198.18.64.0/29' });
  await page.goto(url(`/vms/${capId}/devices`));
  await page.getByRole('form', { name: 'Attach a volume' }).getByLabel('Volume').selectOption({ label: 'vol-a (16 MiB)' });
  await page.getByRole('button', { name: 'Attach', exact: true }).click();
  const attached = page.getByRole('table', { name: 'Attached volumes' }).getByRole('row').filter({ hasText: 'vol-a' });
  await attached.waitFor({ timeout: 60_000 });
  assert.equal((await cloud.api.listVolumes()).find((v) => v.name === 'vol-a')?.vm, capId);
  await attached.getByRole('button', { name: 'Detach' }).click();
  await attached.waitFor({ state: 'detached', timeout: 90_000 });
  assert.equal((await cloud.api.listVolumes()).find((v) => v.name === 'vol-a')?.state, 'available');

  const nics = (await cloud.api.getVm(capId)).nics;
  await page.getByRole('form', { name: 'Attach a NIC' }).getByLabel('Network').selectOption('lan');
  await page.getByRole('button', { name: 'Attach NIC' }).click();
  const refusal = page.getByRole('alert').filter({ hasText: 'CONFLICT' });
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /needs bridge br0 on the VM's host h1, which it does not report/);
  assert.equal(web.takeErrors(/409/).length, 1);
  assert.deepEqual((await cloud.api.getVm(capId)).nics, nics, 'no NIC was added');

  await page.goto(url('/networks'));
  await page.getByRole('table', { name: 'Networks' }).getByRole('row').filter({ hasText: 'lan' }).getByRole('button', { name: 'Leases' }).click();
  const leases = page.getByRole('region', { name: 'Leases of lan' });
  // No VM is on it: the table is the API's (its leased and held addresses: none), and the row counts the range.
  const detail = await cloud.api.getNetwork('lan');
  await leases.getByRole('heading', { name: 'Leases of lan' }).waitFor();
  assert.equal(await leases.locator('tbody tr').count(), detail.leases.length);
  await page.getByRole('table', { name: 'Networks' }).getByRole('row').filter({ hasText: 'lan' }).getByRole('cell', { name: `0 / ${detail.addresses.total}` }).waitFor();
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('images page: an image without a name is refused naming the field; a file and the exported OVA are uploaded with a progress bar, the OVA imported as a template', async () => {
  const page = await signIn('/images');
  // The bar may come and go faster than a poll: the page records whether it was ever drawn.
  await page.evaluate(`window.nuboSawProgress = false; new MutationObserver(() => { if (document.querySelector('label.progress progress')) window.nuboSawProgress = true; }).observe(document.body, { subtree: true, childList: true })`);
  const raw = join(web.shotsDir, 'blob.raw');
  await writeFile(raw, Buffer.alloc(4 * 1048576, 7));
  const images = (await cloud.api.listImages()).length;
  await page.getByLabel('File').setInputFiles(raw);
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByRole('alert').filter({ hasText: 'field name' }).waitFor();
  assert.equal((await cloud.api.listImages()).length, images, 'nothing was stored');
  assert.equal(web.takeErrors(/400/).length, 1);

  await page.getByLabel('Name', { exact: true }).fill('blob');
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByRole('status').filter({ hasText: 'blob.raw uploaded.' }).waitFor({ timeout: 60_000 });
  assert.equal((await cloud.api.listImages()).find((i) => i.name === 'blob')?.sizeBytes, 4 * 1048576);
  assert.equal(await page.evaluate('window.nuboSawProgress'), true, 'the progress bar was shown');

  await page.evaluate('window.nuboSawProgress = false');
  await page.getByLabel('Name', { exact: true }).fill('cap-ova');
  await page.getByLabel('File').setInputFiles(ovaFile);
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByRole('status').filter({ hasText: 'cap-1.ova uploaded and imported as a template.' }).waitFor({ timeout: 120_000 });
  assert.equal(await page.evaluate('window.nuboSawProgress'), true, 'the progress bar was shown');
  assert.equal((await cloud.api.listTemplates()).find((t) => t.name === 'cap-ova')?.memoryMiB, 128);
  await page.getByRole('table', { name: 'Templates' }).getByRole('cell', { name: 'cap-ova', exact: true }).waitFor();
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});
