import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Page } from 'playwright-core';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { launchDashboardBrowser, type DashboardBrowser } from './support/dashboard-browser.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import { pollUntil } from '../src/util/deadline.js';

/**
 * Issue 17: the web dashboard in Debian's chromium (playwright-core), against
 * an in-process controller with one agent and real QEMU: sign-in, what a
 * plain user sees and may do, the create wizard with the VM turning running
 * live (SSE, no reload), confirmation of destructive actions, the serial
 * console in xterm.js, snapshots taken and reverted (with the guest's data
 * proving it), and every page rendered without a console
 * error. Screenshots go to a temp dir (NUBO_KEEP_SCREENSHOTS=1 keeps it).
 */

let cloud: InProcessCloud;
let web: DashboardBrowser;
let alice: { id: string; token: string; api: NuboClient };
/** The admin's VM that never gets a host (its requirements fit none): alice must not see it. */
let adminVmId: string;
/** Alice's VM, created through the wizard. */
let aliceVmId: string;

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-dashboard-', logger: pino({ level: 'silent' }) });
  const created = await new TenancyClient(cloud.controller.url, cloud.api.token).createUser({ name: 'alice' });
  alice = { id: created.user.id, token: created.token, api: new NuboClient(cloud.controller.url, created.token) };
  adminVmId = (await cloud.api.createVm({ template: 'tiny', name: 'admin-pending', requirements: 'free_memory_mb > 100000000' })).id;
  web = await launchDashboardBrowser('nubo-dashboard-');
});
after(async () => {
  if (process.env['NUBO_KEEP_SCREENSHOTS'] !== undefined) process.stdout.write(`# screenshots in ${web?.shotsDir}\n`);
  await web?.close();
  await cloud?.stop();
});

const url = (path = '/'): string => `${cloud.controller.url}${path}`;

async function signIn(token: string, path = '/'): Promise<Page> {
  const page = await web.newPage(url(path));
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
  return page;
}

/** No console error so far: every page must render and update without one. */
const noConsoleErrors = (): void => assert.deepEqual(web.errors, [], 'the browser logged errors');

test('the controller serves the dashboard at / and at deep links, and an unknown /api/ path or /metrics keeps its JSON 404', async () => {
  for (const path of ['/', '/vms', '/vms/some-id/console', '/hosts']) {
    const res = await fetch(url(path));
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/, path);
    assert.match(await res.text(), /<div id="app">/, path);
  }
  for (const path of ['/api/v1/nope', '/api/v1/vms/x/nope', '/nope']) {
    const res = await fetch(url(path), { headers: { authorization: `Bearer ${cloud.api.token}`, accept: 'text/html' } });
    assert.equal(res.status, 404, path);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'NOT_FOUND', path);
  }
  // /metrics is the exporter's (404 until there is one), never the dashboard's page.
  const metrics = await fetch(url('/metrics'), { headers: { accept: 'text/html' } });
  assert.doesNotMatch(await metrics.text(), /<div id="app">/);
});

test('sign-in with a bad token shows the API\'s error and nothing else; the token is not kept', async () => {
  const page = await web.newPage(url('/'));
  await page.getByLabel('API token').fill('nubo_not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'UNAUTHORIZED' }).waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Sections' }).count(), 0, 'no navigation before sign-in');
  assert.equal(await page.getByRole('table').count(), 0, 'nothing listed');
  assert.equal(await page.evaluate('sessionStorage.getItem("nubo.token")'), null);
  await web.screenshot(page, 'sign-in-refused');
  assert.ok(web.takeErrors(/401/).length >= 1, 'the refused sign-in is the only error the browser logged');
  noConsoleErrors();
  await page.context().close();
});

test('the create wizard: a bad name is refused naming the field and creates nothing; then the VM is created and turns running live, without a reload', async () => {
  const page = await signIn(alice.token);
  // A reload would lose this: the running state must arrive over the event stream.
  // (Evaluated in the page, hence a string: this file is compiled without the DOM's types.)
  await page.evaluate('window.nuboMarker = 17');
  await page.getByRole('link', { name: 'VMs' }).click();
  await page.getByRole('link', { name: 'Create VM' }).click();
  await page.getByRole('radio', { name: /tiny/ }).check();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Memory (MiB)').fill('128');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Name').fill('bad name!');
  await page.getByRole('button', { name: 'Next' }).click();
  await web.screenshot(page, 'wizard-review');
  await page.getByRole('button', { name: 'Create' }).click();
  // The refusal names the field and the wizard goes back to the step that has it.
  const alert = page.getByRole('alert');
  await alert.filter({ hasText: 'VALIDATION_FAILED' }).waitFor();
  assert.match(await alert.innerText(), /field name/);
  assert.equal(await page.getByLabel('Name').getAttribute('aria-invalid'), 'true');
  assert.deepEqual((await alice.api.listVms()).map((v) => v.name), [], 'nothing was created');
  assert.equal(web.takeErrors(/400/).length, 1);

  await page.getByLabel('Name').fill('web-1');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Create' }).click();
  // The wizard itself is /vms/new, which the pattern alone matches at once: wait for the new VM's page.
  await page.waitForURL((u) => /^\/vms\/[^/]+$/.test(u.pathname) && u.pathname !== '/vms/new');
  aliceVmId = new URL(page.url()).pathname.split('/')[2]!;
  await page.getByRole('heading', { name: /web-1/ }).waitFor();
  await page.getByRole('heading', { name: /web-1/ }).locator('.badge', { hasText: 'running' }).waitFor({ timeout: 180_000 });
  assert.equal(await page.evaluate('window.nuboMarker'), 17, 'the page was not reloaded');
  assert.equal((await alice.api.getVm(aliceVmId)).memoryMiB, 128);
  await web.screenshot(page, 'vm-summary');
  noConsoleErrors();
  await page.context().close();
});

test('a user sees only their own VMs; the admin-only Migrate and host actions are not offered to them and the API refuses them anyway', async () => {
  const page = await signIn(alice.token, '/vms');
  await page.getByRole('table', { name: 'VMs' }).locator('tr[data-vm="web-1"]').waitFor();
  assert.equal(await page.locator('tr[data-vm="admin-pending"]').count(), 0, 'the admin\'s VM is not listed for alice');
  await web.screenshot(page, 'vms-user');
  await page.goto(url(`/vms/${aliceVmId}`));
  await page.getByRole('navigation', { name: 'VM tabs' }).waitFor();
  assert.deepEqual(await page.getByRole('navigation', { name: 'VM tabs' }).getByRole('link').allInnerTexts(), ['Summary', 'Console', 'Disks & NICs', 'Snapshots', 'History']);
  await assert.rejects(alice.api.migrateVm(aliceVmId, {}), (err: unknown) => /FORBIDDEN/.test(String((err as { code?: string }).code ?? err)));
  // The admin's VM by its id: the API hides it (404), and the page says so.
  await page.goto(url(`/vms/${adminVmId}`));
  await page.getByRole('alert').filter({ hasText: 'NOT_FOUND' }).waitFor();
  // The 404s of this page (a page of an earlier test may still poll a VM gone since: not this page's errors); the
  // page reads the VM again on a live event, so one 404 or more (a loaded run logged two).
  assert.ok(web.takeErrors(/404/).filter((e) => e.startsWith(url(`/vms/${adminVmId}`))).length >= 1, 'the hidden VM\'s page got its 404');
  // Enable/disable and maintenance are the admin's: not offered to alice on the hosts page, and refused by the API anyway.
  await page.goto(url('/hosts'));
  await page.getByRole('article', { name: 'host h1' }).waitFor();
  assert.equal(await page.getByRole('article', { name: 'host h1' }).getByRole('button').count(), 0, 'no host action for a user');
  await assert.rejects(alice.api.beginHostMaintenance('h1', {}), (err: unknown) => /FORBIDDEN/.test(String((err as { code?: string }).code ?? err)));
  assert.equal((await cloud.api.getHostMaintenance('h1')).state, 'none');

  const admin = await signIn(cloud.api.token, '/vms');
  await admin.locator('tr[data-vm="web-1"]').waitFor();
  await admin.locator('tr[data-vm="admin-pending"]').waitFor();
  await admin.goto(url(`/vms/${aliceVmId}`));
  await admin.getByRole('navigation', { name: 'VM tabs' }).getByRole('link', { name: 'Migrate' }).waitFor();
  noConsoleErrors();
  await page.context().close();
  await admin.context().close();
});

test('a destructive action asks first, and Cancel changes nothing', async () => {
  const page = await signIn(alice.token, `/vms/${aliceVmId}`);
  const before = await alice.api.getVm(aliceVmId);
  assert.equal(before.state, 'running');
  await page.getByRole('group', { name: 'VM actions' }).getByRole('button', { name: 'Terminate', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Terminate web-1?' });
  await dialog.waitFor();
  await web.screenshot(page, 'confirm-terminate');
  // Cancel has the focus: Enter would not destroy anything by accident.
  assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Cancel');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
  const afterCancel = await alice.api.getVm(aliceVmId);
  assert.equal(afterCancel.state, 'running');
  assert.equal(afterCancel.history.length, before.history.length, 'no action was sent');
  noConsoleErrors();
  await page.context().close();
});

/**
 * Types a command into the console tab's xterm.js (the page is on that tab)
 * and waits for the guest's answer on screen. Enter first activates the
 * guest console's shell (the guest may still be booting). One CI run saw no
 * answer within 30 s (cause not found): typed at a person's pace, Enter on
 * its own, a generous wait.
 */
async function consoleRun(page: Page, command: string, answer: RegExp): Promise<void> {
  await page.getByTestId('console-status').filter({ hasText: 'connected' }).waitFor({ timeout: 60_000 });
  const screen = page.locator('.xterm-rows');
  await page.locator('.xterm').click();
  await pollUntil('a shell prompt in the browser', async () => {
    await page.keyboard.press('Enter');
    return /# $/m.test((await screen.innerText()).trimEnd() + ' ') ? true : undefined;
  }, { timeoutMs: 90_000, intervalMs: 1_000 });
  await page.keyboard.type(command, { delay: 40 });
  await page.keyboard.press('Enter');
  await pollUntil(`the guest's answer to ${command}`, async () => (answer.test(await screen.innerText()) ? true : undefined), { timeoutMs: 60_000 });
}

test('the console tab: keystrokes typed in xterm.js reach the guest\'s shell and its answer appears', async () => {
  const page = await signIn(alice.token, `/vms/${aliceVmId}/console`);
  // The guest's arithmetic, not the echo of what was typed.
  await consoleRun(page, 'echo nubo-$((6*7))', /^nubo-42\s*$/m);
  await web.screenshot(page, 'vm-console');
  noConsoleErrors();
  await page.context().close();
});

/** The VM's snapshot events (`vm.snapshot`), oldest first: what the API did to its snapshots. */
const snapshotEvents = async (): Promise<unknown[]> => (await cloud.api.listEvents(0)).filter((e) => e.kind === 'vm.snapshot' && e.resourceId === aliceVmId).map((e) => e.data);

/** Waits until the VM page's heading shows the state (it follows the event stream). */
const pageShowsState = (page: Page, state: string): Promise<void> =>
  page.getByRole('heading', { level: 1, name: /web-1/ }).locator('.badge', { hasText: state }).waitFor({ timeout: 180_000 });

test('snapshots: take one, change the disk; a revert of the running VM is refused readably and changes nothing; powered off, Revert asks and the guest finds its old data at the next boot', async () => {
  const page = await signIn(alice.token, `/vms/${aliceVmId}/console`);
  // What the snapshot will hold, on the guest's data disk (each answer is the guest's own, never the typed text).
  await consoleRun(page, 'echo v$((1+1)) > /data/marker; sync; echo wrote-$(cat /data/marker)', /^wrote-v2\s*$/m);
  await page.getByRole('navigation', { name: 'VM tabs' }).getByRole('link', { name: 'Snapshots' }).click();
  await page.getByRole('form', { name: 'Take a snapshot' }).getByLabel('Name').fill('before-upgrade');
  await page.getByRole('button', { name: 'Take snapshot' }).click();
  const row = page.getByRole('table', { name: 'Snapshots' }).getByRole('row').filter({ hasText: 'before-upgrade' });
  await row.waitFor({ timeout: 60_000 });
  assert.deepEqual((await alice.api.listSnapshots(aliceVmId)).map((s) => s.name), ['before-upgrade']);
  await web.screenshot(page, 'vm-snapshots');

  // Running: the API refuses a revert; the page says why, and nothing changed.
  await page.getByText('A revert needs the VM powered off.').waitFor();
  await row.getByRole('button', { name: 'Revert' }).click();
  const dialog = page.getByRole('dialog', { name: 'Revert web-1 to before-upgrade?' });
  await dialog.getByText('Changes to the disk since the snapshot are lost.').waitFor();
  await dialog.getByRole('button', { name: 'Revert' }).click();
  const refusal = page.getByRole('alert').filter({ hasText: 'INVALID_STATE' });
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /state running.*power it off first/);
  assert.equal(web.takeErrors(/409/).length, 1);
  assert.equal((await alice.api.getVm(aliceVmId)).state, 'running');
  assert.deepEqual(await snapshotEvents(), [{ action: 'created', name: 'before-upgrade' }], 'no revert happened');

  // The change the revert is to undo.
  await page.getByRole('navigation', { name: 'VM tabs' }).getByRole('link', { name: 'Console' }).click();
  await consoleRun(page, 'echo v$((2+1)) > /data/marker; sync; echo wrote-$(cat /data/marker)', /^wrote-v3\s*$/m);
  await page.getByRole('group', { name: 'VM actions' }).getByRole('button', { name: 'Power off', exact: true }).click();
  await pageShowsState(page, 'poweroff');

  // Powered off: Revert asks, then the API reverts; the page says so, and the snapshot stays.
  await page.getByRole('navigation', { name: 'VM tabs' }).getByRole('link', { name: 'Snapshots' }).click();
  await row.getByRole('button', { name: 'Revert' }).click();
  // The dialog opens with Cancel focused (a destructive choice is never the default); right after the click the
  // row's own Revert button still holds the focus (CI read it there once), so wait for the dialog's to land.
  await dialog.waitFor();
  await page.waitForFunction("document.activeElement?.textContent === 'Cancel'", undefined, { timeout: 10_000 });
  await dialog.getByRole('button', { name: 'Revert' }).click();
  await page.getByRole('status').filter({ hasText: 'Reverted web-1\'s disk to before-upgrade: the VM boots from it at its next start.' }).waitFor({ timeout: 60_000 });
  assert.equal(await refusal.count(), 0, 'the earlier refusal is gone');
  assert.deepEqual(await snapshotEvents(), [{ action: 'created', name: 'before-upgrade' }, { action: 'reverted', name: 'before-upgrade' }]);
  assert.deepEqual((await alice.api.listSnapshots(aliceVmId)).map((s) => s.name), ['before-upgrade'], 'the snapshot stays after a revert');
  await row.waitFor();
  const vm = await alice.api.getVm(aliceVmId);
  assert.equal(vm.state, 'poweroff');
  assert.equal(vm.history.at(-1)?.to, 'poweroff', 'a revert is no state change');

  // The guest boots from the snapshot's disk: the marker written before it, not the later one.
  await page.getByRole('group', { name: 'VM actions' }).getByRole('button', { name: 'Start', exact: true }).click();
  await pageShowsState(page, 'running');
  await page.getByRole('navigation', { name: 'VM tabs' }).getByRole('link', { name: 'Console' }).click();
  await consoleRun(page, 'echo got-$(cat /data/marker)', /^got-v2\s*$/m);
  await web.screenshot(page, 'vm-reverted');
  noConsoleErrors();
  await page.context().close();
});

test('overview: a change made elsewhere shows live in VMs by state and in Recent events, without a reload', async () => {
  const page = await signIn(cloud.api.token, '/overview');
  const tiles = page.getByTestId('vm-states');
  await tiles.getByRole('link', { name: '1 pending' }).waitFor();
  const events = page.getByTestId('recent-events');
  await events.locator('li').first().waitFor();
  await page.evaluate('window.nuboMarker = 18');
  // Made through the API, as the CLI or another browser would.
  await cloud.api.createVm({ template: 'tiny', name: 'admin-pending-2', requirements: 'free_memory_mb > 100000000' });
  await alice.api.createSnapshot(aliceVmId, { name: 'live-1' });
  await tiles.getByRole('link', { name: '2 pending' }).waitFor();
  await events.getByText('vm web-1: snapshot created live-1').waitFor();
  assert.equal(await page.evaluate('window.nuboMarker'), 18, 'the page was not reloaded');
  noConsoleErrors();
  await page.context().close();
});

test('every section renders for the admin (laptop and phone width) without a console error', async () => {
  const page = await signIn(cloud.api.token);
  await page.getByRole('article', { name: 'host h1' }).waitFor();
  await page.getByTestId('vm-states').getByText('running').waitFor();
  await web.screenshot(page, 'overview');
  for (const [path, heading] of [['/vms', 'Virtual machines'], ['/hosts', 'Hosts'], ['/images', 'Templates & images'], ['/networks', 'Networks'], ['/volumes', 'Volumes'], ['/migrations', 'Migrations'], [`/vms/${aliceVmId}/history`, 'web-1'], [`/vms/${aliceVmId}/devices`, 'web-1'], [`/vms/${aliceVmId}/migrate`, 'web-1']] as const) {
    await page.goto(url(path));
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
    await web.screenshot(page, path.replace(/\//g, '_').replace(aliceVmId, 'vm'));
  }
  // The image upload is offered to the admin only.
  await page.goto(url('/images'));
  await page.getByRole('heading', { name: 'Upload an image or an OVA' }).waitFor();
  const phone = await web.newPage(url('/'), { width: 390, height: 844 });
  await phone.getByLabel('API token').fill(cloud.api.token);
  await phone.getByRole('button', { name: 'Sign in' }).click();
  await phone.getByRole('article', { name: 'host h1' }).waitFor();
  await web.screenshot(phone, 'overview-phone');
  noConsoleErrors();
  await page.context().close();
  await phone.context().close();
});

test('the wizard puts the VM\'s NICs on the networks checked, in order, and shows them in the review', async () => {
  await cloud.api.createNetwork({ name: 'wiz-a', cidr: '198.18.75.0/28', gateway: '198.18.75.1' });
  await cloud.api.createNetwork({ name: 'wiz-b', cidr: '198.18.75.16/28', gateway: '198.18.75.17' });
  const page = await signIn(alice.token, '/vms/new');
  await page.getByRole('radio', { name: /tiny/ }).check();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Name').fill('nics-1');
  // Placed nowhere (it stays pending): what is checked here is what was admitted, addresses included.
  await page.getByLabel('Placement requirements').fill('free_memory_mb > 100000000');
  await page.getByRole('checkbox', { name: /wiz-b/ }).check();
  await page.getByRole('checkbox', { name: /wiz-a/ }).check();
  await page.getByRole('button', { name: 'Next' }).click();
  assert.match(await page.locator('dl.review').innerText(), /NICs\s+wiz-b, wiz-a/);
  await page.getByRole('button', { name: 'Create' }).click();
  // The wizard itself is /vms/new: wait for the new VM's page.
  await page.waitForURL((u) => /^\/vms\/[^/]+$/.test(u.pathname) && u.pathname !== '/vms/new');
  const id = new URL(page.url()).pathname.split('/')[2]!;
  await page.context().close();
  const vm = await alice.api.getVm(id);
  assert.deepEqual(vm.nics.map((n) => n.network), ['wiz-b', 'wiz-a'], 'one NIC per network checked, in the order checked (not the template\'s)');
  assert.match(vm.nics[0]?.address ?? '', /^198\.18\.75\.(1[89]|2\d|30)\/28$/);
  assert.match(vm.nics[1]?.address ?? '', /^198\.18\.75\.([2-9]|1[0-4])\/28$/);
  await alice.api.vmAction(id, 'terminate-hard');
});
