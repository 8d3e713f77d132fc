import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore } from '../store/open-store.js';
import type { AgentClient } from '../client/agent-client.js';
import type { HostReport, VmFirewall } from '../contract/agent-api.js';
import { pollUntil } from '../util/deadline.js';
import { agentVmId } from './agent-vm-id.js';
import { sameRules } from '../contract/same-rules.js';
import { firewallOf, VmFirewallService } from './vm-firewall-service.js';

const WEB = [{ protocol: 'tcp' as const, fromPort: 80, toPort: 80, cidr: '198.18.0.0/15' }];

async function setup(failPush = false) {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-fws-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  const { user } = await store.users.create({ name: 'u', role: 'admin' });
  const host = await store.hosts.register({ name: 'h1', agentUrl: 'http://127.0.0.1:9', agentToken: 't'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
  await store.hosts.setState(host.id, 'enabled');
  const created = await store.vms.create({ name: 'v', ownerId: user.id });
  await store.vms.bindToHost(created.id, host.id, { cpus: 1, memoryMib: 128, diskMib: 64 });
  const pushed: { id: string; fw: VmFirewall }[] = [];
  const agent = {
    setFirewall: async (id: string, fw: VmFirewall) => {
      if (failPush) throw new Error('connection refused');
      pushed.push({ id, fw });
      return { revision: fw.revision, applied: true };
    },
  } as unknown as AgentClient;
  const svc = new VmFirewallService({ store, agentFor: () => agent, logger: pino({ level: 'silent' }) });
  const report = (revision: number | undefined): HostReport => ({
    name: 'h1', cpuModel: 'qemu64', cpuModels: ['qemu64'], cpuFlags: [], kvm: false, totalCpus: 4, totalMemoryMiB: 4096, totalDiskMiB: 10_000,
    usage: { load: 0, usedMemoryMiB: 0, usedDiskMiB: 0 }, vms: [{ id: agentVmId(created.id), state: 'running', ...(revision !== undefined ? { firewallRevision: revision } : {}) }], at: new Date().toISOString(),
  });
  return { store, svc, vmId: created.id, host: await store.hosts.get(host.id), pushed, report, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('a rule change is stored in the VM\'s spec with the next revision, then pushed to its host; the same rules again change nothing', async () => {
  const { store, svc, vmId, pushed, cleanup } = await setup();
  try {
    await svc.set(vmId, WEB);
    assert.deepEqual(firewallOf(await store.vms.get(vmId)), { revision: 1, rules: WEB });
    assert.deepEqual(pushed, [{ id: agentVmId(vmId), fw: { revision: 1, rules: WEB } }]);
    await svc.set(vmId, [...WEB]);
    assert.equal(pushed.length, 1, 'nothing to push');
    assert.equal(firewallOf(await store.vms.get(vmId))?.revision, 1);
    await svc.set(vmId, []);
    assert.deepEqual(pushed[1], { id: agentVmId(vmId), fw: { revision: 2, rules: [] } });
    await svc.set(vmId, null);
    assert.deepEqual(firewallOf(await store.vms.get(vmId)), { revision: 3, rules: null });
  } finally {
    await cleanup();
  }
});

test('a push that fails leaves the change stored; the host\'s next heartbeat with an older revision gets it again', async () => {
  const failing = await setup(true);
  try {
    await failing.svc.set(failing.vmId, WEB);
    assert.deepEqual(firewallOf(await failing.store.vms.get(failing.vmId)), { revision: 1, rules: WEB }, 'stored before the push, which failed');
  } finally {
    await failing.cleanup();
  }
  const { store, svc, vmId, host, pushed, report, cleanup } = await setup();
  try {
    await svc.set(vmId, WEB);
    pushed.length = 0;
    const bound = await store.vms.list({ hostId: host.id });
    assert.equal(svc.afterHeartbeat(host, report(1), bound), false, 'nothing to push');
    assert.equal(svc.afterHeartbeat(host, report(5), bound), false);
    assert.deepEqual(pushed, [], 'a host that holds this revision (or a newer) is left alone');
    assert.equal(svc.afterHeartbeat(host, report(undefined), bound), true, 'a push: the monitor looks at the next beat in full');
    await pollUntil('the push', async () => (pushed.length > 0 ? true : undefined), { timeoutMs: 5_000 });
    assert.deepEqual(pushed, [{ id: agentVmId(vmId), fw: { revision: 1, rules: WEB } }], 'an agent that restarted without it');
  } finally {
    await cleanup();
  }
});

test('sameRules compares rule sets, order aside; null (no firewall) only equals null', () => {
  const ssh = { protocol: 'tcp' as const, fromPort: 22, toPort: 22, cidr: '198.18.0.0/15' };
  assert.ok(sameRules([...WEB, ssh], [ssh, ...WEB]));
  assert.ok(!sameRules(WEB, [ssh]));
  assert.ok(!sameRules([], null));
  assert.ok(sameRules(null, null));
});
