import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import type { ControllerVmSpec } from '../src/controller/controller-vm-spec.js';

// Virtual networks and leases through the API, with an in-process controller
// and no agent: VMs stay `pending`, but their addresses are leased at admission.

interface ErrorBody { code: string; message: string; details: Record<string, unknown> }
interface Answer { status: number; body: { error?: ErrorBody } & Record<string, unknown> }
interface Expect { status: number; code: string; fields?: readonly string[]; field?: string; match?: RegExp }

let root: string;
let controller: ControllerDaemon;
let admin: string;
let bob: string;
let api: NuboClient;

async function call(method: string, path: string, o: { token?: string; body?: unknown } = {}): Promise<Answer> {
  const body = o.body === undefined ? undefined : JSON.stringify(o.body);
  const res = await fetch(`${controller.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${o.token ?? admin}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (/^[[{]/.test(text) ? JSON.parse(text) : {}) as Answer['body'] };
}

/** Everything a refused request could have written. */
async function snapshot(): Promise<unknown> {
  const s = controller.store;
  await controller.orchestrator.idle();
  const nets = await s.networks.list();
  return { nets, leases: await Promise.all(nets.map((n) => s.leases.list(n.id))), vms: await s.vms.list(), templates: await s.templates.list(), seq: await s.events.lastSeq() };
}

const fieldsOf = (a: Answer): string[] => ((a.body.error?.details['issues'] ?? []) as { field: string }[]).map((i) => i.field);

async function rejects(method: string, path: string, o: { token?: string; body?: unknown }, e: Expect): Promise<Answer> {
  const before = await snapshot();
  const a = await call(method, path, o);
  const what = `${method} ${path} ${JSON.stringify(o.body ?? '')}`;
  assert.equal(a.status, e.status, `${what}: ${JSON.stringify(a.body)}`);
  assert.equal(a.body.error?.code, e.code, what);
  for (const f of e.fields ?? []) assert.ok(fieldsOf(a).includes(f), `${what}: names ${f} in ${JSON.stringify(a.body.error)}`);
  if (e.field !== undefined) assert.equal(a.body.error?.details['field'], e.field, `${what}: ${JSON.stringify(a.body.error)}`);
  if (e.match) assert.match(a.body.error?.message ?? '', e.match, what);
  assert.deepEqual(await snapshot(), before, `${what}: nothing written`);
  return a;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-networks-'));
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  admin = (await controller.bootstrapAdmin())!;
  bob = (await controller.store.users.create({ name: 'bob' })).token;
  api = new NuboClient(controller.url, admin);
  const raw = join(root, 'disk.raw');
  await writeFile(raw, Buffer.alloc(1 << 20));
  await api.uploadImage({ name: 'disk', file: raw });
});

after(async () => {
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

test('creating, listing, showing and deleting networks; users may look but not touch', async () => {
  const n = await api.createNetwork({ name: 'lan', cidr: '198.18.64.0/24', gateway: '198.18.64.1', dns: ['198.18.0.1'], vlan: 100 });
  assert.deepEqual({ ...n, id: '', createdAt: '' }, {
    id: '', createdAt: '', name: 'lan', cidr: '198.18.64.0/24', gateway: '198.18.64.1', dns: ['198.18.0.1'], vlan: 100, bridge: 'br0', cluster: null,
    addresses: { total: 253, free: 253, leased: 0, held: 0 },
  });
  const ranged = await api.createNetwork({ name: 'ranged', cidr: '198.18.65.0/24', range: { first: '198.18.65.10', last: '198.18.65.19' } });
  assert.equal(ranged.addresses.total, 10);
  const asBob = new NuboClient(controller.url, bob);
  assert.deepEqual((await asBob.listNetworks()).map((x) => x.name), ['lan', 'ranged']);
  assert.equal((await asBob.getNetwork('lan')).id, n.id, 'by name');
  assert.deepEqual((await asBob.getNetwork(n.id)).leases, []);

  const cases: readonly (readonly [unknown, Expect])[] = [
    [{ name: 'x', cidr: '198.20.0.0/24' }, { status: 400, code: 'VALIDATION_FAILED', fields: ['cidr'], match: /lab range 198\.18\.0\.0\/15/ }],
    [{ name: 'x', cidr: '10.0.0.0/24' }, { status: 400, code: 'VALIDATION_FAILED', fields: ['cidr'], match: /lab range/ }],
    [{ name: 'x', cidr: '192.168.1.0/24' }, { status: 400, code: 'VALIDATION_FAILED', fields: ['cidr'], match: /lab range/ }],
    [{ name: 'x', cidr: '172.16.0.0/24' }, { status: 400, code: 'VALIDATION_FAILED', fields: ['cidr'], match: /lab range/ }],
    [{ name: 'x', cidr: '198.18.1.0/24' }, { status: 400, code: 'VALIDATION_FAILED', fields: ['cidr'], match: /198\.18\.64\.0\/18/ }],
    [{ name: 'x', cidr: '198.18.0.0/16' }, { status: 400, code: 'VALIDATION_FAILED', fields: ['cidr'], match: /198\.18\.64\.0\/18/ }],
    [{ name: 'x', cidr: '198.18.70.0/31' }, { status: 400, code: 'VALIDATION_FAILED', fields: ['cidr'], match: /\/30/ }],
    [{ name: 'x', cidr: '198.18.70.0' }, { status: 400, code: 'VALIDATION_FAILED', fields: ['cidr'] }],
    [{ name: 'x', cidr: '198.18.70.5/24' }, { status: 400, code: 'VALIDATION_FAILED', fields: ['cidr'], match: /host bits/ }],
    [{ name: 'x', cidr: '198.18.70.0/24', gateway: '198.18.99.1' }, { status: 400, code: 'VALIDATION_FAILED', fields: ['gateway'] }],
    [{ name: 'x', cidr: '198.18.70.0/24', gateway: '198.18.70.255' }, { status: 400, code: 'VALIDATION_FAILED', fields: ['gateway'] }],
    [{ name: 'x', cidr: '198.18.70.0/24', dns: ['8.8.8.8'] }, { status: 400, code: 'VALIDATION_FAILED', fields: ['dns.0'] }],
    [{ name: 'x', cidr: '198.18.70.0/24', vlan: 0 }, { status: 400, code: 'VALIDATION_FAILED', fields: ['vlan'] }],
    [{ name: 'x', cidr: '198.18.70.0/24', vlan: 4095 }, { status: 400, code: 'VALIDATION_FAILED', fields: ['vlan'] }],
    [{ name: 'x', cidr: '198.18.70.0/24', range: { first: '198.18.71.1', last: '198.18.70.9' } }, { status: 400, code: 'VALIDATION_FAILED', fields: ['range.first'] }],
    [{ name: 'x', cidr: '198.18.70.0/24', mtu: 9000 }, { status: 400, code: 'VALIDATION_FAILED', fields: ['mtu'] }],
    [{ name: 'x', cidr: '198.18.64.128/25' }, { status: 409, code: 'CONFLICT', field: 'cidr', match: /lan/ }],
    [{ name: 'x', cidr: '198.18.64.0/20' }, { status: 409, code: 'CONFLICT', field: 'cidr', match: /lan/ }],
    [{ name: 'lan', cidr: '198.18.70.0/24' }, { status: 409, code: 'CONFLICT', field: 'name' }],
  ];
  for (const [body, e] of cases) await rejects('POST', '/api/v1/networks', { body }, e);

  for (const [method, path, body] of [
    ['POST', '/api/v1/networks', { name: 'x', cidr: '198.18.70.0/24' }], ['DELETE', `/api/v1/networks/${n.id}`, undefined],
    ['POST', `/api/v1/networks/${n.id}/holds`, { address: '198.18.64.9' }], ['DELETE', `/api/v1/networks/${n.id}/holds/198.18.64.9`, undefined],
  ] as const) {
    await rejects(method, path, { token: bob, ...(body !== undefined ? { body } : {}) }, { status: 403, code: 'FORBIDDEN', match: /admin/ });
  }
  for (const [method, path, body, resource] of [
    ['GET', '/api/v1/networks/nope', undefined, 'network'], ['DELETE', '/api/v1/networks/nope', undefined, 'network'],
    ['POST', '/api/v1/networks/nope/holds', { address: '198.18.64.9' }, 'network'], ['DELETE', '/api/v1/networks/nope/holds/198.18.64.9', undefined, 'network'],
  ] as const) {
    const a = await rejects(method, path, body !== undefined ? { body } : {}, { status: 404, code: 'NOT_FOUND' });
    assert.equal(a.body.error?.details['resource'], resource, `${method} ${path}`);
  }
  // An address the network does not hand out is the admin's typo: 400 naming `address` and why, nothing held.
  for (const [method, path, body, why] of [
    ['POST', `/api/v1/networks/${n.id}/holds`, { address: '198.18.64.1' }, /198\.18\.64\.1 is not an address network lan leases \(its network, gateway/], // the gateway is no lease
    ['POST', `/api/v1/networks/${n.id}/holds`, { address: '198.18.99.9' }, /198\.18\.99\.9 is outside network lan \(198\.18\.64\.0\/24\)/],
    ['POST', `/api/v1/networks/${ranged.id}/holds`, { address: '198.18.65.5' }, /198\.18\.65\.5 is not an address network ranged leases .*outside its range/],
    ['DELETE', `/api/v1/networks/${n.id}/holds/198.18.99.9`, undefined, /is outside network lan/],
  ] as const) {
    await rejects(method, path, body !== undefined ? { body } : {}, { status: 400, code: 'VALIDATION_FAILED', fields: ['address'], match: why });
  }
  await rejects('POST', `/api/v1/networks/${n.id}/holds`, { body: { address: 'not-an-ip' } }, { status: 400, code: 'VALIDATION_FAILED', fields: ['address'] });
  await rejects('DELETE', `/api/v1/networks/${n.id}/holds/198.18.64.9`, {}, { status: 409, code: 'CONFLICT', field: 'address', match: /free, not held/ });
  await rejects('POST', '/api/v1/templates', { body: { name: 't', vcpus: 1, memoryMiB: 64, image: 'disk', nics: [{}, { network: 'nope' }] } }, { status: 400, code: 'VALIDATION_FAILED', fields: ['nics.1.network'] });

  // A NIC on `ranged` keeps it in use: delete is refused until the VM is gone.
  await api.createTemplate({ name: 't-ranged', vcpus: 1, memoryMiB: 64, image: 'disk', nics: [{ network: 'ranged' }] });
  const vm = await api.createVm({ template: 't-ranged', name: 'r1' });
  await rejects('DELETE', `/api/v1/networks/${ranged.id}`, {}, { status: 409, code: 'CONFLICT', match: /leased/ });
  await api.vmAction(vm.id, 'terminate-hard');
  await controller.orchestrator.idle();
  await api.deleteNetwork('ranged');
  assert.deepEqual((await api.listNetworks()).map((x) => x.name), ['lan']);
  assert.equal(await controller.store.leases.list(ranged.id).then((l) => l.length), 0, 'its leases went with it');
});

test('100 concurrent creates on a /24 get 100 distinct addresses and MACs, handed to the agent spec', async () => {
  const net = await api.createNetwork({ name: 'big', cidr: '198.18.72.0/24', gateway: '198.18.72.1', dns: ['198.18.0.1'], vlan: 72 });
  const tpl = await api.createTemplate({ name: 't-big', vcpus: 1, memoryMiB: 64, image: 'disk', nics: [{ network: 'big' }, {}] });
  assert.deepEqual(tpl.nics, [{ network: 'big' }, {}], 'the template shows the network by name');
  const vms = await Promise.all(Array.from({ length: 100 }, (_, i) => api.createVm({ template: 't-big', name: `b${i}` })));
  const details = await Promise.all(vms.map((v) => api.getVm(v.id)));
  const first = details.map((d) => d.nics[0]!);
  assert.ok(first.every((n) => n.network === 'big' && /^198\.18\.72\.\d+\/24$/.test(n.address ?? '')), JSON.stringify(first.slice(0, 3)));
  assert.equal(new Set(first.map((n) => n.address)).size, 100);
  assert.equal(new Set(first.map((n) => n.mac)).size, 100);
  assert.ok(!first.some((n) => n.address === '198.18.72.1/24'), 'the gateway is never leased');
  assert.deepEqual(vms.map((v) => v.nics), details.map((d) => d.nics), 'the create answers with the NICs a later GET shows (addresses, MACs, network names)');
  for (const d of details) {
    const second = d.nics[1]!;
    assert.equal(second.network, null);
    assert.equal(second.address, null);
    assert.match(second.mac, /^52:54:00:/);
  }
  const spec = (await controller.store.vms.get(vms[0]!.id)).spec as unknown as ControllerVmSpec;
  const nic = spec.agent.nics![0]!;
  const lease = (await controller.store.leases.listByVm(vms[0]!.id))[0]!;
  assert.deepEqual(nic, { mac: lease.mac, address: `${lease.address}/24`, gateway: '198.18.72.1', dns: ['198.18.0.1'], bridge: 'br0', vlan: 72 });
  assert.deepEqual(spec.agent.nics![1], { mac: spec.agent.nics![1]!.mac }, 'a NIC without a network: a MAC only');
  const shown = await api.getNetwork(net.id);
  assert.equal(shown.addresses.leased, 100);
  assert.equal(shown.leases.length, 100);
  assert.ok(shown.leases.every((l) => l.state === 'leased' && vms.some((v) => v.id === l.vm)));
  assert.ok(shown.leases.every((l) => l.vmName === vms.find((v) => v.id === l.vm)?.name), 'the holders by name for who may see them (the admin)');
  const asBob = await new NuboClient(controller.url, bob).getNetwork(net.id);
  assert.ok(asBob.leases.length === 100 && asBob.leases.every((l) => l.vm !== null && l.vmName === undefined), 'another user\'s VMs by id only');
  await Promise.all(vms.map((v) => api.vmAction(v.id, 'terminate-hard')));
  await controller.orchestrator.idle();
  assert.equal((await api.getNetwork(net.id)).addresses.leased, 0, 'terminated VMs gave their addresses back');
});

test('a held address is never leased; an exhausted network refuses the create naming it, leaving nothing behind', async () => {
  // A /29: .1 is the gateway, .2–.6 are leasable; .3 held leaves four.
  const net = await api.createNetwork({ name: 'tiny', cidr: '198.18.73.0/29', gateway: '198.18.73.1' });
  const held = await api.holdAddress('tiny', '198.18.73.3');
  assert.deepEqual([held.address, held.state, held.vm], ['198.18.73.3', 'held', null]);
  await rejects('POST', `/api/v1/networks/${net.id}/holds`, { body: { address: '198.18.73.3' } }, { status: 409, code: 'CONFLICT', field: 'address' });
  await api.createTemplate({ name: 't-tiny', vcpus: 1, memoryMiB: 64, image: 'disk', nics: [{ network: net.id }] });
  const vms = await Promise.all(['s1', 's2', 's3', 's4'].map((name) => api.createVm({ template: 't-tiny', name })));
  const addresses = (await Promise.all(vms.map((v) => api.getVm(v.id)))).map((d) => d.nics[0]?.address).sort();
  assert.deepEqual(addresses, ['198.18.73.2/29', '198.18.73.4/29', '198.18.73.5/29', '198.18.73.6/29']);
  await rejects('POST', `/api/v1/networks/${net.id}/holds`, { body: { address: '198.18.73.4' } }, { status: 409, code: 'CONFLICT', field: 'address', match: /leased/ });

  const a = await rejects('POST', '/api/v1/vms', { body: { template: 't-tiny', name: 's5' } }, { status: 409, code: 'EXHAUSTED', match: /tiny/ });
  assert.equal(a.body.error?.details['id'], 'tiny');
  assert.equal((await controller.store.vms.list()).some((v) => v.name === 's5'), false, 'no VM record');
  // Ten more at once: all refused, still nothing written.
  const before = await snapshot();
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => call('POST', '/api/v1/vms', { body: { template: 't-tiny', name: `x${i}` } })));
  assert.deepEqual(answers.map((x) => x.status), Array(10).fill(409));
  assert.deepEqual(await snapshot(), before);

  // Terminating a pending VM gives its address back: the next create gets it.
  const gone = (await api.getVm(vms[1]!.id)).nics[0]!.address;
  await api.vmAction(vms[1]!.id, 'terminate-hard');
  await controller.orchestrator.idle();
  assert.deepEqual((await controller.store.leases.listByVm(vms[1]!.id)), []);
  const again = await api.createVm({ template: 't-tiny', name: 's6' });
  assert.equal((await api.getVm(again.id)).nics[0]?.address, gone);
  await rejects('POST', '/api/v1/vms', { body: { template: 't-tiny', name: 's7' } }, { status: 409, code: 'EXHAUSTED' });

  // Unheld, the address is leasable again.
  assert.equal((await api.unholdAddress('tiny', '198.18.73.3')).state, 'free');
  const s7 = await api.createVm({ template: 't-tiny', name: 's7' });
  assert.equal((await api.getVm(s7.id)).nics[0]?.address, '198.18.73.3/29');
});

test("the owner's ssh keys go into the VM's config drive context; a user without keys adds none", async () => {
  const keys = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyOne carol@laptop', 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQKeyTwo carol@desk'];
  const carol = await controller.store.users.create({ name: 'carol', role: 'user', sshKeys: keys });
  await api.createTemplate({ name: 't-keys', vcpus: 1, memoryMiB: 64, image: 'disk', nics: [{}] });
  const vm = await new NuboClient(controller.url, carol.token).createVm({ template: 't-keys', name: 'k1' });
  const spec = (await controller.store.vms.get(vm.id)).spec as unknown as ControllerVmSpec;
  assert.deepEqual(spec.agent.context.sshAuthorizedKeys, keys);
  assert.equal(spec.agent.context.hostname, 'k1');
  const plain = await new NuboClient(controller.url, bob).createVm({ template: 't-keys', name: 'k2' });
  assert.equal(((await controller.store.vms.get(plain.id)).spec as unknown as ControllerVmSpec).agent.context.sshAuthorizedKeys, undefined);
  for (const id of [vm.id, plain.id]) await api.vmAction(id, 'terminate-hard');
  await controller.orchestrator.idle();
});

test("a create's own NICs replace the template's, in order; an unknown network, none or too many are refused naming the field, nothing written", async () => {
  await api.createNetwork({ name: 'own', cidr: '198.18.74.0/28', gateway: '198.18.74.1' });
  await api.createTemplate({ name: 't-plain', vcpus: 1, memoryMiB: 64, image: 'disk' });
  const vm = await api.createVm({ template: 't-plain', name: 'n1', nics: [{}, { network: 'own' }] });
  const d = await api.getVm(vm.id);
  assert.deepEqual(d.nics.map((n) => n.network), [null, 'own'], 'the caller\'s NICs, in the order given, instead of the template\'s one');
  assert.match(d.nics[1]?.address ?? '', /^198\.18\.74\.\d+\/28$/);
  assert.equal((await controller.store.leases.listByVm(vm.id)).length, 1, 'one address leased, on the NIC that has a network');

  await rejects('POST', '/api/v1/vms', { body: { template: 't-plain', name: 'n2', nics: [{ network: 'nope' }] } }, { status: 400, code: 'VALIDATION_FAILED', fields: ['nics.0.network'], match: /no network nope/ });
  await rejects('POST', '/api/v1/vms', { body: { template: 't-plain', name: 'n3', nics: [] } }, { status: 400, code: 'VALIDATION_FAILED', fields: ['nics'] });
  await rejects('POST', '/api/v1/vms', { body: { template: 't-plain', name: 'n4', nics: Array(9).fill({}) } }, { status: 400, code: 'VALIDATION_FAILED', fields: ['nics'] });
  await rejects('POST', '/api/v1/vms', { body: { template: 't-plain', name: 'n5', nics: [{ net: 'own' }] } }, { status: 400, code: 'VALIDATION_FAILED', fields: ['nics.0.net'] });
  await api.vmAction(vm.id, 'terminate-hard');
  await controller.orchestrator.idle();
});
