import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import { pollUntil, sleep } from '../src/util/deadline.js';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';

// Room freed on a host wakes the VMs waiting for it (in-process controller and
// agent, real QEMU): nothing else would, since a heartbeat only schedules when
// a host comes (back) into service.

let cloud: InProcessCloud;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-wake-', logger });
});

after(async () => {
  await cloud?.stop();
});

async function waitState(id: string, states: readonly string[], timeoutMs = 180_000): Promise<VmDetailView> {
  return pollUntil(`VM ${id} ${states.join('|')}`, async () => {
    const v = await cloud.api.getVm(id);
    if (v.state === 'failed') throw new Error(`VM failed: ${v.stateReason ?? ''}`);
    return states.includes(v.state) ? v : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

test('vm stop frees its host: a VM waiting in pending for that room is scheduled at once', async () => {
  const { api } = cloud;
  // Each VM takes every CPU of the host: one at a time fits.
  const cpus = (await api.getHost('h1')).total.cpus;
  const a = await api.createVm({ template: 'tiny', vcpus: cpus });
  await waitState(a.id, ['running']);
  const b = await api.createVm({ template: 'tiny', vcpus: cpus });
  await sleep(2_000); // several heartbeats: none of them places b
  const waiting = await api.getVm(b.id);
  assert.equal(waiting.state, 'pending');
  assert.match(waiting.stateReason ?? '', /cpu/i, 'b waits for CPUs');
  await api.vmAction(a.id, 'stop');
  await waitState(a.id, ['stopped']);
  const freedAt = Date.now();
  await waitState(b.id, ['prolog', 'boot', 'running'], 5_000);
  const placedAfterMs = Date.now() - freedAt;
  const running = await waitState(b.id, ['running']);
  assert.equal(running.host, 'h1');
  assert.ok(placedAfterMs < 5_000, `scheduled ${placedAfterMs} ms after the room was freed`);
  // Terminating a stopped VM removes its copy in the system store; b goes with the cloud.
  await api.vmAction(a.id, 'terminate');
  await waitState(a.id, ['terminated']);
});
