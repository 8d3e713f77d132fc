import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import type { ControllerVmSpec } from '../src/controller/controller-vm-spec.js';
import type { JsonObject } from '../src/store/store-context.js';

// Every pre-check's refusal through the API, with hosts and a running VM put
// straight into the store (no agent runs: nothing here may reach one). Each
// refusal names its check and field, and writes nothing.

let root: string;
let controller: ControllerDaemon;
let admin: string;
let bob: string;
let vmId: string;
let stoppedId: string;
let failedId: string;
let offId: string;
let pickyId: string;

interface ErrorBody { code: string; message: string; details: Record<string, unknown> }
async function call(method: string, path: string, body?: unknown, token = admin): Promise<{ status: number; body: { error?: ErrorBody } & Record<string, unknown> }> {
  const res = await fetch(`${controller.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as { error?: ErrorBody } };
}

/** Everything a refused request could have written. */
async function snapshot(): Promise<unknown> {
  const s = controller.store;
  return { hosts: await s.hosts.list(), vms: await s.vms.list(), migrations: await s.migrations.list(), seq: await s.events.lastSeq() };
}

async function refused(body: unknown, e: { status: number; code: string; check?: string; field?: string; match?: RegExp }, id = vmId, token = admin): Promise<void> {
  const before = await snapshot();
  const a = await call('POST', `/api/v1/vms/${id}/migrate`, body, token);
  const what = `${JSON.stringify(body)} → ${JSON.stringify(a.body)}`;
  assert.equal(a.status, e.status, what);
  assert.equal(a.body.error?.code, e.code, what);
  if (e.check !== undefined) assert.equal(a.body.error?.details['check'], e.check, what);
  if (e.field !== undefined) assert.equal(a.body.error?.details['field'], e.field, what);
  if (e.match) assert.match(a.body.error?.message ?? '', e.match, what);
  assert.deepEqual(await snapshot(), before, `${what}: nothing written`);
}

async function host(name: string, memoryMib: number, usage: JsonObject): Promise<string> {
  const s = controller.store;
  const h = await s.hosts.register({ name, agentUrl: 'http://127.0.0.1:9', agentToken: `${name}-token`, totalCpus: 4, totalMemoryMib: memoryMib, totalDiskMib: 100_000 });
  await s.hosts.setState(h.id, 'enabled');
  await s.hosts.recordHeartbeat(h.id, usage);
  return h.id;
}

async function vm(name: string, hostId: string, state: 'running' | 'poweroff' | 'failed', cpuModel = 'qemu64', requirements?: string): Promise<string> {
  const s = controller.store;
  const spec: ControllerVmSpec = {
    agent: {
      vcpus: 1, memoryMiB: 128, cpuModel,
      disk: { image: { id: 'img', url: 'http://127.0.0.1:9/img', sha256: '0'.repeat(64), sizeBytes: 1, format: 'qcow2' }, mode: 'overlay', datastore: 'local' },
      nics: [{ mac: '52:54:00:00:00:01', bridge: 'br0' }],
      context: { hostname: name },
    },
    demand: { vcpus: 1, memoryMiB: 128, diskMiB: 100, cpuModel, ...(requirements !== undefined ? { requirements } : {}) },
  };
  const v = await s.vms.create({ name, ownerId: (await s.users.list()).find((u) => u.role === 'admin')!.id, spec: spec as unknown as JsonObject });
  await s.vms.bindToHost(v.id, hostId, { cpus: 1, memoryMib: 128, diskMib: 100 });
  await s.vms.transition(v.id, { from: ['prolog'], to: 'boot', action: 'test' });
  await s.vms.transition(v.id, { from: ['boot'], to: 'running', action: 'test' });
  if (state !== 'running') await s.vms.transition(v.id, { from: ['running'], to: state, action: 'test' });
  return v.id;
}

const facts = (o: { cpuModels?: string[]; bridges?: string[]; tls?: boolean; shared?: boolean } = {}): JsonObject => ({
  load: 0, usedMemoryMiB: 0, usedDiskMiB: 0, kvm: false,
  cpuModels: o.cpuModels ?? ['qemu64', 'kvm64'],
  bridges: o.bridges ?? ['br0'],
  migration: { address: '198.18.1.9', tls: o.tls ?? true, sharedDatastore: o.shared ?? true },
});

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-migrefuse-'));
  // Heartbeats are never due: no background write races the "nothing written" checks.
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  admin = (await controller.bootstrapAdmin())!;
  bob = (await controller.store.users.create({ name: 'bob' })).token;
  const h1 = await host('h1', 8192, facts());
  await host('small', 96, facts());
  await host('oldcpu', 8192, facts({ cpuModels: ['kvm64'] }));
  await host('nobridge', 8192, facts({ bridges: ['br9'] }));
  await host('plain', 8192, facts({ tls: false }));
  const off = await host('off', 8192, facts());
  await controller.store.hosts.setState(off, 'disabled');
  vmId = await vm('web', h1, 'running');
  stoppedId = await vm('idle', h1, 'poweroff');
  failedId = await vm('broken', h1, 'failed');
  pickyId = await vm('picky', h1, 'running', 'qemu64', 'hostname == "h1" || hostname == "plain"');
  offId = off;
});

after(async () => {
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

test('live migration refusals name their check and field and change nothing', async () => {
  await refused({ to: 'ghost' }, { status: 409, code: 'MIGRATION_REFUSED', check: 'host-unknown', field: 'to', match: /ghost/ });
  await refused({ to: 'h1' }, { status: 409, code: 'MIGRATION_REFUSED', check: 'same-host', field: 'to', match: /h1/ });
  await refused({ to: 'off' }, { status: 409, code: 'MIGRATION_REFUSED', check: 'host-state', field: 'to', match: /off/ });
  await refused({ to: offId }, { status: 409, code: 'MIGRATION_REFUSED', check: 'host-state' });
  await refused({ to: 'small' }, { status: 409, code: 'MIGRATION_REFUSED', check: 'capacity', match: /small.*96 MiB.*128 MiB|128 MiB.*96 MiB/ });
  await refused({ to: 'oldcpu' }, { status: 409, code: 'MIGRATION_REFUSED', check: 'cpu', match: /qemu64/ });
  await refused({ to: 'nobridge' }, { status: 409, code: 'MIGRATION_REFUSED', check: 'network', match: /br0/ });
  await refused({ to: 'plain' }, { status: 409, code: 'MIGRATION_REFUSED', check: 'tls' });
  // No --to and no host passes: every host's reason, said once (the summary used to be prefixed twice).
  await refused({}, { status: 409, code: 'MIGRATION_REFUSED', field: 'to', match: /^no host can take the VM: (?!no host)(?=.*host small)(?=.*host oldcpu)/ });
  // Neither live (running) nor cold (poweroff, suspended) moves a failed VM.
  await refused({ to: 'small' }, { status: 409, code: 'MIGRATION_REFUSED', check: 'vm-state', match: /failed/ }, failedId);
  // An explicit destination its requirements exclude: named (check, field `to`, the expression) before capacity; `force` lifts only that check.
  await refused({ to: 'small' }, { status: 409, code: 'MIGRATION_REFUSED', check: 'requirements', field: 'to', match: /^host small does not meet the VM's requirements \(hostname == "h1" \|\| hostname == "plain"\)$/ }, pickyId);
  await refused({ to: 'small', force: true }, { status: 409, code: 'MIGRATION_REFUSED', check: 'capacity', match: /96 MiB/ }, pickyId);
  await refused({ to: 'plain', force: true }, { status: 409, code: 'MIGRATION_REFUSED', check: 'tls' }, pickyId);
  // Without `to`: only the hosts its requirements allow are candidates, and `plain` differs in TLS — refused, each reason given.
  await refused({}, { status: 409, code: 'MIGRATION_REFUSED', field: 'to', match: /host small does not meet the VM's requirements.*TLS is on at host h1 but off at host plain|TLS is on at host h1 but off at host plain.*host small does not meet/ }, pickyId);
  // A powered-off VM moves cold: the same checks but migration TLS.
  await refused({ to: 'small' }, { status: 409, code: 'MIGRATION_REFUSED', check: 'capacity', match: /96 MiB/ }, stoppedId);
});

test('bad requests: unknown VM, bad policy fields, plain users → clear errors, nothing written', async () => {
  const before = await snapshot();
  assert.equal((await call('POST', '/api/v1/vms/no-such-vm/migrate', {})).status, 404);
  for (const [policy, field] of [[{ downtimeMs: -1 }, 'policy.downtimeMs'], [{ maxBandwidthMiBps: 0 }, 'policy.maxBandwidthMiBps'], [{ timeoutS: 'soon' }, 'policy.timeoutS'], [{ warp: 9 }, 'policy']] as const) {
    const a = await call('POST', `/api/v1/vms/${vmId}/migrate`, { to: 'small', policy });
    assert.equal(a.status, 400, JSON.stringify(a.body));
    assert.equal(a.body.error?.code, 'VALIDATION_FAILED');
    const fields = ((a.body.error?.details['issues'] ?? []) as { field: string }[]).map((i) => i.field);
    assert.ok(fields.some((f) => f.startsWith(field)), `${JSON.stringify(policy)} names ${field}: ${JSON.stringify(fields)}`);
  }
  const a = await call('POST', `/api/v1/vms/${vmId}/migrate`, { to: 'small', tls: false });
  assert.equal(a.status, 400);
  // `force` overrides the requirements for an explicit destination only.
  const f = await call('POST', `/api/v1/vms/${vmId}/migrate`, { force: true });
  assert.equal(f.status, 400, JSON.stringify(f.body));
  assert.ok(((f.body.error?.details['issues'] ?? []) as { field: string }[]).some((i) => i.field === 'force'), JSON.stringify(f.body));
  const u = await call('POST', `/api/v1/vms/${vmId}/migrate`, {}, bob);
  assert.equal(u.status, 403);
  assert.equal(u.body.error?.code, 'FORBIDDEN');
  assert.equal((await call('POST', '/api/v1/migrations/nope/cancel', undefined)).status, 404);
  assert.equal((await call('GET', '/api/v1/migrations/nope')).status, 404);
  assert.deepEqual((await call('GET', '/api/v1/migrations', undefined, bob)).body, [], 'bob sees no migration of the admin\'s VMs');
  assert.deepEqual(await snapshot(), before);
});

test('without --to, the scheduler refuses with every host\'s reason when none fits', async () => {
  // Only `small` (no room), `oldcpu`, `nobridge`, `plain` and `off` besides h1: none fits.
  const before = await snapshot();
  const a = await call('POST', `/api/v1/vms/${vmId}/migrate`, {});
  assert.equal(a.status, 409, JSON.stringify(a.body));
  assert.equal(a.body.error?.code, 'MIGRATION_REFUSED');
  for (const name of ['small', 'oldcpu', 'nobridge', 'plain', 'off']) assert.match(a.body.error?.message ?? '', new RegExp(`\\b${name}\\b`), `${name}'s reason is given`);
  assert.deepEqual(await snapshot(), before);
});
