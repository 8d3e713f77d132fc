import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OcciError } from './occi-error.js';
import { checkAction, parseLocation, planComputeAction, planComputeReplace, planComputeUpdate, planCreate, type TemplateMixins } from './occi-requests.js';
import { COMPUTE, identifierOf, IPNETWORK, NETWORK, NETWORKINTERFACE, STATIC_MIXINS, STORAGE, STORAGELINK } from './occi-model.js';
import { osTplMixin, RESOURCE_SIZES, resourceTplMixin } from './occi-templates.js';
import { zoneMixin } from './occi-zones.js';
import type { SentEntity } from './occi-instance.js';

const INFRA = 'http://schemas.ogf.org/occi/infrastructure#';
const OS = 'http://schemas.nubo.dev/occi/os_tpl#';
const RES = 'http://schemas.nubo.dev/occi/resource_tpl#';
const ACT = 'http://schemas.ogf.org/occi/infrastructure/compute/action#';
const B = '/occi/1.2';

const tiny = { id: 't-1', name: 'tiny', vcpus: 1, memoryMiB: 128 };
const TPL: TemplateMixins = {
  osTpls: new Map([[identifierOf(osTplMixin(tiny)), { mixin: osTplMixin(tiny), template: 't-1' }]]),
  resourceTpls: new Map(RESOURCE_SIZES.map((s) => [identifierOf(resourceTplMixin(s)), { mixin: resourceTplMixin(s), size: s }])),
  others: new Map(STATIC_MIXINS.map((m) => [identifierOf(m), m])),
};

const kind = (term: string) => ({ scheme: INFRA, term, class: 'kind' });
const sent = (categories: SentEntity['categories'], attributes: SentEntity['attributes'] = {}, links: SentEntity['links'] = []): SentEntity => ({ categories, attributes, links });

function refuses(f: () => unknown, message: RegExp, attribute?: string): void {
  assert.throws(f, (e: unknown) => e instanceof OcciError && e.status === 400 && message.test(e.message) && (attribute === undefined || e.details['attribute'] === attribute));
}

test('a compute from an os_tpl and a resource_tpl: the template, the size, the name, and networkinterface links as NICs', () => {
  const plan = planCreate(sent([kind('compute'), { scheme: OS, term: 'tiny', class: 'mixin' }, { scheme: RES, term: 'small', class: 'mixin' }], { 'occi.core.title': 'web-1' }, [
    { target: `http://cloud.example:7480${B}/network/n-1`, kind: `${INFRA}networkinterface`, attributes: {} },
  ]), 'compute', B, TPL);
  assert.deepEqual(plan, { collection: 'compute', body: { template: 't-1', name: 'web-1', vcpus: 1, memoryMiB: 256, nics: [{ network: 'n-1' }] } });
  // Its own cores and memory win over the resource_tpl.
  const own = planCreate(sent([kind('compute'), { scheme: OS, term: 'tiny' }, { scheme: RES, term: 'small' }], { 'occi.compute.cores': 2, 'occi.compute.memory': 0.375 }), 'compute', B, TPL);
  assert.deepEqual(own, { collection: 'compute', body: { template: 't-1', vcpus: 2, memoryMiB: 384 } });
});

test('a compute created with storagelinks: their storages are the volumes attached in its first prolog, in the order sent', () => {
  const plan = planCreate(sent([kind('compute'), { scheme: OS, term: 'tiny', class: 'mixin' }], {}, [
    { target: `${B}/storage/v-2`, kind: `${INFRA}storagelink`, attributes: {} },
    { target: `${B}/network/n-1`, attributes: {} },
    // No kind: a link to a storage is a storagelink.
    { target: `http://cloud.example:7480${B}/storage/v-1`, attributes: {} },
  ]), 'compute', B, TPL);
  assert.deepEqual(plan, { collection: 'compute', body: { template: 't-1', nics: [{ network: 'n-1' }], volumes: ['v-2', 'v-1'] } });
});

test('a compute request is refused, naming why: kind, mixins, attributes and links', () => {
  refuses(() => planCreate(sent([]), 'compute', B, TPL), /no kind given/);
  refuses(() => planCreate(sent([{ scheme: INFRA, term: 'vm', class: 'kind' }]), 'compute', B, TPL), /unknown kind http:\/\/schemas\.ogf\.org\/occi\/infrastructure#vm/);
  refuses(() => planCreate(sent([kind('compute'), kind('storage')]), 'compute', B, TPL), /2 kinds given/);
  refuses(() => planCreate(sent([kind('storage')]), 'compute', B, TPL), /kind .*#storage cannot be created in the compute collection/);
  refuses(() => planCreate(sent([kind('compute'), { scheme: OS, term: 'nosuch' }]), 'compute', B, TPL), /unknown mixin http:\/\/schemas\.nubo\.dev\/occi\/os_tpl#nosuch/);
  refuses(() => planCreate(sent([kind('compute'), { scheme: 'http://schemas.ogf.org/occi/infrastructure/network#', term: 'ipnetwork' }]), 'compute', B, TPL), /mixin .*#ipnetwork does not apply to kind .*#compute/);
  refuses(() => planCreate(sent([kind('compute')]), 'compute', B, TPL), /exactly one os_tpl mixin/);
  refuses(() => planCreate(sent([kind('compute'), { scheme: OS, term: 'tiny' }, { scheme: RES, term: 'tiny' }, { scheme: RES, term: 'small' }]), 'compute', B, TPL), /at most one resource_tpl mixin, 2 given/);
  const ok = [kind('compute'), { scheme: OS, term: 'tiny' }];
  refuses(() => planCreate(sent(ok, { 'occi.compute.speed': 2 }), 'compute', B, TPL), /unknown attribute occi\.compute\.speed/, 'occi.compute.speed');
  refuses(() => planCreate(sent(ok, { 'occi.core.id': 'mine' }), 'compute', B, TPL), /attribute occi\.core\.id cannot be set: nubo sets it/, 'occi.core.id');
  refuses(() => planCreate(sent(ok, { 'occi.compute.cores': '2' }), 'compute', B, TPL), /occi\.compute\.cores must be a number/, 'occi.compute.cores');
  refuses(() => planCreate(sent(ok, { 'occi.compute.cores': 1.5 }), 'compute', B, TPL), /whole number 1-64/, 'occi.compute.cores');
  refuses(() => planCreate(sent(ok, { 'occi.compute.memory': 0.0001 }), 'compute', B, TPL), /whole number of MiB/, 'occi.compute.memory');
  refuses(() => planCreate(sent(ok, { 'occi.core.title': '../x' }), 'compute', B, TPL), /occi\.core\.title must be 1-63 letters/, 'occi.core.title');
  refuses(() => planCreate(sent(ok, {}, [{ target: `${B}/storage/s`, kind: `${INFRA}networkinterface`, attributes: {} }]), 'compute', B, TPL), /"\/occi\/1\.2\/storage\/s" is not a network location/);
  refuses(() => planCreate(sent(ok, {}, [{ target: `${B}/network/n`, kind: `${INFRA}storagelink`, attributes: {} }]), 'compute', B, TPL), /link 0 target: .* is not a storage location/);
  refuses(() => planCreate(sent(ok, {}, [{ target: `${B}/storage/s`, kind: `${INFRA}link`, attributes: {} }]), 'compute', B, TPL), /networkinterface and storagelink links only, not .*#link/);
  refuses(() => planCreate(sent(ok, {}, [{ target: '/elsewhere/n', attributes: {} }]), 'compute', B, TPL), /"\/elsewhere\/n" is not a network location/);
});

test('storage, network and the two links', () => {
  assert.deepEqual(planCreate(sent([kind('storage')], { 'occi.core.title': 'data', 'occi.storage.size': 0.5 }), 'storage', B, TPL), { collection: 'storage', body: { name: 'data', sizeMiB: 512 } });
  refuses(() => planCreate(sent([kind('storage')], { 'occi.core.title': 'data' }), 'storage', B, TPL), /occi\.storage\.size \(GiB\) is required/);
  refuses(() => planCreate(sent([kind('storage')], { 'occi.storage.size': 1 }), 'storage', B, TPL), /occi\.core\.title \(the name\) is required/);
  refuses(() => planCreate(sent([kind('storage')], { 'occi.core.title': 'Data', 'occi.storage.size': 1 }), 'storage', B, TPL), /a volume name/);
  const ipnet = { scheme: 'http://schemas.ogf.org/occi/infrastructure/network#', term: 'ipnetwork', class: 'mixin' };
  assert.deepEqual(planCreate(sent([kind('network'), ipnet], { 'occi.core.title': 'n1', 'occi.network.address': '198.18.9.0/24', 'occi.network.vlan': 12 }), 'network', B, TPL), {
    collection: 'network', body: { name: 'n1', cidr: '198.18.9.0/24', vlan: 12 },
  });
  refuses(() => planCreate(sent([kind('network')], { 'occi.core.title': 'n1' }), 'network', B, TPL), /with the ipnetwork mixin/);
  refuses(() => planCreate(sent([kind('network'), ipnet], { 'occi.core.title': 'n1', 'occi.network.address': '198.18.9.0/24', 'occi.network.allocation': 'dynamic' }), 'network', B, TPL), /nubo leases addresses/);
  refuses(() => planCreate(sent([kind('network')], { 'occi.network.address': '198.18.9.0/24' }), 'network', B, TPL), /with the ipnetwork mixin/);
  assert.deepEqual(planCreate(sent([kind('storagelink')], { 'occi.core.source': `${B}/compute/c1`, 'occi.core.target': `${B}/storage/s1` }), 'storagelink', B, TPL), { collection: 'storagelink', vmId: 'c1', volumeId: 's1' });
  assert.deepEqual(planCreate({ ...sent([kind('networkinterface')]), source: `${B}/compute/c1`, target: `${B}/network/n1` }, 'networkinterface', B, TPL), { collection: 'networkinterface', vmId: 'c1', networkId: 'n1' });
  refuses(() => planCreate(sent([kind('storagelink')], { 'occi.core.source': `${B}/compute/c1`, 'occi.core.target': `${B}/network/n1` }), 'storagelink', B, TPL), /is not a storage location/, 'occi.core.target');
  refuses(() => planCreate(sent([kind('storagelink')], { 'occi.core.target': `${B}/storage/s1` }), 'storagelink', B, TPL), /occi\.core\.source is required/);
});

test('locations: paths under the root or full URLs; anything else is not one', () => {
  assert.deepEqual(parseLocation(`${B}/compute/abc`, B), { collection: 'compute', id: 'abc' });
  assert.deepEqual(parseLocation(`https://x.example${B}/link/storagelink/v%201`, B), { collection: 'storagelink', id: 'v 1' });
  assert.equal(parseLocation('/compute/abc', B), undefined);
  assert.equal(parseLocation(`${B}/compute/`, B), undefined);
  assert.equal(parseLocation(`${B}/compute/a/b`, B), undefined);
});

test('actions: start resumes a suspended compute, stop and restart by method, migrate with a host; mismatches and unknowns refused', () => {
  const none = { action: undefined, attributes: {} };
  assert.deepEqual(planComputeAction('start', none, 'poweroff'), { kind: 'vm-action', action: 'start' });
  assert.deepEqual(planComputeAction('start', none, 'suspended'), { kind: 'vm-action', action: 'resume' });
  assert.deepEqual(planComputeAction('stop', { action: `${ACT}stop`, attributes: { method: 'graceful' } }, 'running'), { kind: 'vm-action', action: 'poweroff' });
  assert.deepEqual(planComputeAction('stop', { action: `${ACT}stop`, attributes: { method: 'poweroff' } }, 'running'), { kind: 'vm-action', action: 'poweroff-hard' });
  assert.deepEqual(planComputeAction('restart', { action: undefined, attributes: { method: 'cold' } }, 'running'), { kind: 'vm-action', action: 'reboot-hard' });
  assert.deepEqual(planComputeAction('suspend', none, 'running'), { kind: 'vm-action', action: 'suspend' });
  assert.deepEqual(planComputeAction('migrate', { action: 'http://schemas.nubo.dev/occi/infrastructure/compute/action#migrate', attributes: { host: 'h2' } }, 'running'), { kind: 'migrate', to: 'h2' });
  refuses(() => planComputeAction('explode', none, 'running'), /unknown action "explode"/);
  refuses(() => planComputeAction('stop', { action: `${ACT}start`, attributes: {} }, 'running'), /names .*#start but the URL asks for \?action=stop/);
  refuses(() => planComputeAction('stop', { action: `${ACT}nosuch`, attributes: {} }, 'running'), /unknown action .*#nosuch/);
  refuses(() => planComputeAction('stop', { action: undefined, attributes: { method: 'sideways' } }, 'running'), /must be one of graceful, acpioff, poweroff/, 'method');
  refuses(() => planComputeAction('start', { action: undefined, attributes: { method: 'x' } }, 'running'), /unknown attribute method for action start \(it takes none\)/);
});

test('an update changes cores and memory only (through a resize)', () => {
  assert.deepEqual(planComputeUpdate(sent([], { 'occi.compute.cores': 2 }), { vcpus: 1, memoryMiB: 128 }), { vcpus: 2, memoryMiB: 128 });
  assert.deepEqual(planComputeUpdate(sent([kind('compute')], { 'occi.compute.memory': 0.25 }), { vcpus: 1, memoryMiB: 128 }), { vcpus: 1, memoryMiB: 256 });
  refuses(() => planComputeUpdate(sent([], {}), { vcpus: 1, memoryMiB: 128 }), /neither given/);
  refuses(() => planComputeUpdate(sent([], { 'occi.core.title': 'x' }), { vcpus: 1, memoryMiB: 128 }), /occi\.core\.title cannot be set/);
  refuses(() => planComputeUpdate(sent([{ scheme: OS, term: 'tiny' }], { 'occi.compute.cores': 2 }), { vcpus: 1, memoryMiB: 128 }), /mixins cannot be changed/);
});

/** A refusal with another status than 400. */
function refusesWith(status: number, f: () => unknown, message: RegExp, details: Record<string, unknown> = {}): void {
  assert.throws(f, (e: unknown) => e instanceof OcciError && e.status === status && message.test(e.message) && Object.entries(details).every(([k, v]) => e.details[k] === v));
}

test('storage and network actions (GFD.224): online and up are accepted, the others refused with 501 naming the action; a compute action on a storage is unknown', () => {
  const none = { action: undefined, attributes: {} };
  const SA = 'http://schemas.ogf.org/occi/infrastructure/storage/action#';
  const NA = 'http://schemas.ogf.org/occi/infrastructure/network/action#';
  assert.equal(identifierOf(checkAction(STORAGE, 'online', none)), `${SA}online`);
  assert.equal(identifierOf(checkAction(STORAGE, 'online', { action: `${SA}online`, attributes: {} })), `${SA}online`);
  assert.equal(identifierOf(checkAction(NETWORK, 'up', none)), `${NA}up`);
  for (const term of ['offline', 'backup', 'snapshot']) refusesWith(501, () => checkAction(STORAGE, term, none), new RegExp(`action ${SA.replace(/[./]/g, '\\$&')}${term} \\(${term}\\) is not implemented by nubo`), { action: `${SA}${term}` });
  refusesWith(501, () => checkAction(STORAGE, 'resize', { action: `${SA}resize`, attributes: { size: 2 } }), /#resize \(resize\) is not implemented/, { action: `${SA}resize` });
  refusesWith(501, () => checkAction(NETWORK, 'down', none), /#down \(down\) is not implemented/, { action: `${NA}down` });
  // Bad input is 400 before 501: the action's own attributes, of their types.
  refuses(() => checkAction(STORAGE, 'resize', { action: undefined, attributes: { size: 'big' } }), /attribute size of resize must be a number/, 'size');
  refuses(() => checkAction(STORAGE, 'online', { action: undefined, attributes: { method: 'x' } }), /unknown attribute method for action online \(it takes none\)/, 'method');
  refuses(() => checkAction(STORAGE, 'stop', none), /unknown action "stop": a storage has online, offline, backup, snapshot, resize/);
  refuses(() => checkAction(NETWORK, 'up', { action: `${SA}online`, attributes: {} }), /unknown action .*storage\/action#online for a network/);
  refuses(() => checkAction(NETWORK, '', none), /\?action= names no action/);
  refuses(() => checkAction(COMPUTE, 'online', none), /unknown action "online": a compute has start, stop, restart, suspend, migrate/);
});

test('PUT at a client-chosen location: a compute with that id (a UUID), occi.core.id agreeing; nothing else is created at a chosen location', () => {
  const id = '6df690d2-3158-40c4-88fb-d1c41584d6e5';
  const ok = [kind('compute'), { scheme: OS, term: 'tiny' }];
  assert.deepEqual(planCreate(sent(ok, { 'occi.core.title': 'web-2', 'occi.core.id': id }), 'compute', B, TPL, id), { collection: 'compute', body: { id, template: 't-1', name: 'web-2' } });
  assert.deepEqual(planCreate(sent(ok), 'compute', B, TPL, id.toUpperCase()), { collection: 'compute', body: { id, template: 't-1' } });
  refuses(() => planCreate(sent(ok), 'compute', B, TPL, 'my-vm'), /a compute's id is a UUID: "my-vm" is not one/, 'occi.core.id');
  refuses(() => planCreate(sent(ok, { 'occi.core.id': 'other' }), 'compute', B, TPL, id), /occi\.core\.id "other" is not the id of the location/, 'occi.core.id');
  // Without a chosen id occi.core.id stays nubo's.
  refuses(() => planCreate(sent(ok, { 'occi.core.id': id }), 'compute', B, TPL), /occi\.core\.id cannot be set/, 'occi.core.id');
  refuses(() => planCreate(sent([kind('storage')], { 'occi.core.title': 'd', 'occi.storage.size': 1 }), 'storage', B, TPL, id), /only a compute is created at a location the client chooses/);
});

test('PUT at an existing compute replaces it: its size may change (a resize), its template, title, id and links may not; the same rendering again changes nothing', () => {
  const id = '6df690d2-3158-40c4-88fb-d1c41584d6e5';
  const osTpl = identifierOf(osTplMixin(tiny));
  const net = { kind: identifierOf(NETWORKINTERFACE), target: `${B}/network/n-1` };
  const current = { id, title: 'web-2', osTpl, vcpus: 1, memoryMiB: 128, links: [net] };
  const ok = [kind('compute'), { scheme: OS, term: 'tiny' }];
  assert.equal(planComputeReplace(sent(ok, { 'occi.core.title': 'web-2', 'occi.core.id': id }), current, B, TPL), undefined);
  assert.equal(planComputeReplace(sent([...ok, { scheme: RES, term: 'tiny' }], {}, [{ target: `http://x.example${B}/network/n-1`, attributes: {} }]), current, B, TPL), undefined);
  assert.deepEqual(planComputeReplace(sent([...ok, { scheme: RES, term: 'small' }]), current, B, TPL), { vcpus: 1, memoryMiB: 256 });
  assert.deepEqual(planComputeReplace(sent([...ok, { scheme: RES, term: 'small' }], { 'occi.compute.cores': 2 }), current, B, TPL), { vcpus: 2, memoryMiB: 256 });
  const conflict = (f: () => unknown, m: RegExp): void => refusesWith(409, f, m);
  conflict(() => planComputeReplace(sent(ok, { 'occi.core.title': 'renamed' }), current, B, TPL), /the title of compute .* is "web-2" and cannot change/);
  conflict(() => planComputeReplace(sent(ok, {}, [{ target: `${B}/network/n-2`, attributes: {} }]), current, B, TPL), /links of compute .* are changed by creating and deleting/);
  conflict(() => planComputeReplace(sent(ok, {}, [{ ...net, attributes: {} }, { target: `${B}/storage/s-1`, kind: identifierOf(STORAGELINK), attributes: {} }]), current, B, TPL), /links of compute/);
  conflict(() => planComputeReplace(sent(ok), { ...current, osTpl: 'http://schemas.nubo.dev/occi/os_tpl#other' }, B, TPL), /the os_tpl of compute .* is .*#other and cannot change/);
  refuses(() => planComputeReplace(sent(ok, { 'occi.core.id': 'x' }), current, B, TPL), /is not the id of the location/, 'occi.core.id');
  refuses(() => planComputeReplace(sent([kind('compute')]), current, B, TPL), /exactly one os_tpl mixin/);
  refuses(() => planComputeReplace(sent(ok, { 'occi.compute.state': 'active' }), current, B, TPL), /occi\.compute\.state cannot be set/, 'occi.compute.state');
  // A GET's rendering PUT back: nubo's attributes as they are and the text rendering's action references change nothing.
  const rendered = { ...current, attributes: { 'occi.compute.state': 'active', 'occi.compute.architecture': 'x64', 'occi.compute.cores': 1 } };
  const back = sent([...ok, { scheme: RES, term: 'tiny' }], { 'occi.compute.state': 'active', 'occi.compute.architecture': 'x64', 'occi.compute.cores': 1, 'occi.core.id': id }, [
    { target: `${B}/network/n-1`, kind: identifierOf(NETWORKINTERFACE), attributes: {} }, { target: `${B}/compute/${id}?action=stop`, rel: `${ACT}stop`, attributes: {} },
  ]);
  assert.equal(planComputeReplace(back, rendered, B, TPL), undefined);
  refuses(() => planComputeReplace(sent(ok, { 'occi.compute.state': 'inactive' }), rendered, B, TPL), /occi\.compute\.state cannot be set: nubo sets it/, 'occi.compute.state');
  refuses(() => planComputeReplace(sent([kind('compute'), { scheme: IPNETWORK.scheme, term: IPNETWORK.term }, { scheme: OS, term: 'tiny' }]), current, B, TPL), /does not apply to kind/);
});

test('an availability_zone mixin at a create asks for that cluster; two are refused; a replace keeps the zone the compute is in', () => {
  const zoneA = zoneMixin('zone-a', 2)!;
  const zoneB = zoneMixin('zone-b', 1)!;
  const zoned: TemplateMixins = { ...TPL, zones: new Map([[identifierOf(zoneA), { mixin: zoneA, cluster: 'zone-a' }], [identifierOf(zoneB), { mixin: zoneB, cluster: 'zone-b' }]]) };
  const Z = 'http://schemas.nubo.dev/occi/availability_zone#';
  const os = { scheme: OS, term: 'tiny', class: 'mixin' };
  assert.deepEqual(planCreate(sent([kind('compute'), os, { scheme: Z, term: 'zone-a', class: 'mixin' }]), 'compute', B, zoned), { collection: 'compute', body: { template: 't-1', cluster: 'zone-a' } });
  refuses(() => planCreate(sent([kind('compute'), os, { scheme: Z, term: 'zone-a' }, { scheme: Z, term: 'zone-b' }]), 'compute', B, zoned), /at most one availability_zone mixin/);
  refuses(() => planCreate(sent([kind('compute'), os, { scheme: Z, term: 'zone-c' }]), 'compute', B, zoned), /unknown mixin http:\/\/schemas\.nubo\.dev\/occi\/availability_zone#zone-c/);
  // nubo sets the cluster attribute: a client does not.
  refuses(() => planCreate(sent([kind('compute'), os, { scheme: Z, term: 'zone-a' }], { 'nubo.compute.cluster': 'zone-b' }), 'compute', B, zoned), /nubo\.compute\.cluster cannot be set/, 'nubo.compute.cluster');

  const id = '6df690d2-3158-40c4-88fb-d1c41584d6e5';
  const current = { id, title: 'web-3', osTpl: identifierOf(osTplMixin(tiny)), vcpus: 1, memoryMiB: 128, links: [], attributes: { 'nubo.compute.cluster': 'zone-a' } };
  // Its rendering sent back, zone and attribute as they are: nothing changes.
  assert.equal(planComputeReplace(sent([kind('compute'), os, { scheme: Z, term: 'zone-a' }], { 'nubo.compute.cluster': 'zone-a' }), current, B, zoned), undefined);
  refusesWith(409, () => planComputeReplace(sent([kind('compute'), os, { scheme: Z, term: 'zone-b' }]), current, B, zoned), /is in availability zone zone-a; a replace does not move it to zone-b/);
});
