import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore } from '../store/open-store.js';
import { compilePlacementPolicy } from '../core/placement/placement-policy.js';
import { Failpoints } from '../util/failpoints.js';
import type { HostReport } from '../contract/agent-api.js';
import type { AgentClient } from '../client/agent-client.js';
import { HaService } from './ha-service.js';

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-ha-svc-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  const registered = await store.hosts.register({ name: 'h1', agentUrl: 'http://127.0.0.1:9', agentToken: 't'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
  await store.hosts.setState(registered.id, 'enabled');
  const host = await store.hosts.get(registered.id);
  const calls = { schedulePending: 0, failpoint: 0 };
  const failpoints = new Failpoints();
  const ha = new HaService({
    store, agentFor: () => ({}) as unknown as AgentClient, policy: compilePlacementPolicy(), logger: pino({ level: 'silent' }), tickMs: 1000, failpoints,
    schedulePending: async () => void calls.schedulePending++,
  });
  const report = (degraded: string | null): HostReport => ({
    name: 'h1', cpuModel: 'qemu64', cpuModels: ['qemu64'], cpuFlags: [], kvm: false, totalCpus: 4, totalMemoryMiB: 4096, totalDiskMiB: 10_000,
    usage: { load: 0, usedMemoryMiB: 0, usedDiskMiB: 0 }, vms: [], at: new Date().toISOString(), health: { degraded },
  });
  const armFailpoint = (): void => failpoints.arm('ha.degraded-recorded', () => void calls.failpoint++);
  return { store, ha, host, report, calls, armFailpoint, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('a host healthy again wakes the VMs waiting in pending (they may fit on it now); unchanged health does not', async () => {
  const { store, ha, host, report, calls, cleanup } = await setup();
  try {
    await ha.admitHeartbeat(host, report('fan failure'));
    assert.equal((await store.hosts.get(host.id)).degraded, 'fan failure');
    assert.equal(calls.schedulePending, 0, 'turning degraded frees no room');
    await ha.admitHeartbeat(host, report(null));
    assert.equal((await store.hosts.get(host.id)).degraded, null);
    assert.equal(calls.schedulePending, 1);
    await ha.admitHeartbeat(host, report(null));
    assert.equal(calls.schedulePending, 1, 'a healthy host staying healthy changes nothing');
  } finally {
    await cleanup();
  }
});

test('ha.degraded-recorded is reached only when a change of health was journaled, not for the first report of an unchanged host', async () => {
  const { ha, host, report, calls, armFailpoint, cleanup } = await setup();
  try {
    armFailpoint();
    // A controller that just started learns the host's (unchanged, healthy) health: not the step.
    await ha.admitHeartbeat(host, report(null));
    assert.equal(calls.failpoint, 0);
    await ha.admitHeartbeat(host, report('disk errors'));
    assert.equal(calls.failpoint, 1, 'reached once the degradation is in the store');
  } finally {
    await cleanup();
  }
});
