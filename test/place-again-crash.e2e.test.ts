/**
 * A create whose host refuses the controller's connection is placed again on
 * another host (controller/place-again.ts), across controller crashes: a
 * fake fleet (real agent HTTP APIs over the fake driver) beating a real
 * controller process; host f1 beats as usual but its agent address refuses
 * connections (its API down, its heartbeat alive), the other hosts are
 * disabled so that the create goes to f1. The controller is SIGKILLed by a
 * failpoint after the refused call, before the VM is written back to pending
 * (`vm.prolog.place-again`), and after that write, before it is placed
 * (`vm.prolog.placed-again`); restarted on the same data directory and URL,
 * it places the VM on another host once another is enabled: every VM runs
 * exactly once, where the store binds it, f1 holds no reservation and no VM,
 * and each VM was placed again once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { allEvents } from './support/all-events.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { freePort, startControllerProcess } from './support/controller-process.js';
import { startFleetCrashSite } from './support/fleet-crash-site.js';

const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

test('a controller SIGKILLed between a create\'s refused call and its placement elsewhere places the VM once after its restart', { timeout: 900_000 }, async (t) => {
  const site = await startFleetCrashSite(t, { prefix: 'nubo-place-again-', hosts: 3, logger });
  const { root, base, adminToken, api, fleet: f } = site;
  // f1's agent address: a port nothing listens on (taken and let go), so every connection to it is refused.
  const refusing = `http://127.0.0.1:${await freePort()}`;
  for (const h of f.hosts) await api.registerHost({ name: h.name, agentUrl: h.name === 'f1' ? refusing : h.url, agentToken: h.token });
  assert.equal(await f.beatAll(), 3);
  f.startBeating();
  await pollUntil('every host enabled', async () => ((await api.listHosts()).every((h) => h.state === 'enabled') ? true : undefined), { timeoutMs: 60_000, intervalMs: 500 });
  const disk = join(root, 'disk.qcow2');
  await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1M'], { timeoutMs: 30_000 });
  await api.uploadImage({ name: 'disk', file: disk });
  await api.createTemplate({ name: 'small', vcpus: 1, memoryMiB: 128, image: 'disk' });

  const created: string[] = [];
  for (const point of ['vm.prolog.place-again', 'vm.prolog.placed-again']) {
    // Only f1 takes VMs: the create goes there and its prolog is refused.
    for (const h of ['f2', 'f3']) await api.disableHost(h);
    await site.ctl?.stop();
    site.ctl = undefined;
    const dying = await startControllerProcess({ ...base, adminToken, env: { NUBO_FAILPOINTS: `${point}=exit` } });
    let died = false;
    void dying.exited.then(() => { died = true; });
    const vm = await api.createVm({ template: 'small', name: `v-${point.split('.').at(-1)}` }, { timeoutMs: 60_000 });
    created.push(vm.id);
    // Bound to f1 and refused there: with no other host enabled it is not placed again, its prolog retries f1.
    await pollUntil(`${vm.name} in its prolog on f1`, async () => {
      const v = await api.getVm(vm.id, { timeoutMs: 60_000 });
      return v.state === 'prolog' && v.host === 'f1' ? v : undefined;
    }, { timeoutMs: 120_000, intervalMs: 200 });
    assert.equal(died, false, 'not placed again while f1 is the only host');
    // Room elsewhere: the next refusal places it again — and the controller dies at the failpoint.
    await api.enableHost('f2');
    let timer: NodeJS.Timeout | undefined;
    const signal = await Promise.race([dying.exited, new Promise((r) => { timer = setTimeout(() => r('still running'), 120_000); })]);
    clearTimeout(timer);
    if (signal !== 'SIGKILL') await dying.stop();
    assert.equal(signal, 'SIGKILL', `the controller died at ${point}`);

    site.ctl = await startControllerProcess({ ...base, adminToken });
    const running = await pollUntil(`${vm.name} running`, async () => {
      const v = await api.getVm(vm.id, { timeoutMs: 60_000 });
      return v.state === 'running' || v.state === 'failed' ? v : undefined;
    }, { timeoutMs: 180_000, intervalMs: 500 });
    assert.equal(running.state, 'running', `reason: ${running.stateReason}`);
    assert.equal(running.host, 'f2');
  }

  // Exactly once: each VM on the host the store binds it to, nowhere else; none on f1.
  const vms = await api.listVms({}, { timeoutMs: 60_000 });
  const where = new Map<string, string[]>();
  for (const h of f.hosts) for (const id of h.driver.host.vms.keys()) where.set(id, [...(where.get(id) ?? []), h.name]);
  assert.equal(where.size, created.length);
  for (const v of vms) assert.deepEqual(where.get(agentVmId(v.id)), [v.host], `${v.name} runs once, on its host`);
  assert.equal(f.host('f1').driver.host.vms.size, 0);
  const hosts = await api.listHosts();
  assert.deepEqual(hosts.map((h) => [h.name, h.reserved.cpus]).sort(), [['f1', 0], ['f2', 2], ['f3', 0]]);
  const events = await allEvents(api);
  for (const id of created) {
    const again = events.filter((e) => e.kind === 'vm.state' && e.resourceId === id && e.data['from'] === 'prolog' && e.data['to'] === 'pending');
    assert.equal(again.length, 1, 'placed again once');
    assert.match(String(again[0]!.data['reason']), /placed again: host f1 could not be reached and never received the request .*ECONNREFUSED/);
    const prologs = events.filter((e) => e.kind === 'vm.state' && e.resourceId === id && e.data['to'] === 'prolog');
    assert.equal(prologs.length, 2, 'bound twice: f1, then f2');
  }
});
