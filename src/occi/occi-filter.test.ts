import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OcciError } from './occi-error.js';
import { entityMatches, filterCategories } from './occi-filter.js';
import { ACTIONS, identifierOf, KINDS, OS_TPL, STATIC_MIXINS } from './occi-model.js';
import { negotiate, requestRendering } from './occi-media.js';
import { compute, computeState, network, parseNetworkInterfaceId, networkInterfaceId } from './occi-entities.js';
import { osTplMixin } from './occi-templates.js';
import { zoneMixin } from './occi-zones.js';
import type { VmDetailView } from '../contract/vm-schemas.js';
import type { NetworkView } from '../contract/network-schemas.js';

const INFRA = 'http://schemas.ogf.org/occi/infrastructure#';
const ALL = { kinds: KINDS, mixins: STATIC_MIXINS, actions: ACTIONS };

test('the query interface keeps only the categories asked for; an unknown one is refused', () => {
  assert.equal(filterCategories(ALL, []), ALL);
  const f = filterCategories(ALL, [{ scheme: INFRA, term: 'compute' }, { scheme: 'http://schemas.ogf.org/occi/infrastructure/compute/action#', term: 'stop' }]);
  assert.deepEqual([f.kinds.map((k) => k.term), f.mixins.length, f.actions.map((a) => a.term)], [['compute'], 0, ['stop']]);
  assert.throws(() => filterCategories(ALL, [{ scheme: INFRA, term: 'vm' }]), (e: unknown) => e instanceof OcciError && e.status === 400 && /unknown category .*#vm/.test(e.message));
});

const vm: VmDetailView = {
  id: 'c1', name: 'web', owner: 'u', template: 'tiny', state: 'running', stateReason: null, host: 'h1', vcpus: 1, memoryMiB: 128,
  allowedActions: ['poweroff', 'poweroff-hard', 'reboot', 'suspend', 'terminate'], createdAt: '', updatedAt: '',
  nics: [{ index: 0, network: 'lan', address: '198.18.1.5/24', mac: '52:54:00:00:00:01' }, { index: 1, network: null, address: null, mac: '52:54:00:00:00:02' }], history: [],
};
const lan: NetworkView = { id: 'n1', name: 'lan', cidr: '198.18.1.0/24', gateway: '198.18.1.1', dns: [], vlan: null, bridge: 'br-lan', createdAt: '', addresses: { total: 250, free: 249, leased: 1, held: 0 } };
const tiny = { id: 't1', name: 'tiny', vcpus: 1, memoryMiB: 128 };

test('a running VM is an active compute with its template mixin, its size, its NIC on a network as a networkinterface and the actions it allows', () => {
  const c = compute(vm, { base: '/occi/1.2', templates: new Map([['tiny', tiny]]), networks: new Map([['lan', lan]]), volumes: [] });
  assert.deepEqual(c.mixins, ['http://schemas.nubo.dev/occi/os_tpl#tiny', 'http://schemas.nubo.dev/occi/resource_tpl#tiny']);
  assert.equal(c.attributes['occi.compute.memory'], 0.125);
  assert.equal(c.attributes['occi.compute.state'], 'active');
  assert.deepEqual(c.actions.map((a) => a.slice(a.indexOf('#') + 1)), ['stop', 'restart', 'suspend', 'migrate']);
  // The NIC on no network is no link.
  assert.equal(c.links.length, 1);
  assert.deepEqual([c.links[0]!.id, c.links[0]!.target.location, c.links[0]!.attributes['occi.networkinterface.address']], ['c1.nic0', '/occi/1.2/network/n1', '198.18.1.5']);
  assert.deepEqual(parseNetworkInterfaceId(networkInterfaceId('a.nic-b', 3)), { vmId: 'a.nic-b', index: 3 });
  assert.deepEqual(['running', 'shutdown', 'poweroff', 'stopped', 'pending', 'suspended', 'failed'].map((s) => computeState(s as never)), ['active', 'active', 'inactive', 'inactive', 'inactive', 'suspended', 'error']);
});

test('collections filter by kind (and its ancestors), by mixin (and the mixin it depends on) and by attribute value', () => {
  const c = compute(vm, { base: '/occi/1.2', templates: new Map([['tiny', tiny]]), networks: new Map([['lan', lan]]), volumes: [] });
  const n = network('/occi/1.2', lan);
  const parents = new Map([[identifierOf(osTplMixin(tiny)), [identifierOf(OS_TPL)]]]);
  const keep = (cats: string[], attrs: Record<string, string | number> = {}): string[] => [c, n, ...c.links].filter((e) => entityMatches(e, cats, attrs, parents)).map((e) => e.id);
  assert.deepEqual(keep([`${INFRA}compute`]), ['c1']);
  assert.deepEqual(keep(['http://schemas.ogf.org/occi/core#resource']), ['c1', 'n1']);
  assert.deepEqual(keep(['http://schemas.ogf.org/occi/core#link']), ['c1.nic0']);
  assert.deepEqual(keep(['http://schemas.ogf.org/occi/core#entity']), ['c1', 'n1', 'c1.nic0']);
  assert.deepEqual(keep([identifierOf(OS_TPL)]), ['c1']);
  assert.deepEqual(keep([`${INFRA}compute`], { 'occi.compute.state': 'active' }), ['c1']);
  assert.deepEqual(keep([`${INFRA}compute`], { 'occi.compute.state': 'inactive' }), []);
});

test('negotiation: the highest q wins, exact beats wildcard, nothing acceptable is 406; request bodies by Content-Type, 415 otherwise', () => {
  assert.equal(negotiate(undefined), 'text/plain');
  assert.equal(negotiate('*/*'), 'text/plain');
  assert.equal(negotiate('application/occi+json'), 'application/occi+json');
  assert.equal(negotiate('application/json'), 'application/occi+json');
  assert.equal(negotiate('text/plain;q=0.5, text/occi'), 'text/occi');
  assert.equal(negotiate('text/html, */*;q=0.1'), 'text/plain');
  assert.equal(negotiate('text/*, application/occi+json'), 'application/occi+json');
  assert.throws(() => negotiate('text/html'), (e: unknown) => e instanceof OcciError && e.status === 406);
  assert.throws(() => negotiate('application/occi+json;q=0'), (e: unknown) => e instanceof OcciError && e.status === 406);
  // text/uri-list: a collection's GET only; elsewhere it is not served (406, or the next acceptable rendering).
  assert.equal(negotiate('text/uri-list', { uriList: true }), 'text/uri-list');
  assert.equal(negotiate('text/plain;q=0.5, text/uri-list', { uriList: true }), 'text/uri-list');
  assert.equal(negotiate('text/uri-list, text/plain;q=0.5'), 'text/plain');
  assert.equal(negotiate('text/*', { uriList: true }), 'text/plain');
  assert.throws(() => negotiate('text/uri-list'), (e: unknown) => e instanceof OcciError && e.status === 406 && /is served here; ask for application\/occi\+json, text\/occi, text\/plain$/.test(e.message));
  assert.equal(requestRendering(undefined, ''), 'text/occi');
  assert.equal(requestRendering('text/plain; charset=utf-8', 'x'), 'text/plain');
  assert.equal(requestRendering('application/json', '{}'), 'application/occi+json');
  assert.throws(() => requestRendering(undefined, 'Category: x'), (e: unknown) => e instanceof OcciError && e.status === 415);
  assert.throws(() => requestRendering('application/xml', '<x/>'), (e: unknown) => e instanceof OcciError && e.status === 415 && /application\/xml is not an OCCI rendering/.test(e.message));
});

test('a compute shows its cluster as an availability_zone mixin and nubo.compute.cluster; a collection is filtered by either', () => {
  const ctx = { base: '/occi/1.2', templates: new Map([['tiny', tiny]]), networks: new Map([['lan', lan]]), volumes: [] };
  const inA = compute({ ...vm, cluster: 'zone-a' }, ctx);
  const inB = compute({ ...vm, id: 'c2', cluster: 'zone-b' }, ctx);
  const nowhere = compute({ ...vm, id: 'c3', cluster: null }, ctx);
  assert.ok(inA.mixins.includes('http://schemas.nubo.dev/occi/availability_zone#zone-a'), JSON.stringify(inA.mixins));
  assert.equal(inA.attributes['nubo.compute.cluster'], 'zone-a');
  assert.deepEqual([nowhere.mixins.some((m) => m.includes('availability_zone')), 'nubo.compute.cluster' in nowhere.attributes], [false, false]);
  // A cluster whose name is no OCCI term (upper case) keeps the attribute, without a mixin.
  const odd = compute({ ...vm, cluster: 'Zone.A' }, ctx);
  assert.deepEqual([odd.mixins.some((m) => m.includes('availability_zone')), odd.attributes['nubo.compute.cluster']], [false, 'Zone.A']);
  const all = [inA, inB, nowhere];
  const kept = (categories: string[], attributes: Record<string, string> = {}): string[] => all.filter((e) => entityMatches(e, categories, attributes, new Map())).map((e) => e.id);
  assert.deepEqual(kept(['http://schemas.nubo.dev/occi/availability_zone#zone-b']), ['c2']);
  assert.deepEqual(kept([`${INFRA}compute`], { 'nubo.compute.cluster': 'zone-a' }), ['c1']);
  // The query interface lists a zone's mixin, with the attribute it defines.
  const zone = zoneMixin('zone-a', 2)!;
  const listed = filterCategories({ ...ALL, mixins: [...STATIC_MIXINS, zone] }, [{ scheme: 'http://schemas.nubo.dev/occi/availability_zone#', term: 'zone-a' }]);
  assert.deepEqual(listed.mixins.map((m) => [m.term, m.location, m.attributes.map((a) => a.name)]), [['zone-a', '/mixin/availability_zone/zone-a/', ['nubo.compute.cluster']]]);
  assert.equal(zoneMixin('Zone.A', 1), undefined);
});
