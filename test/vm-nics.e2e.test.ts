import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { tapName } from '../src/agent/hypervisor-vm-spec.js';
import { tapExists } from '../src/network/tap-device.js';
import { labDown } from '../src/lab/lab.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import { httpGet } from './support/http-get.js';
import { labLeftovers } from './support/lab-checks.js';
import { MigrationLab, refusal } from './support/migration-lab.js';

/**
 * NICs attached to and detached from existing VMs through the API, on a
 * 2-host lab: hot-plug into a running guest, the address taken from the
 * rebuilt config drive at the next boot, live migration with the attached
 * NIC, detach, changes while powered off, and bad requests that change nothing.
 * A second network's gateway sits on the fabric bridge, so this process
 * reaches guests on it.
 */

const lab = new MigrationLab();
const api = () => lab.api;
const NET2 = 'second';
const NET2_GATEWAY = '198.18.67.254';

// A CGI listing the guest's interfaces: "name mac [address/prefix …]".
const USER_DATA = [
  '#!/bin/sh',
  "cat > /www/cgi-bin/nics <<'EOF'",
  '#!/bin/sh',
  "printf 'Content-Type: text/plain\\r\\n\\r\\n'",
  'for n in /sys/class/net/*; do d=${n##*/}; echo "$d $(cat $n/address) $(ip -4 -o addr show dev $d | awk \'{print $4}\' | tr \'\\n\' \' \')"; done',
  'EOF',
  'chmod 755 /www/cgi-bin/nics',
  'echo USERDATA-DONE',
  '',
].join('\n');

interface GuestNic { name: string; mac: string; addresses: string[] }

async function guestNics(ip: string): Promise<GuestNic[]> {
  const r = await httpGet(`http://${ip}/cgi-bin/nics`, 5_000);
  assert.equal(r.status, 200, 'GET /cgi-bin/nics');
  return r.body.toString().split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 2 && f[0] !== '').map(([name, mac, ...addresses]) => ({ name: name!, mac: mac!, addresses }));
}

/** Polls the guest until `check` holds for its interfaces. */
async function guestSees(ip: string, what: string, check: (nics: GuestNic[]) => boolean, timeoutMs = 30_000): Promise<GuestNic[]> {
  return pollUntil(`guest ${what}`, async () => {
    const nics = await guestNics(ip).catch(() => undefined);
    return nics && check(nics) ? nics : undefined;
  }, { timeoutMs, intervalMs: 300 });
}

/** The VM's spec in the store and the leases of both networks: what a refused request must leave as it was. */
async function snapshot(vmId: string): Promise<unknown> {
  const store = lab.controller!.store;
  const leases = async (name: string) => (await api().getNetwork(name)).leases.map((l) => [l.address, l.state, l.vm]);
  return { spec: (await store.vms.get(vmId)).spec, nics: (await api().getVm(vmId)).nics, mig: await leases('mig'), second: await leases(NET2) };
}

const tapOn = (i: number, vmId: string, index: number) => tapExists({ name: tapName(agentVmId(vmId), index), netns: lab.host(i).netns });

/** How many boots' user data ran: the console log is kept across boots, each adds its line. */
async function userDataRuns(vmId: string): Promise<number> {
  return (await api().vmConsole(vmId)).split('USERDATA-DONE').length - 1;
}

/** Waits for the user data of the boot after `before` runs (the first boot's by default) to have run. */
async function waitUserData(vmId: string, before = 0): Promise<void> {
  await pollUntil(`${vmId} user data`, async () => ((await userDataRuns(vmId)) > before ? true : undefined), { timeoutMs: 90_000, intervalMs: 500 });
}

async function powerCycle(vmId: string): Promise<void> {
  const before = await userDataRuns(vmId);
  await api().vmAction(vmId, 'poweroff');
  await lab.waitState(vmId, 'poweroff');
  await api().vmAction(vmId, 'start');
  await lab.waitState(vmId, 'running');
  await waitUserData(vmId, before);
}

let vm: VmDetailView;
let ip0 = '';
const HOT_MAC = '52:54:00:12:43:0a'; // the lease of 198.18.67.10

before(async () => {
  await lab.start(2);
  await api().createNetwork({ name: NET2, cidr: '198.18.67.0/24', gateway: NET2_GATEWAY });
  // The lab's down removes the fabric bridge, and this address with it.
  await runCommand('ip', ['addr', 'add', `${NET2_GATEWAY}/24`, 'dev', `${lab.prefix}-fab`]);
  const created = await api().createVm({ template: 'tiny-mig', name: 'nics-1', host: lab.host(1).name, datastore: 'shared', userData: USER_DATA });
  vm = await lab.waitState(created.id, 'running');
  await waitUserData(vm.id);
  ip0 = vm.nics[0]?.address?.split('/')[0] ?? '';
  assert.ok(ip0, 'the VM has an address on its first network');
});
after(() => lab.stop());

test('bad requests are refused naming the field or state, and change nothing; an agent failure is undone', async () => {
  const before = await snapshot(vm.id);
  const cases: [Promise<unknown>, number, string, string][] = [
    [api().attachNic(vm.id, { network: 'no-such-net' }), 400, 'VALIDATION_FAILED', 'network'],
    [api().attachNic(vm.id, { network: NET2, address: '198.18.99.5' }), 400, 'VALIDATION_FAILED', 'address'],
    [api().attachNic(vm.id, { network: NET2, address: NET2_GATEWAY }), 400, 'VALIDATION_FAILED', 'address'],
    [api().attachNic(vm.id, { network: 'mig', address: ip0 }), 409, 'CONFLICT', 'address'],
  ];
  for (const [p, status, code, field] of cases) {
    const e = await refusal(p);
    assert.equal(e.status, status, e.message);
    assert.equal(e.code, code, e.message);
    const fields = ((e.details['issues'] ?? []) as { field: string }[]).map((i) => i.field);
    assert.ok(fields.includes(field) || e.details['field'] === field, `${e.message} names ${field}`);
  }
  const missing = await refusal(api().detachNic(vm.id, 3));
  assert.equal(missing.status, 404);
  assert.equal(missing.details['resource'], 'nic');
  assert.match(missing.message, /3 of VM nics-1/);
  assert.deepEqual(await snapshot(vm.id), before, 'no refusal changed anything');

  // The agent cannot make the NIC's TAP (a bridge has its name): the lease and the spec change are undone.
  const tap = tapName(agentVmId(vm.id), 1);
  await runCommand('ip', ['-n', lab.host(1).netns, 'link', 'add', tap, 'type', 'bridge']);
  try {
    const e = await refusal(api().attachNic(vm.id, { network: NET2 }));
    assert.equal(e.status, 502, e.message);
    assert.equal(e.code, 'HYPERVISOR_FAILED', e.message);
  } finally {
    await runCommand('ip', ['-n', lab.host(1).netns, 'link', 'del', tap]);
  }
  assert.deepEqual(await snapshot(vm.id), before, 'the failed attach was undone');
  assert.equal((await guestNics(ip0)).length, 2, 'the guest has lo and eth0 only');
});

test('a running VM gets a NIC hot-plugged on a second network: the guest sees the interface at once', async () => {
  const t0 = Date.now();
  const after = await api().attachNic(vm.id, { network: NET2, address: '198.18.67.10' });
  const ms = Date.now() - t0;
  assert.deepEqual(after.nics.map((n) => [n.index, n.network, n.address, n.mac]), [
    [0, 'mig', `${ip0}/24`, vm.nics[0]!.mac],
    [1, NET2, '198.18.67.10/24', HOT_MAC],
  ]);
  assert.deepEqual((await api().getNetwork(NET2)).leases.map((l) => [l.address, l.state, l.vm]), [['198.18.67.10', 'leased', vm.id]]);
  assert.equal(await tapOn(1, vm.id, 1), true, 'the NIC\'s TAP is on h1');
  const nics = await guestSees(ip0, `has ${HOT_MAC}`, (ns) => ns.some((n) => n.mac === HOT_MAC));
  assert.deepEqual(nics.find((n) => n.mac === HOT_MAC)?.addresses, [], 'no address yet: the guest reads it from the config drive at boot');
  const events = await api().listEvents(0);
  assert.ok(events.some((e) => e.kind === 'vm.spec' && e.resourceId === vm.id && e.data['action'] === 'nic-attach'), 'a vm.spec event');
  process.stderr.write(`# hot-plug attach through the API: ${ms} ms\n`);
});

test('the attached NIC migrates with the VM (live, h1 → h2)', async () => {
  const m = await lab.waitMigration((await api().migrateVm(vm.id, { to: lab.host(2).name })).id);
  assert.equal(m.state, 'succeeded', `migration: ${m.reason}`);
  const moved = await lab.waitState(vm.id, 'running');
  assert.equal(moved.host, lab.host(2).name);
  assert.equal(moved.nics.length, 2);
  const nics = await guestNics(ip0);
  assert.ok(nics.some((n) => n.mac === HOT_MAC) && nics.some((n) => n.mac === vm.nics[0]!.mac), 'both NICs are still there');
  assert.equal(await tapOn(2, vm.id, 1), true, 'h2 made the attached NIC\'s TAP');
  assert.equal(await tapOn(1, vm.id, 1), false, 'h1 removed it');
});

test('power off and start: the guest configures the leased address from the rebuilt config drive and answers on it', async () => {
  await powerCycle(vm.id);
  const r = await pollUntil('HTTP on 198.18.67.10', async () => httpGet('http://198.18.67.10/cgi-bin/hostname', 3_000).catch(() => undefined), { timeoutMs: 30_000, intervalMs: 500 });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString().trim(), 'nics-1');
  const nics = await guestNics('198.18.67.10');
  assert.deepEqual(nics.find((n) => n.mac === HOT_MAC)?.addresses, ['198.18.67.10/24']);
});

test('detach while running: the guest loses the interface, the TAP goes, the address is free again; a second detach is 404', async () => {
  const t0 = Date.now();
  const after = await api().detachNic(vm.id, 1);
  const ms = Date.now() - t0;
  assert.deepEqual(after.nics.map((n) => n.index), [0]);
  await guestSees(ip0, `lost ${HOT_MAC}`, (ns) => !ns.some((n) => n.mac === HOT_MAC));
  assert.equal(await tapOn(2, vm.id, 1), false, 'the TAP is gone');
  assert.deepEqual((await api().getNetwork(NET2)).leases, [], 'the lease is free');
  assert.equal((await api().getNetwork(NET2)).addresses.leased, 0);
  const again = await refusal(api().detachNic(vm.id, 1));
  assert.equal(again.status, 404);
  process.stderr.write(`# hot-unplug detach through the API: ${ms} ms\n`);
});

test('powered off: attach and detach change the spec and the config drive only; indexes stay; the next boot has them', async () => {
  await api().vmAction(vm.id, 'poweroff');
  await lab.waitState(vm.id, 'poweroff');
  const runs = await userDataRuns(vm.id);
  const a = await api().attachNic(vm.id, { network: NET2 });
  assert.deepEqual(a.nics.map((n) => [n.index, n.address]), [[0, `${ip0}/24`], [1, '198.18.67.1/24']], 'the lowest free address');
  const b = await api().attachNic(vm.id, { network: NET2 });
  assert.deepEqual(b.nics.map((n) => [n.index, n.address]), [[0, `${ip0}/24`], [1, '198.18.67.1/24'], [2, '198.18.67.2/24']]);
  assert.equal(await tapOn(2, vm.id, 1), false, 'nothing is plugged into a powered-off VM');
  const c = await api().detachNic(vm.id, 1);
  assert.deepEqual(c.nics.map((n) => [n.index, n.address]), [[0, `${ip0}/24`], [2, '198.18.67.2/24']], 'NIC 2 keeps its index');
  assert.deepEqual((await api().getNetwork(NET2)).leases.map((l) => l.address), ['198.18.67.2']);
  await api().vmAction(vm.id, 'start');
  await lab.waitState(vm.id, 'running');
  await waitUserData(vm.id, runs);
  const r = await pollUntil('HTTP on 198.18.67.2', async () => httpGet('http://198.18.67.2/', 3_000).catch(() => undefined), { timeoutMs: 30_000, intervalMs: 500 });
  assert.equal(r.status, 200);
  const nics = await guestNics(ip0);
  assert.deepEqual(nics.filter((n) => n.name !== 'lo').map((n) => n.addresses).sort(), [[`${ip0}/24`], ['198.18.67.2/24']]);
  assert.equal(await tapOn(2, vm.id, 2), true);
});

test('a VM in a state that does not allow it is refused (409 naming the state); nothing changes; terminate frees every lease', async () => {
  const pending = await api().createVm({ template: 'tiny-mig', name: 'nics-pending', requirements: 'hostname == "nowhere"' });
  await lab.waitState(pending.id, 'pending');
  const before = await snapshot(pending.id);
  for (const call of [() => api().attachNic(pending.id, { network: NET2 }), () => api().detachNic(pending.id, 0)]) {
    const e = await refusal(call());
    assert.equal(e.status, 409);
    assert.equal(e.code, 'INVALID_STATE');
    assert.equal(e.details['state'], 'pending');
    assert.match(e.message, /pending/);
  }
  assert.deepEqual(await snapshot(pending.id), before);

  for (const id of [vm.id, pending.id]) await api().vmAction(id, 'terminate-hard');
  await lab.waitState(vm.id, 'terminated');
  await lab.waitState(pending.id, 'terminated');
  for (const n of ['mig', NET2]) assert.equal((await api().getNetwork(n)).addresses.leased, 0, `${n}: every lease is free`);
  assert.equal(await tapOn(2, vm.id, 2), false, 'the hot-plugged NIC\'s TAP went with the VM');
  await labDown(lab.dir);
  lab.down = true;
  assert.deepEqual(await labLeftovers(lab.prefix), []);
});
