import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Page } from 'playwright-core';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { launchDashboardBrowser, type DashboardBrowser } from './support/dashboard-browser.js';
import { LeaseClient } from '../src/client/lease-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';

/**
 * Issue 17's leases page against an in-process controller with one agent and
 * real QEMU: an advance reservation and a best-effort lease requested through
 * the form show up in the list and as bars in the hosts × time Gantt; a
 * refused request names its field and creates nothing; the detail page
 * shows the timeline and cancels after a confirmation; a plain user sees
 * only their own leases, and a lease made elsewhere appears live (SSE).
 * axe-core on the list, the detail and the dialog; the chart scrolls inside
 * its box at 375 px. The page's screenshot goes to docs/screenshots/.
 */

let cloud: InProcessCloud;
let web: DashboardBrowser;
let bob: { token: string; leases: LeaseClient };

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-dashboard-leases-', logger: pino({ level: 'silent' }) });
  const created = await new TenancyClient(cloud.controller.url, cloud.api.token).createUser({ name: 'bob' });
  bob = { token: created.token, leases: new LeaseClient(cloud.controller.url, created.token) };
  web = await launchDashboardBrowser('nubo-dashboard-leases-');
});
after(async () => {
  await web?.close();
  await cloud?.stop();
});

const url = (path = '/'): string => `${cloud.controller.url}${path}`;

async function signIn(token: string, path: string, viewport?: { width: number; height: number }): Promise<Page> {
  const page = await web.newPage(url('/'), viewport);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
  await page.goto(url(path));
  return page;
}

/** Fills and sends the request form; returns the new lease's id from the notice the page shows. */
async function request(page: Page, kind: RegExp, fill: (p: Page) => Promise<void>): Promise<string> {
  const form = page.getByRole('form', { name: 'Request a lease' });
  await form.getByRole('radio', { name: kind }).check();
  await fill(page);
  await form.getByRole('button', { name: 'Request lease' }).click();
  const notice = page.getByRole('status').filter({ hasText: /^Lease / });
  await notice.waitFor();
  const href = await notice.getByRole('link').getAttribute('href');
  if (href === null || !href.startsWith('/leases/')) assert.fail(`the notice links to ${String(href)}`);
  return href.slice('/leases/'.length);
}

test('the leases page: request an AR and a BE lease in the form, see both in the list and the Gantt, a refusal names its field, cancel one', async () => {
  const admin = new LeaseClient(cloud.controller.url, cloud.api.token);
  const page = await signIn(cloud.api.token, '/leases');
  await page.getByRole('heading', { level: 1, name: 'Leases' }).waitFor();
  await page.getByRole('region', { name: 'Leases by host over time' }).waitFor();
  assert.deepEqual(await web.axe(page), [], 'axe-core on the empty page');

  // A refusal: a zero-minute reservation is a 400 naming durationS, marked in the form, and nothing is written.
  const form = page.getByRole('form', { name: 'Request a lease' });
  await form.getByLabel('Duration (minutes)').fill('0');
  await form.getByRole('button', { name: 'Request lease' }).click();
  await page.getByRole('alert').filter({ hasText: 'VALIDATION_FAILED' }).filter({ hasText: 'durationS' }).waitFor();
  assert.equal(await form.getByLabel('Duration (minutes)').getAttribute('aria-invalid'), 'true');
  assert.deepEqual(await admin.list(), [], 'a refused request writes nothing');
  web.takeErrors(/400/);

  const ar = await request(page, /Advance reservation/, async (p) => {
    const start = new Date(Date.now() + 2 * 3_600_000);
    start.setSeconds(0, 0);
    const local = new Date(start.getTime() - start.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await p.getByLabel('Start', { exact: true }).fill(local);
    await p.getByLabel('Duration (minutes)').fill('30');
    await p.getByLabel('Memory each (MiB)').fill('128');
  });
  const be = await request(page, /Best effort/, async (p) => {
    await p.getByLabel('Duration (minutes)').fill('20');
    await p.getByLabel('Memory each (MiB)').fill('128');
  });
  const mine = await admin.list();
  assert.deepEqual(new Map(mine.map((l) => [l.id, l.type])), new Map([[ar, 'ar'], [be, 'be']]), 'the API has what the form asked for');
  const arView = mine.find((l) => l.id === ar)!;
  assert.equal(arView.durationS, 1_800);
  assert.equal(arView.memoryMiB, 128);

  // Both in the list, and both as bars on h1 in the chart: the AR two hours ahead, the BE now.
  const list = page.getByRole('table', { name: 'Leases' });
  for (const id of [ar, be]) await list.locator(`tr[data-lease="${id}"]`).waitFor();
  const gantt = page.getByRole('region', { name: 'Leases by host over time' });
  for (const id of [ar, be]) await gantt.locator(`g[data-host="h1"] a[data-lease="${id}"]`).first().waitFor();
  const arBar = await gantt.locator(`a[data-lease="${ar}"] rect.run`).boundingBox();
  const beBar = await gantt.locator(`a[data-lease="${be}"] rect`).first().boundingBox();
  assert.ok(arBar !== null && beBar !== null && arBar.x > beBar.x, 'the reservation is drawn later than the best-effort lease');
  assert.match((await gantt.locator(`a[data-lease="${ar}"]`).first().getAttribute('aria-label')) ?? '', /^lease \w+ \(ar, scheduled, admin\) \w+ on h1 /);
  assert.deepEqual(await web.axe(page), [], 'axe-core with leases');
  await web.docScreenshot(page, 'leases');

  // Filters: the AR alone by kind.
  await page.getByLabel('Kind').selectOption('ar');
  await list.locator(`tr[data-lease="${be}"]`).waitFor({ state: 'detached' });
  assert.equal(await list.locator('tr[data-lease]').count(), 1);
  await page.getByLabel('Kind').selectOption('');

  // A bar is a link, reached with the keyboard: focus it and press Enter to open the lease.
  await gantt.locator(`a[data-lease="${ar}"]`).first().focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: `Lease ${ar.slice(0, 8)}` }).waitFor();
  const timeline = page.getByRole('table', { name: 'Lease timeline' });
  await timeline.getByRole('cell', { name: 'created' }).waitFor();
  assert.deepEqual(await web.axe(page), [], 'axe-core on the lease');
  await page.getByRole('button', { name: 'Cancel lease…' }).click();
  const dialog = page.getByRole('dialog', { name: `Cancel lease ${ar.slice(0, 8)}?` });
  await dialog.waitFor();
  assert.deepEqual(await web.axe(page), [], 'axe-core on the confirmation');
  await dialog.getByRole('button', { name: 'Cancel lease' }).click();
  await page.getByTestId('lease-summary').getByText('cancelled').first().waitFor();
  await timeline.getByRole('cell', { name: 'cancelled' }).first().waitFor();
  assert.equal((await admin.get(ar)).state, 'cancelled');
  assert.notEqual((await admin.get(be)).state, 'cancelled', 'only the one confirmed');

  // Back on the list the cancelled AR has no bar any more; the BE keeps its own.
  await page.getByRole('link', { name: '← Leases' }).click();
  await gantt.locator(`a[data-lease="${be}"]`).first().waitFor();
  assert.equal(await gantt.locator(`a[data-lease="${ar}"]`).count(), 0);
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

test('a plain user sees only their own leases; a lease made elsewhere appears live; the chart scrolls in its box at 375 px', async () => {
  const page = await signIn(bob.token, '/leases', { width: 375, height: 740 });
  const list = page.getByRole('table', { name: 'Leases' });
  await list.getByRole('cell', { name: 'No leases match.' }).waitFor();
  const adminLeases = await new LeaseClient(cloud.controller.url, cloud.api.token).list();
  assert.ok(adminLeases.length >= 1, 'the admin has leases bob must not see');

  // Bob asks through the API (another tab, the CLI): the open page shows it without a reload.
  const start = new Date(Date.now() + 3 * 3_600_000).toISOString();
  const mine = await bob.leases.create({ type: 'ar', start, durationS: 600, template: 'tiny', memoryMiB: 128 });
  await list.locator(`tr[data-lease="${mine.id}"]`).waitFor();
  assert.equal(await list.locator('tr[data-lease]').count(), 1, 'only bob\'s own');
  for (const l of adminLeases) assert.equal(await page.locator(`[data-lease="${l.id}"]`).count(), 0, `admin's ${l.id} is hidden from bob`);
  await page.getByRole('region', { name: 'Leases by host over time' }).locator(`a[data-lease="${mine.id}"]`).first().waitFor();

  const [scrollWidth, clientWidth] = await page.evaluate<[number, number]>('[document.documentElement.scrollWidth, document.documentElement.clientWidth]');
  assert.ok(scrollWidth <= clientWidth, `the page is ${scrollWidth} px wide in ${clientWidth} px`);
  const box = await page.evaluate<[number, number]>('(() => { const b = document.querySelector(".gantt-wrap"); return [b.scrollWidth, b.clientWidth]; })()');
  assert.ok(box[0] > box[1], 'the chart is wider than the phone and scrolls inside its box');
  await web.docScreenshot(page, 'leases-phone');
  assert.deepEqual(await web.axe(page), [], 'axe-core at phone width');
  await page.context().close();
  await bob.leases.cancel(mine.id);
});
