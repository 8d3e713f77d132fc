import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Page } from 'playwright-core';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { launchDashboardBrowser, type DashboardBrowser } from './support/dashboard-browser.js';

/**
 * Clusters shown everywhere (issue 18), against an in-process controller with
 * one agent (h1, moved into cluster zone-a): in Debian's chromium the hosts
 * page shows each host's cluster, and the create wizard offers the
 * availability zones, sends the one picked and shows it in the review; over
 * OCCI each cluster is an availability_zone mixin at the query interface, a
 * compute carries its cluster's mixin and `nubo.compute.cluster`, a
 * collection is filtered by either, and a create with the mixin asks for
 * that cluster. The VMs ask for clusters with no host, so they wait in
 * pending and no guest is booted.
 */

let cloud: InProcessCloud;
let web: DashboardBrowser;

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-dashboard-clusters-', logger: pino({ level: 'silent' }) });
  await cloud.api.createCluster({ name: 'zone-a' });
  await cloud.api.addClusterHost('zone-a', 'h1');
  await cloud.api.createCluster({ name: 'zone-b', description: 'no hosts yet' });
  web = await launchDashboardBrowser('nubo-dashboard-clusters-');
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

test('the hosts page shows each host\'s cluster; the wizard picks a cluster, shows it in the review and the VM asks for it', async () => {
  const page = await signIn();
  await page.getByRole('link', { name: 'Hosts' }).click();
  const card = page.getByRole('article', { name: 'host h1' });
  await card.waitFor();
  assert.equal((await card.getByTestId('host-cluster').innerText()).trim(), 'Cluster zone-a');

  await page.getByRole('link', { name: 'VMs' }).click();
  await page.getByRole('link', { name: 'Create VM' }).click();
  await page.getByRole('radio', { name: /tiny/ }).check();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Memory (MiB)').fill('128');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Name').fill('zoned-1');
  const zone = page.getByLabel('Cluster (availability zone)');
  // Every zone is offered, with its hosts; the empty choice leaves it to the template (any).
  await zone.locator('option', { hasText: 'zone-b (0 hosts)' }).waitFor({ state: 'attached' });
  assert.deepEqual(await zone.locator('option').allInnerTexts(), ['any', 'default (0 hosts)', 'zone-a (1 host)', 'zone-b (0 hosts)']);
  await zone.selectOption('zone-b');
  await page.getByRole('button', { name: 'Next' }).click();
  const review = page.locator('dl.review');
  await review.waitFor();
  assert.match(await review.innerText(), /Cluster\s+zone-b/);
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL((u) => /^\/vms\/[^/]+$/.test(u.pathname) && u.pathname !== '/vms/new');
  const id = new URL(page.url()).pathname.split('/')[2]!;
  const vm = await cloud.api.getVm(id);
  assert.deepEqual([vm.name, vm.cluster, vm.state], ['zoned-1', 'zone-b', 'pending']);
  assert.deepEqual(web.errors, [], 'the browser logged errors');
  await page.context().close();
});

const ZONE = 'http://schemas.nubo.dev/occi/availability_zone#';

async function occi(path: string, o: { method?: string; accept?: string; contentType?: string; body?: string } = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const headers = new Headers({ authorization: `Bearer ${cloud.api.token}`, accept: o.accept ?? 'text/plain' });
  if (o.contentType !== undefined) headers.set('content-type', o.contentType);
  const res = await fetch(`${cloud.controller.url}/occi/1.2${path}`, { method: o.method ?? 'GET', headers, ...(o.body !== undefined ? { body: o.body } : {}), signal: AbortSignal.timeout(60_000) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

test('OCCI: clusters are availability_zone mixins; a compute shows its cluster; collections are filtered by it; a create with the mixin asks for that cluster', async () => {
  // The query interface lists one mixin per cluster, with the attribute it defines.
  const q = await occi(`/-/?category=${encodeURIComponent(`${ZONE}zone-a`)}`);
  assert.equal(q.status, 200, q.text);
  assert.match(q.text, /Category: zone-a; scheme="http:\/\/schemas\.nubo\.dev\/occi\/availability_zone#"; class="mixin"; title="availability zone zone-a \(cluster of 1 host\)"; rel="http:\/\/schemas\.ogf\.org\/occi\/infrastructure#compute"; location="\/occi\/1\.2\/mixin\/availability_zone\/zone-a\/"; attributes="nubo\.compute\.cluster\{immutable\}"/);

  // A compute created with the zone-c mixin asks for zone-c (which has no host: it waits).
  await cloud.api.createCluster({ name: 'zone-c' });
  const made = await occi('/compute/', {
    method: 'POST', contentType: 'text/plain',
    body: [
      'Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"',
      'Category: tiny; scheme="http://schemas.nubo.dev/occi/os_tpl#"; class="mixin"',
      'Category: zone-c; scheme="http://schemas.nubo.dev/occi/availability_zone#"; class="mixin"',
      'X-OCCI-Attribute: occi.core.title="zoned-2"',
    ].join('\n'),
  });
  assert.equal(made.status, 201, made.text);
  const location = made.headers.get('location') ?? '';
  const id = location.split('/').pop()!;
  assert.deepEqual([(await cloud.api.getVm(id)).cluster, (await cloud.api.getVm(id)).name], ['zone-c', 'zoned-2']);

  // Its rendering: the zone's mixin and the attribute.
  const one = await occi(`/compute/${id}`);
  assert.match(one.text, /Category: zone-c; scheme="http:\/\/schemas\.nubo\.dev\/occi\/availability_zone#"; class="mixin"/);
  assert.match(one.text, /X-OCCI-Attribute: nubo\.compute\.cluster="zone-c"/);

  // Filtered by the zone's category, by the attribute, and listed at the mixin's location: zoned-2 only (zoned-1 asked for zone-b).
  const byCategory = await occi(`/compute/?category=${encodeURIComponent(`${ZONE}zone-c`)}`, { accept: 'text/uri-list' });
  assert.deepEqual(byCategory.text.trim().split('\n').map((l) => l.split('/').pop()), [id]);
  const byAttribute = await occi(`/compute/?attribute=${encodeURIComponent('nubo.compute.cluster="zone-c"')}`, { accept: 'text/uri-list' });
  assert.deepEqual(byAttribute.text.trim().split('\n').map((l) => l.split('/').pop()), [id]);
  const atLocation = await occi('/mixin/availability_zone/zone-c/', { accept: 'text/uri-list' });
  assert.deepEqual(atLocation.text.trim().split('\n').map((l) => l.split('/').pop()), [id]);
  const zoneB = await occi(`/compute/?category=${encodeURIComponent(`${ZONE}zone-b`)}`, { accept: 'text/uri-list' });
  const zoned1 = (await cloud.api.listVms()).find((v) => v.name === 'zoned-1');
  assert.ok(zoned1, 'the wizard\'s VM');
  assert.deepEqual(zoneB.text.trim().split('\n').map((l) => l.split('/').pop()), [zoned1.id]);

  // An unknown zone is refused naming the category; nothing is made.
  const before = (await cloud.api.listVms()).length;
  const bad = await occi('/compute/', {
    method: 'POST', contentType: 'text/plain',
    body: 'Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"\nCategory: tiny; scheme="http://schemas.nubo.dev/occi/os_tpl#"; class="mixin"\nCategory: nosuch; scheme="http://schemas.nubo.dev/occi/availability_zone#"; class="mixin"',
  });
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.text, /unknown mixin http:\/\/schemas\.nubo\.dev\/occi\/availability_zone#nosuch/);
  assert.equal((await cloud.api.listVms()).length, before);
  for (const v of await cloud.api.listVms()) if (v.state !== 'terminated') await cloud.api.vmAction(v.id, 'terminate-hard');
});
