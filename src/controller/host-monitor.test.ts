import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore } from '../store/open-store.js';
import { HostMonitor } from './host-monitor.js';
import type { VmOrchestrator } from './vm-orchestrator.js';
import { agentVmId } from './agent-vm-id.js';
import type { HostReport } from '../contract/agent-api.js';
import type { HeartbeatRecord } from '../store/repositories/hosts-repository.js';

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-mon-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  const { user } = await store.users.create({ name: 'u', role: 'admin' });
  const host = await store.hosts.register({ name: 'h1', agentUrl: 'http://127.0.0.1:9', agentToken: 't'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
  await store.hosts.setState(host.id, 'enabled');
  const created = await store.vms.create({ name: 'v', ownerId: user.id });
  await store.vms.bindToHost(created.id, host.id, { cpus: 1, memoryMib: 128, diskMib: 64 });
  await store.vms.transition(created.id, { from: ['prolog'], to: 'boot', action: 'create' });
  const vm = await store.vms.transition(created.id, { from: ['boot'], to: 'running', action: 'create' });
  const monitor = new HostMonitor({ store, orchestrator: { schedulePending: async () => {} } as unknown as VmOrchestrator, logger: pino({ level: 'silent' }), heartbeatIntervalMs: 1000 });
  const report = (at: Date, state: 'running' | 'poweroff' | 'crashed'): HostReport => ({
    name: 'h1', cpuModel: 'qemu64', cpuModels: ['qemu64'], cpuFlags: [], kvm: false, totalCpus: 4, totalMemoryMiB: 4096, totalDiskMiB: 10_000,
    usage: { load: 0, usedMemoryMiB: 0, usedDiskMiB: 0 }, vms: [{ id: agentVmId(vm.id), state }], at: at.toISOString(),
  });
  return { store, monitor, vm, host: await store.hosts.get(host.id), report, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('a heartbeat taken before the VM last changed does not override its state', async () => {
  const { store, monitor, vm, host, report, cleanup } = await setup();
  try {
    await monitor.heartbeat(host, report(new Date(Date.parse(vm.updatedAt) - 50), 'poweroff'));
    assert.equal((await store.vms.get(vm.id)).state, 'running', 'an older report is ignored');
    await monitor.heartbeat(host, report(new Date(Date.parse(vm.updatedAt) + 50), 'poweroff'));
    assert.equal((await store.vms.get(vm.id)).state, 'running', 'one newer report is a suspicion, not yet a verdict');
    await monitor.heartbeat(host, report(new Date(Date.parse(vm.updatedAt) + 60), 'running'));
    await monitor.heartbeat(host, report(new Date(Date.parse(vm.updatedAt) + 70), 'poweroff'));
    assert.equal((await store.vms.get(vm.id)).state, 'running', 'a running report in between clears the suspicion');
    await monitor.heartbeat(host, report(new Date(Date.parse(vm.updatedAt) + 80), 'poweroff'));
    const after = await store.vms.get(vm.id);
    assert.equal(after.state, 'poweroff', 'two consecutive newer reports win');
    assert.match(after.stateReason ?? '', /powered off/);
  } finally {
    await cleanup();
  }
});

test('a crashed QEMU in a newer report fails the VM with phase run', async () => {
  const { store, monitor, vm, host, report, cleanup } = await setup();
  try {
    await monitor.heartbeat(host, report(new Date(Date.parse(vm.updatedAt) + 50), 'crashed'));
    await monitor.heartbeat(host, report(new Date(Date.parse(vm.updatedAt) + 60), 'crashed'));
    const after = await store.vms.get(vm.id);
    assert.equal(after.state, 'failed');
    assert.match(after.stateReason ?? '', /^run: /);
  } finally {
    await cleanup();
  }
});

test('silence is counted from the monitor start, not from before it (a restarted controller)', async () => {
  const { store, monitor, vm, host, cleanup } = await setup();
  try {
    await store.hosts.recordHeartbeat(host.id, {}, new Date(Date.now() - 60_000));
    monitor.start();
    monitor.stop();
    await monitor.checkSilence(Date.now());
    assert.equal((await store.hosts.get(host.id)).state, 'enabled', 'no verdict before the agents had a chance to report');
    await monitor.checkSilence(Date.now() + 10_000);
    assert.equal((await store.hosts.get(host.id)).state, 'enabled', 'an agent restarted with the controller gets the start-up grace (30 s), not just 3 beats');
    await monitor.checkSilence(Date.now() + 31_000);
    assert.equal((await store.hosts.get(host.id)).state, 'error');
    assert.equal((await store.vms.get(vm.id)).state, 'unknown');
  } finally {
    await cleanup();
  }
});

test('a failed VM that its agent reports running is running: the agent wins (QEMU runs, the record was wrong)', async () => {
  const { store, monitor, host, report, cleanup } = await setup();
  try {
    // As a controller that lost the agent mid-boot used to record it.
    const vm = await store.vms.transition((await store.vms.list())[0]!.id, { from: ['running'], to: 'failed', action: 'create', patch: { stateReason: 'boot: agent unreachable' } });
    await monitor.heartbeat(host, report(new Date(Date.parse(vm.updatedAt) + 50), 'running'));
    const after = await store.vms.get(vm.id);
    assert.equal(after.state, 'running');
    assert.match(after.stateReason ?? '', /the agent reports running/);
  } finally {
    await cleanup();
  }
});

test('a failed VM that its agent reports powered off or crashed stays failed (an admin decides)', async () => {
  const { store, monitor, host, report, cleanup } = await setup();
  try {
    const vm = await store.vms.transition((await store.vms.list())[0]!.id, { from: ['running'], to: 'failed', action: 'create', patch: { stateReason: 'boot: refused' } });
    await monitor.heartbeat(host, report(new Date(Date.parse(vm.updatedAt) + 50), 'poweroff'));
    await monitor.heartbeat(host, report(new Date(Date.parse(vm.updatedAt) + 60), 'crashed'));
    const after = await store.vms.get(vm.id);
    assert.equal(after.state, 'failed');
    assert.equal(after.stateReason, 'boot: refused');
  } finally {
    await cleanup();
  }
});

test('heartbeats of a known host, with a changing capacity, write no events', async () => {
  const { store, monitor, vm, host, report, cleanup } = await setup();
  try {
    const start = await store.events.lastSeq();
    for (let i = 1; i <= 20; i++) {
      const r = report(new Date(Date.parse(vm.updatedAt) + i), 'running');
      await monitor.heartbeat(await store.hosts.get(host.id), { ...r, totalDiskMiB: 10_000 - i, usage: { load: i / 10, usedMemoryMiB: 100 + i, usedDiskMiB: i } });
    }
    assert.deepEqual(await store.events.listSince(start, 100), []);
    assert.equal((await store.hosts.get(host.id)).total.diskMib, 10_000 - 20, 'the capacity still follows the reports');
  } finally {
    await cleanup();
  }
});

test('a host heard since the start is judged by the plain silence limit, not the start-up grace', async () => {
  const { store, monitor, host, cleanup } = await setup();
  try {
    monitor.start();
    monitor.stop();
    await store.hosts.recordHeartbeat(host.id, {}, new Date(Date.now() + 10));
    await monitor.checkSilence(Date.now() + 5_000);
    assert.equal((await store.hosts.get(host.id)).state, 'error');
  } finally {
    await cleanup();
  }
});

/** Counts the store calls a heartbeat makes, by repository method. */
function countCalls(target: object, methods: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of methods) {
    const t = target as Record<string, (...a: unknown[]) => unknown>;
    const original = t[m]!.bind(target);
    counts.set(m, 0);
    t[m] = (...a: unknown[]) => {
      counts.set(m, (counts.get(m) ?? 0) + 1);
      return original(...a);
    };
  }
  return counts;
}

test('a heartbeat that describes the host as stored does not register it again; a changed one does', async () => {
  const { store, monitor, vm, host, report, cleanup } = await setup();
  try {
    const calls = countCalls(store.hosts, ['register']);
    await monitor.heartbeat(host, report(new Date(Date.parse(vm.updatedAt) + 5), 'running'));
    assert.equal(calls.get('register'), 1, 'the host was registered without its CPU model: the first report adds it');
    const described = await store.hosts.get(host.id);
    assert.equal(described.cpuModel, 'qemu64');
    await monitor.heartbeat(described, report(new Date(Date.parse(vm.updatedAt) + 10), 'running'));
    assert.equal(calls.get('register'), 1, 'nothing the agent describes changed');
    await monitor.heartbeat(described, { ...report(new Date(Date.parse(vm.updatedAt) + 20), 'running'), totalMemoryMiB: 8192 });
    assert.equal(calls.get('register'), 2);
    assert.equal((await store.hosts.get(host.id)).total.memoryMib, 8192);
    const grown = await store.hosts.get(host.id);
    await monitor.heartbeat(grown, { ...report(new Date(Date.parse(vm.updatedAt) + 30), 'running'), totalMemoryMiB: 8192, cpuFlags: ['sse2'] });
    assert.equal(calls.get('register'), 3, 'new CPU flags are a change too');
    assert.deepEqual((await store.hosts.get(host.id)).cpuFlags, ['sse2']);
  } finally {
    await cleanup();
  }
});

test('a heartbeat looks up no VM the host holds by binding: only copies of other hosts\' VMs are read one by one', async () => {
  const { store, vm, host, report, cleanup } = await setup();
  try {
    const released: string[] = [];
    const withAgent = new HostMonitor({
      store, orchestrator: { schedulePending: async () => {} } as unknown as VmOrchestrator, logger: pino({ level: 'silent' }), heartbeatIntervalMs: 1000,
      agentFor: () => ({ release: async (id: string) => { released.push(id); } }) as never,
    });
    const { user } = await store.users.create({ name: 'u2', role: 'user' });
    const other = await store.hosts.register({ name: 'h2', agentUrl: 'http://127.0.0.1:8', agentToken: 's'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
    await store.hosts.setState(other.id, 'enabled');
    const elsewhere = await store.vms.create({ name: 'w', ownerId: user.id });
    await store.vms.bindToHost(elsewhere.id, other.id, { cpus: 1, memoryMib: 128, diskMib: 64 });
    const calls = countCalls(store.vms, ['get']);
    const r = report(new Date(Date.now() + 1000), 'running');
    await withAgent.heartbeat(host, { ...r, vms: [...r.vms, { id: agentVmId(elsewhere.id), state: 'paused' }] });
    assert.equal(calls.get('get'), 1, 'one look-up: the copy of h2\'s VM, not the VM bound here');
    assert.deepEqual(released, [agentVmId(elsewhere.id)], 'the leftover copy is still released');
    assert.equal((await store.vms.get(vm.id)).state, 'running');
  } finally {
    await cleanup();
  }
});

test('the host of an agent token: found, a wrong token is not, a changed token and a new host are seen at once', async () => {
  const { store, monitor, host, cleanup } = await setup();
  try {
    assert.equal((await monitor.hostOfToken('t'.repeat(20)))?.id, host.id);
    assert.equal(await monitor.hostOfToken('x'.repeat(20)), undefined);
    await store.hosts.register({ name: 'h1', agentUrl: host.agentUrl, agentToken: 'n'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
    assert.equal(await monitor.hostOfToken('t'.repeat(20)), undefined, 'the old token no longer authenticates');
    assert.equal((await monitor.hostOfToken('n'.repeat(20)))?.id, host.id);
    const h2 = await store.hosts.register({ name: 'h2', agentUrl: 'http://127.0.0.1:8', agentToken: 's'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
    assert.equal((await monitor.hostOfToken('s'.repeat(20)))?.id, h2.id);
    await store.hosts.delete(h2.id);
    assert.equal(await monitor.hostOfToken('s'.repeat(20)), undefined, 'a deleted host');
  } finally {
    await cleanup();
  }
});

test('the host of a token is found without reading every host once the index knows it', async () => {
  const { store, monitor, host, cleanup } = await setup();
  try {
    await monitor.hostOfToken('t'.repeat(20));
    const calls = countCalls(store.hosts, ['list', 'get']);
    for (let i = 0; i < 5; i++) assert.equal((await monitor.hostOfToken('t'.repeat(20)))?.id, host.id);
    assert.equal(calls.get('list'), 0);
    assert.equal(calls.get('get'), 5);
  } finally {
    await cleanup();
  }
});

test('a host whose heartbeat is still being processed is not silent, however long the store makes it wait', async () => {
  const { store, host, report, vm, cleanup } = await setup();
  let admit!: (ok: boolean) => void;
  const held = new Promise<boolean>((r) => { admit = r; });
  const monitor = new HostMonitor({
    store, orchestrator: { schedulePending: async () => {} } as unknown as VmOrchestrator, logger: pino({ level: 'silent' }), heartbeatIntervalMs: 1000,
    // Stands for a beat queued behind the store's other work.
    admitHeartbeat: () => held,
  });
  try {
    await store.hosts.recordHeartbeat(host.id, {}, new Date());
    const beat = monitor.heartbeat(host, report(new Date(), 'running'));
    await monitor.checkSilence(Date.now() + 60_000);
    assert.equal((await store.hosts.get(host.id)).state, 'enabled', 'its beat arrived: the host is alive');
    assert.equal((await store.vms.get(vm.id)).state, 'running');
    admit(true);
    await beat;
    await monitor.checkSilence(Date.now() + 60_000);
    assert.equal((await store.hosts.get(host.id)).state, 'error', 'silent again once the beat was processed');
  } finally {
    admit(true);
    await cleanup();
  }
});

test('a host heard while the silence check was busy with another host is judged by its new beat, not by the list read before', async () => {
  const { store, host, vm, cleanup } = await setup();
  const h2 = await store.hosts.register({ name: 'h2', agentUrl: 'http://127.0.0.1:9', agentToken: 'u'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
  await store.hosts.setState(h2.id, 'enabled');
  // Both unheard for a minute: both are on the list the check reads first.
  for (const id of [host.id, h2.id]) await store.hosts.recordHeartbeat(id, {}, new Date(Date.now() - 60_000));
  const monitor = new HostMonitor({ store, orchestrator: { schedulePending: async () => {} } as unknown as VmOrchestrator, logger: pino({ level: 'silent' }), heartbeatIntervalMs: 1000 });
  // The check's write for h1 waits (as behind a busy store's queue); h2's beat is written meanwhile, no longer held.
  let open!: () => void;
  const gate = new Promise<void>((r) => { open = r; });
  let reached!: () => void;
  const atGate = new Promise<void>((r) => { reached = r; });
  const setState = store.hosts.setState.bind(store.hosts);
  store.hosts.setState = async (...args: Parameters<typeof setState>) => {
    if (args[0] === host.id && args[1] === 'error') {
      reached();
      await gate;
    }
    return setState(...args);
  };
  try {
    // A minute on (the check's clock); h2's beat is written then too, by the batch that was waiting before the check's write.
    const check = monitor.checkSilence(Date.now() + 60_000);
    await atGate;
    await store.hosts.recordHeartbeat(h2.id, {}, new Date(Date.now() + 60_000));
    open();
    await check;
    assert.equal((await store.hosts.get(host.id)).state, 'error', 'h1 is silent');
    assert.equal((await store.vms.get(vm.id)).state, 'unknown');
    assert.equal((await store.hosts.get(h2.id)).state, 'enabled', 'h2 was heard before it was judged');
  } finally {
    open();
    await cleanup();
  }
});

/** Every batch of heartbeats the monitor writes, as given to the store. */
function spyBeats(store: Awaited<ReturnType<typeof setup>>['store']): HeartbeatRecord[][] {
  const batches: HeartbeatRecord[][] = [];
  const original = store.hosts.recordHeartbeats.bind(store.hosts);
  store.hosts.recordHeartbeats = async (beats) => {
    batches.push([...beats]);
    return original(beats);
  };
  return batches;
}

test('a beat that repeats a quiet one reads no VM in full and writes only the host\'s time; a changed report or VM is looked at in full', async () => {
  const { store, monitor, vm, host, report, cleanup } = await setup();
  try {
    const described = await store.hosts.register({ name: 'h1', agentUrl: host.agentUrl, agentToken: host.agentToken, cpuModel: 'qemu64', totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
    const batches = spyBeats(store);
    const calls = countCalls(store.vms, ['list', 'transition']);
    const t = Date.parse(vm.updatedAt);
    await monitor.heartbeat(described, report(new Date(t + 10), 'running'));
    assert.equal(calls.get('list'), 1, 'the first beat is looked at in full');
    assert.deepEqual(batches.at(-1)?.map((b) => Object.keys(b).sort()), [['id', 'usage']], 'the first beat writes its data');
    const heard = (await store.hosts.get(host.id)).lastHeartbeatAt;
    await new Promise((r) => setTimeout(r, 5));
    for (let i = 2; i <= 4; i++) await monitor.heartbeat(described, report(new Date(t + 10 * i), 'running'));
    assert.equal(calls.get('list'), 1, 'the same VMs reported the same: no VM read in full');
    assert.deepEqual(batches.slice(1).map((b) => b.map((x) => Object.keys(x).sort())), [[['id']], [['id']], [['id']]], 'unchanged data is not written again; the time is');
    const now = await store.hosts.get(host.id);
    assert.ok(now.lastHeartbeatAt !== null && heard !== null && now.lastHeartbeatAt > heard, 'the host\'s time moves on');
    assert.deepEqual(now.usage, { load: 0, usedMemoryMiB: 0, usedDiskMiB: 0, cpuModels: ['qemu64'], kvm: false }, 'its data stays as written');
    // The agent says something else: looked at, and the second such report settles the VM.
    await monitor.heartbeat(described, report(new Date(t + 50), 'poweroff'));
    assert.equal(calls.get('list'), 2);
    assert.equal((await store.vms.get(vm.id)).state, 'running', 'one report is a suspicion');
    await monitor.heartbeat(described, report(new Date(t + 60), 'poweroff'));
    assert.equal(calls.get('list'), 3, 'a suspicion is never a quiet beat: the same report again is looked at');
    const off = await store.vms.get(vm.id);
    assert.equal(off.state, 'poweroff');
    assert.equal(calls.get('transition'), 1);
    // The store changes behind the beats (an admin's start, here a plain transition): the same report is looked at again.
    const t2 = Date.parse(off.updatedAt);
    await monitor.heartbeat(described, report(new Date(t2 + 10), 'poweroff'));
    await monitor.heartbeat(described, report(new Date(t2 + 20), 'poweroff'));
    assert.equal(calls.get('list'), 4, 'quiet again after one full look');
    const back = await store.vms.transition(vm.id, { from: ['poweroff'], to: 'running', action: 'start' });
    await monitor.heartbeat(described, report(new Date(Date.parse(back.updatedAt) + 10), 'poweroff'));
    assert.equal(calls.get('list'), 5, 'the VM\'s version changed: read in full');
    // Changed data is written; a restarted monitor (another controller may have led) writes it once again.
    await monitor.heartbeat(described, { ...report(new Date(Date.parse(back.updatedAt) + 20), 'running'), usage: { load: 2, usedMemoryMiB: 1, usedDiskMiB: 1 } });
    assert.equal((await store.hosts.get(host.id)).usage?.['load'], 2);
    assert.deepEqual(batches.at(-1)?.map((b) => Object.keys(b).sort()), [['id', 'usage']]);
    monitor.start();
    monitor.stop();
    const listed = calls.get('list');
    await monitor.heartbeat(described, { ...report(new Date(Date.parse(back.updatedAt) + 30), 'running'), usage: { load: 2, usedMemoryMiB: 1, usedDiskMiB: 1 } });
    assert.deepEqual(batches.at(-1)?.map((b) => Object.keys(b).sort()), [['id', 'usage']], 'written again after a restart of the monitor');
    assert.equal(calls.get('list'), listed! + 1, 'and looked at in full');
  } finally {
    await cleanup();
  }
});

test('a host whose beats are quiet is alive; silent, it goes to error with its VMs unknown, and its next beat brings both back', async () => {
  const { store, monitor, vm, host, report, cleanup } = await setup();
  try {
    const t = Date.parse(vm.updatedAt);
    await monitor.heartbeat(host, report(new Date(t + 10), 'running'));
    const described = await store.hosts.get(host.id);
    await monitor.heartbeat(described, report(new Date(t + 20), 'running'));
    await monitor.heartbeat(described, report(new Date(t + 30), 'running'));
    const heard = Date.parse((await store.hosts.get(host.id)).lastHeartbeatAt!);
    // heartbeatIntervalMs 1000 × 3 missed beats: silent after 3 s without one.
    await monitor.checkSilence(heard + 2_900);
    assert.equal((await store.hosts.get(host.id)).state, 'enabled', 'quiet beats are heard');
    await monitor.checkSilence(heard + 3_100);
    assert.equal((await store.hosts.get(host.id)).state, 'error');
    assert.equal((await store.vms.get(vm.id)).state, 'unknown');
    // The same report as the quiet beats: the host is back and its VM settled.
    await monitor.heartbeat(await store.hosts.get(host.id), report(new Date(Date.now() + 1_000), 'running'));
    assert.equal((await store.hosts.get(host.id)).state, 'enabled');
    assert.equal((await store.vms.get(vm.id)).state, 'running');
  } finally {
    await cleanup();
  }
});

test('a beat that reports a copy of another host\'s VM is never quiet: the copy is looked up each time', async () => {
  const { store, host, report, cleanup } = await setup();
  try {
    const released: string[] = [];
    const withAgent = new HostMonitor({
      store, orchestrator: { schedulePending: async () => {} } as unknown as VmOrchestrator, logger: pino({ level: 'silent' }), heartbeatIntervalMs: 1000,
      // The agent refuses: the copy stays, and the next beat must try again.
      agentFor: () => ({ release: async (id: string) => { released.push(id); throw new Error('busy'); } }) as never,
    });
    const { user } = await store.users.create({ name: 'u2', role: 'user' });
    const other = await store.hosts.register({ name: 'h2', agentUrl: 'http://127.0.0.1:8', agentToken: 's'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
    await store.hosts.setState(other.id, 'enabled');
    const elsewhere = await store.vms.create({ name: 'w', ownerId: user.id });
    await store.vms.bindToHost(elsewhere.id, other.id, { cpus: 1, memoryMib: 128, diskMib: 64 });
    const r = report(new Date(Date.now() + 1000), 'running');
    const beat = { ...r, vms: [...r.vms, { id: agentVmId(elsewhere.id), state: 'paused' as const }] };
    await withAgent.heartbeat(host, beat);
    await withAgent.heartbeat(host, { ...beat, at: new Date(Date.now() + 2000).toISOString() });
    assert.deepEqual(released, [agentVmId(elsewhere.id), agentVmId(elsewhere.id)]);
  } finally {
    await cleanup();
  }
});

test('a beat held by the route counts as heard before its host is read; released, the host is judged by its time again', async () => {
  const { store, monitor, host, vm, cleanup } = await setup();
  try {
    // The index knows the token (as after the host's first beat): the hold needs no store read.
    assert.equal(monitor.knowsToken('t'.repeat(20)), false);
    await monitor.hostOfToken('t'.repeat(20));
    assert.equal(monitor.knowsToken('t'.repeat(20)), true);
    monitor.start();
    monitor.stop();
    await store.hosts.recordHeartbeat(host.id, {}, new Date(Date.now() + 10));
    const release = monitor.hold('t'.repeat(20), 'h1');
    // A hold under a name the token is not holds nothing (it is refused later), and a second release changes nothing.
    const other = monitor.hold('t'.repeat(20), 'h2');
    other();
    await monitor.checkSilence(Date.now() + 60_000);
    assert.equal((await store.hosts.get(host.id)).state, 'enabled', 'its beat arrived: the host is alive');
    assert.equal((await store.vms.get(vm.id)).state, 'running');
    release();
    release();
    await monitor.checkSilence(Date.now() + 60_000);
    assert.equal((await store.hosts.get(host.id)).state, 'error', 'silent once the beat is no longer held');
  } finally {
    await cleanup();
  }
});

/** The VM as the silence check leaves one whose boot it cut: `unknown`, its host in error, its operation ended. */
async function cutMidBoot(store: Awaited<ReturnType<typeof setup>>['store'], vmId: string, hostId: string) {
  const booting = await store.vms.transition(vmId, { from: ['running'], to: 'boot', action: 'start', patch: { operation: { action: 'start', from: 'poweroff' } } });
  await store.hosts.setState(hostId, 'error', 'no heartbeat for 16 s');
  return store.vms.transition(vmId, { from: [booting.state], to: 'unknown', action: 'host-lost', patch: { operation: null } });
}

test('a VM whose boot the silence check cut is not settled from reports while this controller still carries its start out', async () => {
  const { store, vm, host, report, cleanup } = await setup();
  let driving = true;
  const monitor = new HostMonitor({
    store, orchestrator: { schedulePending: async () => {} } as unknown as VmOrchestrator, logger: pino({ level: 'silent' }), heartbeatIntervalMs: 1000,
    carriedOut: (id) => driving && id === vm.id,
  });
  try {
    const unknown = await cutMidBoot(store, vm.id, host.id);
    const t = Date.parse(unknown.updatedAt);
    // Newer than the cut, but the start is still on its way to the agent: it has not run the VM yet.
    await monitor.heartbeat(await store.hosts.get(host.id), report(new Date(t + 10), 'poweroff'));
    assert.equal((await store.hosts.get(host.id)).state, 'enabled', 'the host is back');
    assert.equal((await store.vms.get(vm.id)).state, 'unknown', 'not poweroff: the start in flight decides');
    await monitor.heartbeat(await store.hosts.get(host.id), { ...report(new Date(t + 20), 'running'), vms: [] });
    assert.equal((await store.vms.get(vm.id)).state, 'unknown', 'not lost either');
    // The start ended (its result dropped: the VM had moved on); the agent runs the VM, and the next beat says so.
    driving = false;
    await monitor.heartbeat(await store.hosts.get(host.id), report(new Date(t + 30), 'running'));
    const after = await store.vms.get(vm.id);
    assert.equal(after.state, 'running');
    assert.match(after.stateReason ?? '', /the agent reports running/);
  } finally {
    await cleanup();
  }
});

test('a VM cut mid-boot: a report older than the cut changes nothing; a newer one with nothing in flight settles it (poweroff, or lost when gone)', async () => {
  const { store, monitor, vm, host, report, cleanup } = await setup();
  try {
    const unknown = await cutMidBoot(store, vm.id, host.id);
    const t = Date.parse(unknown.updatedAt);
    await monitor.heartbeat(await store.hosts.get(host.id), report(new Date(t - 10), 'poweroff'));
    assert.equal((await store.vms.get(vm.id)).state, 'unknown', 'sampled before the cut: says nothing of the VM now');
    await monitor.heartbeat(await store.hosts.get(host.id), { ...report(new Date(t + 10), 'running'), vms: [] });
    const lost = await store.vms.get(vm.id);
    assert.equal(lost.state, 'failed', 'really gone from its host: lost');
    assert.match(lost.stateReason ?? '', /^lost: the agent reports no such VM/);
  } finally {
    await cleanup();
  }
});

test('most hosts silent at once are held as the controller\'s trouble, then declared after the hold; a few are declared at once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-mon-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  try {
    const hosts: Awaited<ReturnType<typeof store.hosts.register>>[] = [];
    for (let i = 0; i < 12; i++) {
      const h = await store.hosts.register({ name: `m${i}`, agentUrl: `http://127.0.0.1:${9000 + i}`, agentToken: `${'t'.repeat(19)}${i.toString(16)}`, totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
      await store.hosts.setState(h.id, 'enabled');
      hosts.push(h);
    }
    const monitor = new HostMonitor({ store, orchestrator: { schedulePending: async () => {} } as unknown as VmOrchestrator, logger: pino({ level: 'silent' }), heartbeatIntervalMs: 1000, massSilence: { holdMs: 20_000 } });
    const t0 = Date.now() + 60_000;
    // Two hosts keep beating; ten (over half of twelve, and at least ten) went quiet together.
    const beat = async (at: number) => { for (const h of hosts.slice(0, 2)) await store.hosts.recordHeartbeat(h.id, {}, new Date(at)); };
    await beat(t0 - 500);
    await monitor.checkSilence(t0);
    const states = async () => (await store.hosts.list()).filter((h) => h.name.startsWith('m')).map((h) => h.state);
    assert.deepEqual(await states(), Array<string>(12).fill('enabled'), 'ten of twelve silent at once: nobody is declared lost yet');
    const events = (await store.events.listSince(0, 100)).filter((e) => e.kind === 'controller.mass-silence');
    assert.equal(events.length, 1, 'the hold is announced');
    assert.deepEqual({ silent: events[0]?.data['silent'], enabled: events[0]?.data['enabled'] }, { silent: 10, enabled: 12 });
    await beat(t0 + 10_000 - 500);
    await monitor.checkSilence(t0 + 10_000);
    assert.deepEqual(await states(), Array<string>(12).fill('enabled'), 'still within the hold');
    assert.equal((await store.events.listSince(0, 100)).filter((e) => e.kind === 'controller.mass-silence').length, 1, 'announced once per episode');
    await beat(t0 + 21_000 - 500);
    await monitor.checkSilence(t0 + 21_000);
    assert.deepEqual(await states(), [...Array<string>(2).fill('enabled'), ...Array<string>(10).fill('error')], 'a silence longer than the hold is declared all the same');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a few silent hosts among many are declared at once (no hold)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-mon-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  try {
    const hosts: Awaited<ReturnType<typeof store.hosts.register>>[] = [];
    for (let i = 0; i < 30; i++) {
      const h = await store.hosts.register({ name: `m${i}`, agentUrl: `http://127.0.0.1:${9000 + i}`, agentToken: `${'t'.repeat(19)}${i.toString(16).padStart(2, '0')}`, totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
      await store.hosts.setState(h.id, 'enabled');
      hosts.push(h);
    }
    const monitor = new HostMonitor({ store, orchestrator: { schedulePending: async () => {} } as unknown as VmOrchestrator, logger: pino({ level: 'silent' }), heartbeatIntervalMs: 1000 });
    const t0 = Date.now() + 60_000;
    // Twelve of thirty silent: at least ten, but under half — hosts failing, not the controller.
    for (const h of hosts.slice(12)) await store.hosts.recordHeartbeat(h.id, {}, new Date(t0 - 500));
    await monitor.checkSilence(t0);
    const inError = (await store.hosts.list()).filter((h) => h.state === 'error').map((h) => h.name).sort();
    assert.deepEqual(inError, hosts.slice(0, 12).map((h) => h.name).sort());
    assert.equal((await store.events.listSince(0, 100)).filter((e) => e.kind === 'controller.mass-silence').length, 0);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
