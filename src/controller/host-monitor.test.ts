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
