import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { pino } from 'pino';
import WebSocket from 'ws';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { pollUntil } from '../src/util/deadline.js';
import { READY_MARKER } from '../src/storage/tiny-image/guest-init.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';

/**
 * Item 11 of issue 11 on one host with real QEMU: the interactive serial
 * console over the native API (controller → agent → QEMU's console socket)
 * with a shell on the tiny guest, refused to anyone but the owner or an
 * admin; and a host's own CPU overcommit letting more tiny VMs run than it
 * has cores, the one that does not fit saying why while it waits.
 */

let cloud: InProcessCloud;
before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-console-', logger: pino({ level: 'silent' }) });
});
after(async () => {
  await cloud?.stop();
});

const vmState = async (id: string, want: string, timeoutMs = 180_000): Promise<VmDetailView> =>
  pollUntil(`VM ${id} ${want}`, async () => {
    const vm = await cloud.api.getVm(id);
    if (vm.state === 'failed') throw new Error(`VM ${id} failed: ${vm.stateReason ?? ''}`);
    return vm.state === want ? vm : undefined;
  }, { timeoutMs, intervalMs: 250 });

const attachUrl = (id: string): string => `${cloud.controller.url.replace(/^http/, 'ws')}/api/v1/vms/${id}/console/attach`;

/** The HTTP status an upgrade was refused with (or 101 when it was accepted). */
function upgradeStatus(url: string, token: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, handshakeTimeout: 10_000 });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

test('console --attach: a shell on the guest answers typed commands; only the owner or an admin may attach', async () => {
  const created = await cloud.api.createVm({ template: 'tiny', name: 'con-1' });
  await vmState(created.id, 'running');
  await pollUntil('the guest ready', async () => ((await cloud.api.vmConsole(created.id)).includes(READY_MARKER) ? true : undefined), { timeoutMs: 120_000 });

  const ws = new WebSocket(attachUrl(created.id), { headers: { authorization: `Bearer ${cloud.api.token}` }, handshakeTimeout: 10_000 });
  let out = '';
  ws.on('message', (d: Buffer) => (out += d.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  try {
    // Enter activates the console's shell.
    await pollUntil('a shell prompt', async () => {
      ws.send(Buffer.from('\n'));
      // Busybox's line editing asks the terminal where its cursor is (ESC [6n) after the prompt.
      const tail = out.endsWith('\u001b[6n') ? out.slice(0, -4) : out;
      return tail.endsWith('# ') ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 1_000 }).catch((err: unknown) => {
      throw new Error(`${String(err)}; the console said: ${JSON.stringify(out.slice(-500))}`);
    });
    const word = `hello-${randomInt(1, 1_000_000)}`;
    ws.send(Buffer.from(`echo ${word}\n`));
    // The line the shell printed, not the echo of what was typed.
    const printed = new RegExp(`^${word}\\r?$`, 'm');
    await pollUntil(`"${word}" printed by the guest`, async () => (printed.test(out) ? true : undefined), { timeoutMs: 30_000 });
  } finally {
    ws.close();
  }

  const stranger = await cloud.controller.store.users.create({ name: 'stranger' });
  assert.equal(await upgradeStatus(attachUrl(created.id), stranger.token), 404, "a user who does not own the VM cannot attach (nor learn it exists)");
  assert.equal(await upgradeStatus(attachUrl(created.id), undefined), 401, 'no token, no console');
  // The stranger's own client sees the same.
  await assert.rejects(new NuboClient(cloud.controller.url, stranger.token).getVm(created.id), /not found/i);

  const doc = await (await fetch(`${cloud.controller.url}/api/v1/openapi.json`)).json() as { paths: Record<string, Record<string, { summary?: string }>> };
  assert.match(doc.paths['/api/v1/vms/{id}/console/attach']?.['get']?.summary ?? '', /WebSocket/);
});

test("a host's CPU overcommit lets more tiny VMs run than it has cores; the one that waits says why", async () => {
  const host = await cloud.api.getHost('h1');
  const cores = host.total.cpus;
  const running = (await cloud.api.listVms({ state: 'running' })).length;
  // Fill the host's cores at overcommit 1, then one more.
  const extra = [];
  for (let i = 0; i < cores - running + 1; i++) extra.push(await cloud.api.createVm({ template: 'tiny', name: `oc-${i}` }));
  const last = extra.at(-1)!;
  const waiting = await pollUntil('the last VM waiting with a reason', async () => {
    const vm = await cloud.api.getVm(last.id);
    return vm.state === 'pending' && vm.stateReason !== null ? vm : undefined;
  }, { timeoutMs: 60_000 });
  assert.match(waiting.stateReason ?? '', /needs 1 vCPU, 0 free/);

  const updated = await cloud.api.updateHost('h1', { cpuOvercommit: 4 });
  assert.equal(updated.cpuOvercommit, 4);
  for (const vm of extra) await vmState(vm.id, 'running', 300_000);
  assert.equal((await cloud.api.getHost('h1')).reserved.cpus, cores + 1, 'more vCPUs reserved than the host has cores');
  await assert.rejects(cloud.api.updateHost('h1', { cpuOvercommit: 0 }), /cpuOvercommit/);
  assert.equal((await cloud.api.getHost('h1')).cpuOvercommit, 4, 'a refused update changes nothing');
});
