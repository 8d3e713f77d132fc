import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { QemuDriver } from '../hypervisor/qemu/qemu-driver.js';
import { ValidationError } from '../errors/validation-error.js';
import { agentVmSpecSchema } from '../contract/agent-api.js';
import { AgentHost } from './agent-host.js';
import { ImageCache } from './image-cache.js';
import { sameSpecBesidesFirewall } from './vm-firewalls.js';

const logger = pino({ level: 'silent' });
const VM = 'v0123456789abcdef0123456789abcdef';
const WEB = [{ protocol: 'tcp' as const, fromPort: 80, toPort: 80, cidr: '198.18.0.0/15' }];

async function withHost(fn: (h: AgentHost, dataDir: string) => Promise<void>, netns?: string): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'nubo-fw-'));
  const dataDir = join(root, 'data');
  const driver = await QemuDriver.create({ runDir: join(root, 'run'), allowedDirs: [dataDir], accel: 'tcg', logger });
  try {
    await fn(new AgentHost({ dataDir, hypervisor: driver, images: new ImageCache(join(dataDir, 'images'), 'token'), logger, netns }), dataDir);
  } finally {
    await driver.close();
    await rm(root, { recursive: true, force: true });
  }
}

test('a pushed firewall is kept for a VM this host does not run yet, and an older revision never replaces a newer one', async () => {
  await withHost(async (h) => {
    assert.deepEqual(await h.firewalls.set(VM, { revision: 2, rules: WEB }), { revision: 2, applied: false });
    assert.deepEqual(await h.firewalls.set(VM, { revision: 1, rules: [] }), { revision: 2, applied: false }, 'a push that crossed a newer one');
    assert.deepEqual(await h.firewalls.desired(VM, undefined), { revision: 2, rules: WEB });
    // The spec a migration or a boot brings wins when it is newer.
    const spec = agentVmSpecSchema.parse({ vcpus: 1, memoryMiB: 128, disk: { image: { id: 'i', url: 'http://127.0.0.1:9/i', sha256: '0'.repeat(64), sizeBytes: 1, format: 'qcow2' } }, context: { hostname: 'a' }, firewall: { revision: 3, rules: null } });
    assert.deepEqual(await h.firewalls.desired(VM, spec), { revision: 3, rules: null });
    // The heartbeat says which revision the host holds.
    assert.deepEqual(await h.firewalls.reconcile([{ id: VM, state: 'poweroff' }, { id: 'v' + 'f'.repeat(32), state: 'poweroff' }]), [{ id: VM, state: 'poweroff', firewallRevision: 2 }, { id: 'v' + 'f'.repeat(32), state: 'poweroff' }]);
    await h.firewalls.afterEnd(VM, true);
    assert.equal(await h.firewalls.desired(VM, undefined), undefined, 'a VM that left forgets its pushed firewall');
  });
});

test('a bad firewall is refused with the field named, and nothing is written', async () => {
  await withHost(async (h, dataDir) => {
    for (const [body, field] of [
      [{ revision: 1, rules: [{ protocol: 'tcp', fromPort: 80, toPort: 80, cidr: 'everyone' }] }, 'rules.0.cidr'],
      [{ revision: -1, rules: null }, 'revision'],
      [{ revision: 1, rules: [{ protocol: 'gre', fromPort: 0, toPort: 0, cidr: '0.0.0.0/0' }] }, 'rules.0.protocol'],
    ] as const) {
      await assert.rejects(h.firewalls.set(VM, body), (err: unknown) => err instanceof ValidationError && err.field === field);
    }
    assert.deepEqual(await readdir(dataDir).catch(() => []), [], 'no firewall record made');
    await assert.rejects(h.firewalls.set('../etc', { revision: 1, rules: null }));
  });
});

test('specs that differ only in their firewall are the same VM (a prolog retried after a rule change is no conflict)', () => {
  const base = { vcpus: 1, memoryMiB: 128, disk: { image: { id: 'i', url: 'http://127.0.0.1:9/i', sha256: '0'.repeat(64), sizeBytes: 1, format: 'qcow2' } }, context: { hostname: 'a' } } as const;
  const a = agentVmSpecSchema.parse({ ...base, firewall: { revision: 1, rules: [] } });
  assert.ok(sameSpecBesidesFirewall(a, agentVmSpecSchema.parse({ ...base, firewall: { revision: 2, rules: WEB } })));
  assert.ok(sameSpecBesidesFirewall(a, agentVmSpecSchema.parse(base)));
  assert.ok(!sameSpecBesidesFirewall(a, agentVmSpecSchema.parse({ ...base, memoryMiB: 256 })));
});

test('a VM whose NICs are on no network starts without nft being asked, whatever its firewall', async () => {
  // A namespace that does not exist: any nft call through it fails, so the start passing shows none was made.
  await withHost(async (h) => {
    const spec = agentVmSpecSchema.parse({
      vcpus: 1, memoryMiB: 128, disk: { image: { id: 'i', url: 'http://127.0.0.1:9/i', sha256: '0'.repeat(64), sizeBytes: 1, format: 'qcow2' } },
      context: { hostname: 'a' }, nics: [{ mac: '52:54:00:12:34:56' }], firewall: { revision: 1, rules: WEB },
    });
    await h.firewalls.beforeStart(VM, spec);
    const bridged = agentVmSpecSchema.parse({ ...spec, nics: [{ mac: '52:54:00:12:34:56', bridge: 'nubo-nosuchbr' }] });
    await assert.rejects(h.firewalls.beforeStart(VM, bridged), 'with a TAP the rules are loaded (and here nft cannot be reached)');
  }, 'nubo-no-such-netns');
});
