import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
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
 * change nothing.
 */

let cloud: InProcessCloud;
let web: DashboardBrowser;
/** The VM the copy actions work on (admin's, running). */
let capId: string;

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
  const bytes = await readFile(await file.path());
  assert.equal(bytes.subarray(257, 262).toString('latin1'), 'ustar', 'a tar archive');
  assert.match(bytes.subarray(0, 100).toString('latin1'), /\.ovf\0/, 'the descriptor comes first');
  await page.getByRole('status').filter({ hasText: /^Exported cap-1.*\.ova \(\d/ }).waitFor();
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});
