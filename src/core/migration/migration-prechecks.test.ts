import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeHost } from '../placement/host-view.fixture.js';
import { capacityShortfall } from '../placement/host-capacity.js';
import type { HostView } from '../placement/host-view.js';
import { compilePlacementPolicy } from '../placement/placement-policy.js';
import { VM_STATES } from '../vm-state.js';
import {
  MIGRATION_CHECKS,
  checkMigration,
  chooseMigrationDestination,
  migrationDemand,
  type MigratingVm,
  type MigrationCheckInput,
  type MigrationCheckResult,
  type MigrationHostFacts,
} from './migration-prechecks.js';

const vm: MigratingVm = {
  id: 'vm-1',
  state: 'running',
  hostId: 'h1',
  demand: { vcpus: 1, memoryMiB: 128, diskMiB: 1024, cpuModel: 'qemu64' },
  networks: ['br-lab'],
  storage: 'local',
};
const facts: MigrationHostFacts = { cpuModels: ['qemu64', 'max'], networks: ['br-lab'], sharedDatastore: true, tls: false };
const h1 = makeHost('h1', { name: 'h1' });
const h2 = makeHost('h2', { name: 'h2' });

function input(over: Partial<MigrationCheckInput> = {}, vmOver: Partial<MigratingVm> = {}): MigrationCheckInput {
  return { vm: { ...vm, ...vmOver }, source: h1, dest: h2, sourceFacts: facts, destFacts: facts, cpuOvercommit: 1, ...over };
}

function refusal(r: MigrationCheckResult): [string, string, string] {
  assert.equal(r.ok, false, 'accepted');
  return r.ok ? ['', '', ''] : [r.check, r.field, r.message];
}

test('a running VM to an enabled host with room, the same CPU model, networks, storage and TLS: ok', () => {
  assert.deepEqual(checkMigration(input()), { ok: true });
  assert.deepEqual(checkMigration(input({}, { storage: 'shared' })), { ok: true });
  assert.deepEqual(checkMigration(input({}, { demand: { ...vm.demand, cpuModel: undefined } })), { ok: true }, 'no model: the default one');
  assert.deepEqual(checkMigration(input({}, { networks: [] })), { ok: true });
});

test('vm-state: only a running VM on a known host', () => {
  for (const state of VM_STATES.filter((s) => s !== 'running')) {
    // `vm migrate` moves a VM at rest cold: a state neither way takes is told both ways, a stopped VM where it is.
    const why = state === 'poweroff' || state === 'suspended' ? 'live migration needs a running VM'
      : `a running VM migrates live, a powered-off or suspended one cold${state === 'stopped' ? '; a stopped VM is in the controller\'s system store, and `resume` places it on a host' : ''}`;
    assert.deepEqual(refusal(checkMigration(input({}, { state }))), ['vm-state', 'state', `VM vm-1 is ${state}: ${why}`]);
  }
  assert.deepEqual(refusal(checkMigration(input({}, { hostId: null }))), ['vm-state', 'hostId', 'VM vm-1 is on no known host']);
  assert.deepEqual(refusal(checkMigration(input({ source: undefined }))), ['vm-state', 'hostId', 'VM vm-1 is on no known host']);
  assert.deepEqual(refusal(checkMigration(input({ sourceFacts: undefined }))), ['vm-state', 'hostId', 'VM vm-1 is on no known host']);
  assert.deepEqual(refusal(checkMigration(input({ source: makeHost('h3', { name: 'h3' }) }))), ['vm-state', 'hostId', 'VM vm-1 is on host h1, not on h3']);
});

test('host-unknown and same-host', () => {
  assert.deepEqual(refusal(checkMigration(input({ dest: undefined }))), ['host-unknown', 'to', 'there is no such destination host']);
  assert.deepEqual(refusal(checkMigration(input({ dest: h1 }))), ['same-host', 'to', 'VM vm-1 already runs on host h1']);
});

test('refusals name the VM by its name when it has one, and a powered-off VM is on its host, not running there', () => {
  assert.deepEqual(refusal(checkMigration(input({ dest: h1 }, { name: 'web-1' }))), ['same-host', 'to', 'VM web-1 already runs on host h1']);
  assert.deepEqual(refusal(checkMigration({ ...input({ dest: h1 }, { name: 'web-1', state: 'poweroff' }), kind: 'cold' })), ['same-host', 'to', 'VM web-1 is already on host h1']);
  assert.deepEqual(refusal(checkMigration({ ...input({ dest: h1 }, { name: 'web-1', state: 'suspended' }), kind: 'cold' })), ['same-host', 'to', 'VM web-1 is already on host h1']);
  assert.deepEqual(refusal(checkMigration(input({}, { name: 'web-1', state: 'poweroff' }))), ['vm-state', 'state', 'VM web-1 is poweroff: live migration needs a running VM']);
  assert.deepEqual(refusal(checkMigration(input({}, { name: 'web-1', snapshots: 1 })))[2], 'VM web-1 has 1 disk snapshot, which a live migration of a local disk would lose: delete them, or migrate it cold (powered off)');
});

test('host-state: only an enabled host that reported its facts', () => {
  for (const [state, why] of [
    ['init', 'not monitored yet'],
    ['disabled', 'disabled'],
    ['error', 'in error'],
    ['offline', 'offline'],
  ] as const) {
    assert.deepEqual(refusal(checkMigration(input({ dest: { ...h2, state } }))), ['host-state', 'to', `host h2 cannot take VMs: ${why}`]);
  }
  assert.deepEqual(refusal(checkMigration(input({ destFacts: undefined }))), ['host-state', 'to', 'host h2 has not reported what it can run yet']);
  assert.deepEqual(refusal(checkMigration(input({ dest: { ...h2, maintenance: true } }))), ['host-state', 'to', 'host h2 cannot take VMs: in maintenance']);
  // Leaving a host that is disabled (or in error) is what evacuation is for.
  assert.deepEqual(checkMigration(input({ source: { ...h1, state: 'disabled' } })), { ok: true });
});

test('cpu: the destination must offer the model; host-passthrough models need the same CPU', () => {
  assert.deepEqual(refusal(checkMigration(input({}, { demand: { ...vm.demand, cpuModel: 'Skylake-Client' } }))), [
    'cpu',
    'cpuModel',
    'host h2 cannot run CPU model Skylake-Client (it offers qemu64, max)',
  ]);
  assert.deepEqual(refusal(checkMigration(input({ destFacts: { ...facts, cpuModels: [] } }))), ['cpu', 'cpuModel', 'host h2 cannot run CPU model qemu64 (it offers none)']);
  const max = { demand: { ...vm.demand, cpuModel: 'max' } };
  assert.deepEqual(checkMigration(input({}, max)), { ok: true });
  assert.deepEqual(refusal(checkMigration(input({ dest: { ...h2, cpuModel: 'EPYC' } }, max))), [
    'cpu',
    'cpuModel',
    "CPU model max exposes the host's CPU: host h2 has EPYC, host h1 has qemu64",
  ]);
});

test('network: every network of the VM must be present', () => {
  assert.deepEqual(refusal(checkMigration(input({ destFacts: { ...facts, networks: ['br-other'] } }))), ['network', 'networks', 'network br-lab is not present on host h2']);
  assert.deepEqual(refusal(checkMigration(input({ destFacts: { ...facts, networks: [] } }, { networks: ['a', 'b', 'a'] }))), [
    'network',
    'networks',
    'networks a, b are not present on host h2',
  ]);
  assert.deepEqual(refusal(checkMigration(input({ destFacts: { ...facts, networks: undefined } }))), [
    'network',
    'networks',
    'host h2 does not report its networks; the VM needs br-lab',
  ]);
  assert.deepEqual(checkMigration(input({ destFacts: { ...facts, networks: undefined } }, { networks: [] })), { ok: true });
});

test('storage: shared disks need the shared datastore at the destination; local ones are copied', () => {
  const noShared = { destFacts: { ...facts, sharedDatastore: false } };
  assert.deepEqual(refusal(checkMigration(input(noShared, { storage: 'shared' }))), ['storage', 'storage', "host h2 does not reach the shared datastore the VM's disks are on"]);
  assert.deepEqual(checkMigration(input(noShared, { storage: 'local' })), { ok: true });
});

test('snapshots: a live migration of a local disk would lose them; a shared disk or a cold migration keeps the file', () => {
  assert.deepEqual(refusal(checkMigration(input({}, { snapshots: 2 }))), [
    'storage',
    'snapshots',
    'VM vm-1 has 2 disk snapshots, which a live migration of a local disk would lose: delete them, or migrate it cold (powered off)',
  ]);
  assert.match(refusal(checkMigration(input({}, { snapshots: 1 })))[2], /has 1 disk snapshot,/);
  assert.deepEqual(checkMigration(input({}, { snapshots: 0 })), { ok: true });
  assert.deepEqual(checkMigration(input({}, { snapshots: undefined })), { ok: true });
  assert.deepEqual(checkMigration(input({}, { snapshots: 3, storage: 'shared' })), { ok: true });
  assert.deepEqual(checkMigration({ ...input({}, { snapshots: 3, state: 'poweroff' }), kind: 'cold' }), { ok: true });
  // Checked before what can change (capacity): retrying later does not help.
  assert.equal(refusal(checkMigration(input({ dest: { ...h2, reservedMemoryMiB: 1_000_000 } }, { snapshots: 1 })))[1], 'snapshots');
  const chosen = chooseMigrationDestination([h1, h2, makeHost('h3', { name: 'h3' })].map((dest) => input({ dest }, { snapshots: 1 })), compilePlacementPolicy());
  assert.equal(chosen.hostId, undefined);
  assert.equal(chosen.hostId === undefined ? chosen.check : undefined, 'storage');
});

test('tls: both ends or neither', () => {
  assert.deepEqual(refusal(checkMigration(input({ sourceFacts: { ...facts, tls: true } }))), ['tls', 'tls', 'migration TLS is on at host h1 but off at host h2']);
  assert.deepEqual(refusal(checkMigration(input({ destFacts: { ...facts, tls: true } }))), ['tls', 'tls', 'migration TLS is off at host h1 but on at host h2']);
  assert.deepEqual(checkMigration(input({ sourceFacts: { ...facts, tls: true }, destFacts: { ...facts, tls: true } })), { ok: true });
});

test('capacity: the numbers, per resource, as at placement', () => {
  const full = (over: Partial<HostView>): MigrationCheckInput => input({ dest: { ...h2, ...over } });
  assert.deepEqual(refusal(checkMigration(full({ reservedMemoryMiB: 4096 - 96 }))), ['capacity', 'memoryMiB', 'host h2 has 96 MiB memory free, the VM needs 128 MiB']);
  assert.deepEqual(refusal(checkMigration(full({ reservedCpus: 4 }))), ['capacity', 'vcpus', 'host h2 has 0 vCPUs free, the VM needs 1']);
  assert.deepEqual(refusal(checkMigration(full({ reservedDiskMiB: 102400 - 1000 }))), ['capacity', 'diskMiB', 'host h2 has 1000 MiB disk free, the VM needs 1024 MiB for its local disks']);
  // Shared disks take no room at the destination.
  assert.deepEqual(checkMigration(input({ dest: { ...h2, reservedDiskMiB: 102400 } }, { storage: 'shared' })), { ok: true });
  // CPU overcommit counts as at placement: 4 CPUs × 1.5 − 5 reserved leaves 1.
  assert.deepEqual(checkMigration({ ...full({ reservedCpus: 5 }), cpuOvercommit: 1.5 }), { ok: true });
  assert.deepEqual(refusal(checkMigration({ ...full({ reservedCpus: 5.5 }), cpuOvercommit: 1.5 })), ['capacity', 'vcpus', 'host h2 has 0.5 vCPUs free, the VM needs 1']);
  // The same verdict as the placement filter, for a sweep of fill levels.
  for (let reserved = 3900; reserved <= 4096; reserved += 4) {
    const dest = { ...h2, reservedMemoryMiB: reserved };
    const fits = capacityShortfall(dest, migrationDemand(vm)) === undefined;
    assert.equal(checkMigration(input({ dest })).ok, fits, `reserved ${reserved}`);
  }
});

test('what cannot change is reported before what can', () => {
  // A full, disabled host with the wrong CPU: the state comes first, then the CPU; capacity last.
  const bad: HostView = { ...h2, state: 'disabled', reservedMemoryMiB: 4096 };
  assert.equal(refusal(checkMigration(input({ dest: bad }, { demand: { ...vm.demand, cpuModel: 'EPYC' } })))[0], 'host-state');
  assert.equal(refusal(checkMigration(input({ dest: { ...bad, state: 'enabled' } }, { demand: { ...vm.demand, cpuModel: 'EPYC' } })))[0], 'cpu');
  assert.deepEqual([...MIGRATION_CHECKS], ['vm-state', 'host-unknown', 'same-host', 'host-state', 'cluster', 'cpu', 'network', 'storage', 'tls', 'requirements', 'capacity']);
});

const packing = compilePlacementPolicy();
const striping = compilePlacementPolicy({ ranker: 'striping' });

function candidates(hosts: readonly HostView[], over: (h: HostView) => Partial<MigrationCheckInput> = () => ({}), vmOver: Partial<MigratingVm> = {}): MigrationCheckInput[] {
  return hosts.map((dest) => input({ dest, ...over(dest) }, vmOver));
}

test('choose: never the source; the placement policy ranks the hosts that pass the checks', () => {
  const busy = makeHost('h2', { name: 'h2', reservedMemoryMiB: 2048 });
  const empty = makeHost('h3', { name: 'h3' });
  const hosts = [h1, busy, empty];
  assert.deepEqual(chooseMigrationDestination(candidates(hosts), packing), { hostId: 'h2', reasons: {} });
  assert.deepEqual(chooseMigrationDestination(candidates(hosts), striping), { hostId: 'h3', reasons: {} });
  // Only the source: no other host.
  const alone = chooseMigrationDestination(candidates([h1]), packing);
  assert.deepEqual(alone, { hostId: undefined, reasons: {}, summary: 'no host can take the VM: there is no other host' });
});

test('choose: hosts failing a check are left out, with their reasons', () => {
  const hosts = [h1, makeHost('h2', { name: 'h2', state: 'disabled' }), makeHost('h3', { name: 'h3', reservedMemoryMiB: 4096 }), makeHost('h4', { name: 'h4' })];
  const r = chooseMigrationDestination(candidates(hosts), packing);
  assert.deepEqual(r, {
    hostId: 'h4',
    reasons: { h2: 'host h2 cannot take VMs: disabled', h3: 'host h3 has 0 MiB memory free, the VM needs 128 MiB' },
  });
  const none = chooseMigrationDestination(candidates(hosts, (h) => (h.id === 'h4' ? { destFacts: { ...facts, networks: [] } } : {})), packing);
  assert.deepEqual(none, {
    hostId: undefined,
    reasons: {
      h2: 'host h2 cannot take VMs: disabled',
      h3: 'host h3 has 0 MiB memory free, the VM needs 128 MiB',
      h4: 'network br-lab is not present on host h4',
    },
    summary:
      'no host can take the VM: host h2 cannot take VMs: disabled; host h3 has 0 MiB memory free, the VM needs 128 MiB; network br-lab is not present on host h4',
  });
});

test('choose: the check every host failed is named', () => {
  const hosts = [h1, makeHost('h2', { name: 'h2' }), makeHost('h3', { name: 'h3' })];
  const r = chooseMigrationDestination(candidates(hosts, () => ({}), { state: 'poweroff' }), packing);
  assert.equal(r.hostId, undefined);
  assert.equal(r.hostId === undefined && r.check, 'vm-state');
  const tls = chooseMigrationDestination(candidates(hosts, () => ({ destFacts: { ...facts, tls: true } })), packing);
  assert.equal(tls.hostId === undefined && tls.check, 'tls');
});

test("choose: the VM's placement requirements still apply", () => {
  const hosts = [h1, makeHost('h2', { name: 'h2', labels: { zone: 'a' } }), makeHost('h3', { name: 'h3', labels: { zone: 'b' } })];
  assert.equal(chooseMigrationDestination(candidates(hosts, () => ({}), { requirements: 'labels.zone == "b"' }), packing).hostId, 'h3');
  const none = chooseMigrationDestination(candidates(hosts, () => ({}), { requirements: 'labels.zone == "c"' }), packing);
  assert.deepEqual(none, {
    hostId: undefined,
    reasons: {
      h2: 'host h2 does not meet the VM\'s requirements (labels.zone == "c")',
      h3: 'host h3 does not meet the VM\'s requirements (labels.zone == "c")',
    },
    summary: 'no host can take the VM: host h2 does not meet the VM\'s requirements (labels.zone == "c"); host h3 does not meet the VM\'s requirements (labels.zone == "c")',
    check: 'requirements',
  });
  // The bug this guards: a host the requirements exclude is never chosen, even when it is the only one with room.
  const pinned = [h1, makeHost('h2', { name: 'h2', reservedMemoryMiB: 4096 }), makeHost('h3', { name: 'h3' })];
  const onlyH3Fits = chooseMigrationDestination(candidates(pinned, () => ({}), { requirements: 'hostname != "h3"' }), packing);
  assert.equal(onlyH3Fits.hostId, undefined);
  assert.match(onlyH3Fits.hostId === undefined ? onlyH3Fits.summary : '', /host h3 does not meet the VM's requirements \(hostname != "h3"\)/);
});

test('requirements: an explicit destination must meet them (after what cannot change, before capacity); force skips only them', () => {
  const b = makeHost('h2', { name: 'h2', labels: { zone: 'b' } });
  assert.deepEqual(refusal(checkMigration(input({ dest: b }, { requirements: 'labels.zone == "a"' }))), [
    'requirements',
    'to',
    'host h2 does not meet the VM\'s requirements (labels.zone == "a")',
  ]);
  assert.deepEqual(checkMigration(input({ dest: b }, { requirements: 'labels.zone == "b"' })), { ok: true });
  assert.deepEqual(checkMigration(input({ dest: b, ignoreRequirements: true }, { requirements: 'labels.zone == "a"' })), { ok: true }, 'forced');
  // Forced past the requirements, a full host or a wrong network is still refused.
  assert.equal(refusal(checkMigration(input({ dest: { ...b, reservedMemoryMiB: 4096 }, ignoreRequirements: true }, { requirements: 'labels.zone == "a"' })))[0], 'capacity');
  assert.equal(refusal(checkMigration(input({ dest: b, destFacts: { ...facts, networks: [] }, ignoreRequirements: true }, { requirements: 'labels.zone == "a"' })))[0], 'network');
  // Not met and full: the requirements are named first (a retry later does not help).
  assert.equal(refusal(checkMigration(input({ dest: { ...b, reservedMemoryMiB: 4096 } }, { requirements: 'labels.zone == "a"' })))[0], 'requirements');
  // Dynamic names see the destination as it is now.
  assert.equal(checkMigration(input({ dest: b }, { requirements: 'free_memory_mb > 100000' })).ok, false);
});

test('choose: deterministic whatever the order of the candidates', () => {
  const hosts = [h1, makeHost('h3', { name: 'h3' }), makeHost('h2', { name: 'h2' }), makeHost('h4', { name: 'h4', state: 'offline' })];
  const a = chooseMigrationDestination(candidates(hosts), packing);
  const b = chooseMigrationDestination(candidates([...hosts].reverse()), packing);
  assert.deepEqual(a, b);
  assert.equal(a.hostId, 'h2');
});

test('cold: a powered-off or suspended VM; TLS does not matter; the other checks as live', () => {
  const cold = (over: Partial<MigrationCheckInput> = {}, vmOver: Partial<MigratingVm> = {}): MigrationCheckInput => ({ ...input(over, vmOver), kind: 'cold' });
  assert.deepEqual(checkMigration(cold({}, { state: 'poweroff' })), { ok: true });
  assert.deepEqual(checkMigration(cold({}, { state: 'suspended', storage: 'shared' })), { ok: true });
  for (const state of VM_STATES.filter((s) => s !== 'poweroff' && s !== 'suspended')) {
    assert.deepEqual(refusal(checkMigration(cold({}, { state }))), ['vm-state', 'state', `VM vm-1 is ${state}: cold migration needs a powered-off or suspended VM`]);
  }
  // The files go agent to agent over HTTP, not in QEMU's stream.
  assert.deepEqual(checkMigration(cold({ sourceFacts: { ...facts, tls: true } }, { state: 'poweroff' })), { ok: true });
  assert.deepEqual(refusal(checkMigration(cold({ destFacts: { ...facts, sharedDatastore: false } }, { state: 'suspended', storage: 'shared' })))[0], 'storage');
  assert.deepEqual(refusal(checkMigration(cold({ dest: { ...h2, reservedDiskMiB: 102400 - 1000 } }, { state: 'poweroff' }))), ['capacity', 'diskMiB', 'host h2 has 1000 MiB disk free, the VM needs 1024 MiB for its local disks']);
  assert.deepEqual(refusal(checkMigration(cold({ dest: h1 }, { state: 'poweroff' })))[0], 'same-host');
  const hosts = [h1, makeHost('h2', { name: 'h2' }), makeHost('h3', { name: 'h3', reservedMemoryMiB: 4096 })];
  const chosen = chooseMigrationDestination(
    hosts.map((dest) => ({ ...input({ dest, destFacts: { ...facts, tls: true } }, { state: 'suspended' }), kind: 'cold' as const })),
    packing,
  );
  assert.equal(chosen.hostId, 'h2', 'a cold migration is placed by the same rules');
});

test('cluster: a named destination in another cluster is refused while the VM asks for its cluster or uses what is bound to it; allowed when nothing binds it', () => {
  const a1 = makeHost('h1', { name: 'h1', cluster: 'a' });
  const a2 = makeHost('h2', { name: 'h2', cluster: 'a' });
  const b1 = makeHost('h3', { name: 'h3', cluster: 'b' });
  const net = { kind: 'network', name: 'web', cluster: 'a' } as const;
  // Inside the cluster: bindings to it change nothing.
  assert.deepEqual(checkMigration(input({ source: a1, dest: a2 }, { bindings: [net], cluster: 'a' })), { ok: true });
  assert.deepEqual(refusal(checkMigration(input({ source: a1, dest: b1 }, { bindings: [net] }))),
    ['cluster', 'to', "host h3 is in cluster b, the VM's host h1 in cluster a, and network web is bound to cluster a"]);
  assert.deepEqual(refusal(checkMigration(input({ source: a1, dest: b1 }, { cluster: 'a' }))),
    ['cluster', 'to', "host h3 is in cluster b, the VM's host h1 in cluster a, and the VM asks for cluster a"]);
  assert.deepEqual(refusal(checkMigration(input({ source: a1, dest: b1 }, { bindings: [{ kind: 'datastore', name: 'nfs', cluster: 'a' }] }))),
    ['cluster', 'to', "host h3 is in cluster b, the VM's host h1 in cluster a, and datastore nfs is bound to cluster a"]);
  // Storage and networks available in every cluster (or bound to the destination's): it may cross.
  assert.deepEqual(checkMigration(input({ source: a1, dest: b1 })), { ok: true });
  assert.deepEqual(checkMigration(input({ source: a1, dest: b1 }, { bindings: [{ kind: 'network', name: 'wan', cluster: 'b' }] })), { ok: true }, 'bound to the destination\'s cluster');
  // The admin's force lifts the requirements expression only, never a cluster binding.
  assert.equal(checkMigration(input({ source: a1, dest: b1, ignoreRequirements: true }, { bindings: [net] })).ok, false);
  // Hosts that know no cluster are in the default one.
  assert.deepEqual(refusal(checkMigration(input({ source: h1, dest: b1 }, { cluster: 'default' }))),
    ['cluster', 'to', "host h3 is in cluster b, the VM's host h1 in cluster default, and the VM asks for cluster default"]);
  assert.ok(MIGRATION_CHECKS.includes('cluster'));
});

test('cluster: a chosen destination stays in the source\'s cluster, even where nothing binds the VM', () => {
  const policy = compilePlacementPolicy({ ranker: 'striping' });
  const a1 = makeHost('h1', { name: 'h1', cluster: 'a' });
  const a2 = makeHost('h2', { name: 'h2', cluster: 'a', reservedMemoryMiB: 1024 });
  const b1 = makeHost('h3', { name: 'h3', cluster: 'b' });
  const choice = chooseMigrationDestination([a1, a2, b1].map((dest) => input({ source: a1, dest })), policy);
  assert.equal(choice.hostId, 'h2', 'the fuller host of its own cluster, not the emptier one in another (striping would take that)');
  assert.match(choice.reasons['h3'] ?? '', /^host h3 is in cluster b, the VM's host h1 in cluster a: a chosen destination stays in the VM's cluster/);
  const alone = chooseMigrationDestination([a1, b1].map((dest) => input({ source: a1, dest })), policy);
  assert.equal(alone.hostId, undefined);
  assert.equal(alone.hostId === undefined ? alone.check : undefined, 'cluster');
});
