import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QemuLiveMigration, type QemuMigrationHost } from './qemu-live-migration.js';
import type { QmpClient } from './qmp-client.js';
import type { QmpEvent } from './qmp-schema.js';
import type { WaitOptions } from '../../util/deadline.js';
import { QmpError } from './qmp-error.js';
import type { VmMigrationRecord, VmRecord } from './vm-record.js';
import { parseVmSpec } from '../vm-spec.js';
import type { MigrationParameters } from '../live-migration.js';

const spec = parseVmSpec({
  id: 'vm-1',
  vcpus: 1,
  memoryMiB: 128,
  boot: { kind: 'kernel', kernel: '/img/k' },
  disks: [
    { id: 'data', path: '/ds/d.qcow2', format: 'qcow2' },
    { id: 'ro', path: '/ds/ro.raw', format: 'raw', readOnly: true },
  ],
});

type Handler = (args: Record<string, unknown> | undefined) => unknown;

/** A QMP stand-in answering from a table and recording every command, and a host holding one VM record. */
function fixture(answers: Record<string, Handler>, migration?: VmMigrationRecord) {
  const sent: { command: string; args: Record<string, unknown> | undefined }[] = [];
  const listeners = new Set<(e: QmpEvent) => void>();
  const qmp = {
    waitForEvent(name: string, opts: WaitOptions & { match?: (e: QmpEvent) => boolean } = {}) {
      return new Promise<QmpEvent>((resolve, reject) => {
        const end = (): void => {
          clearTimeout(timer);
          listeners.delete(on);
        };
        const on = (e: QmpEvent): void => {
          if (e.event !== name || (opts.match && !opts.match(e))) return;
          end();
          resolve(e);
        };
        const timer = setTimeout(() => {
          end();
          reject(new Error(`timed out waiting for ${name}`));
        }, opts.timeoutMs ?? 30_000);
        opts.signal?.addEventListener('abort', () => {
          end();
          reject(new Error('aborted'));
        }, { once: true });
        listeners.add(on);
      });
    },
    execute(command: string, args?: Record<string, unknown>) {
      sent.push({ command, args });
      const h = answers[command];
      if (!h) return Promise.resolve({});
      try {
        return Promise.resolve(h(args));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },
  } as unknown as QmpClient;
  let record: VmRecord = { spec, taps: [], startedAt: '', migration };
  const launched: string[] = [];
  const host: QemuMigrationHost = {
    launchIncoming: (s, o) => {
      launched.push(o.autostart === true ? `${s.id} autostart` : s.id);
      return Promise.resolve();
    },
    qmp: () => qmp,
    record: () => record,
    setMigration: (_id, m) => {
      record = { ...record, migration: m };
      return Promise.resolve();
    },
    destroy: () => Promise.resolve(),
  };
  const emit = (event: string, data: Record<string, unknown>): void => {
    for (const l of [...listeners]) l({ event, data, timestamp: { seconds: 0, microseconds: 0 } });
  };
  return { lm: new QemuLiveMigration(host), sent, launched, record: () => record, emit, listening: () => listeners.size };
}

const params: MigrationParameters = { maxBandwidthBytes: 1 << 20, downtimeLimitMs: 300, autoConverge: true, xbzrle: false, postcopy: true };
const code = (c: string) => (err: unknown): boolean => (err as { code?: string }).code === c;
const running = () => ({ status: 'running', running: true });

test('startIncoming validates before anything starts', async () => {
  const f = fixture({});
  await assert.rejects(f.lm.startIncoming(spec, { listenHost: 'host-b', nbdDisks: ['nope', 'ro'], port: 70000 }), (err: unknown) => {
    assert.ok(code('VALIDATION_FAILED')(err));
    assert.match(String(err), /listenHost/);
    return true;
  });
  assert.deepEqual(f.launched, []);
});

test('startIncoming: capabilities, TLS server creds, NBD exports, then migrate-incoming on port 0 and the real port back', async () => {
  const f = fixture({
    'qom-list': () => [],
    'query-migrate': () => ({ 'socket-address': [{ type: 'inet', host: '198.18.0.2', port: '40123' }] }),
  });
  const ready = await f.lm.startIncoming(spec, { listenHost: '198.18.0.2', nbdDisks: ['data'], nbdPort: 10809, tls: { dir: '/pki/b' }, postcopy: true });
  assert.deepEqual(ready, { uri: 'tcp:198.18.0.2:40123', nbd: { host: '198.18.0.2', port: 10809, exports: [{ diskId: 'data', name: 'data' }] } });
  assert.deepEqual(f.sent.map((c) => c.command), [
    'migrate-set-capabilities', 'qom-list', 'object-add', 'migrate-set-parameters', 'nbd-server-start', 'block-export-add', 'migrate-incoming', 'query-migrate',
  ]);
  // x-ignore-shared off, said explicitly: a live migration must carry the guest's RAM.
  assert.deepEqual(f.sent[0]!.args, { capabilities: [{ capability: 'events', state: true }, { capability: 'postcopy-ram', state: true }, { capability: 'x-ignore-shared', state: false }] });
  assert.deepEqual(f.sent[2]!.args, { 'qom-type': 'tls-creds-x509', id: 'mig-tls-in', dir: '/pki/b', endpoint: 'server', 'verify-peer': true });
  assert.deepEqual(f.sent[4]!.args, { addr: { type: 'inet', data: { host: '198.18.0.2', port: '10809' } }, 'tls-creds': 'mig-tls-in' });
  assert.deepEqual(f.sent[5]!.args, { type: 'nbd', id: 'exp-data', 'node-name': 'd-data', name: 'data', writable: true });
  assert.deepEqual(f.sent[6]!.args, { uri: 'tcp:198.18.0.2:0' });
  assert.deepEqual(f.record().migration, { role: 'incoming', nbd: true, tls: true });
});

test('migrateOut refuses while a disk mirror is not ready, and sends no migrate', async () => {
  const f = fixture({
    'query-status': running,
    'query-block-jobs': () => [{ type: 'mirror', device: 'mirror-data', len: 100, offset: 10, ready: false, status: 'running', busy: true, paused: false, speed: 0 }],
  });
  await assert.rejects(f.lm.migrateOut('vm-1', { uri: 'tcp:198.18.0.2:4000', params }), (err: unknown) => {
    assert.ok(code('VM_INVALID_STATE')(err));
    assert.match(String(err), /mirror-data running 10\/100/);
    return true;
  });
  assert.ok(!f.sent.some((c) => c.command === 'migrate'));
});

test('migrateOut sets every capability and parameter (TLS off explicitly), records the run state, then migrates', async () => {
  const f = fixture({ 'query-status': running, 'query-block-jobs': () => [] });
  await f.lm.migrateOut('vm-1', { uri: 'tcp:198.18.0.2:4000', params });
  assert.deepEqual(f.sent.map((c) => c.command), ['query-status', 'query-block-jobs', 'migrate-set-capabilities', 'migrate-set-parameters', 'migrate']);
  assert.deepEqual(f.sent[2]!.args, {
    capabilities: [
      { capability: 'events', state: true },
      { capability: 'auto-converge', state: true },
      { capability: 'xbzrle', state: false },
      { capability: 'postcopy-ram', state: true },
      { capability: 'return-path', state: false },
      // Always off, said explicitly: a save of format 2 turns it on, and on it would skip the guest's RAM (a memfd).
      { capability: 'x-ignore-shared', state: false },
    ],
  });
  assert.deepEqual(f.sent[3]!.args, { 'downtime-limit': 300, 'max-bandwidth': 1 << 20, 'tls-creds': '', 'tls-hostname': '' });
  assert.deepEqual(f.record().migration, { role: 'outgoing', started: true, wasRunning: true });
  await assert.rejects(f.lm.migrateOut('vm-1', { uri: 'unix:/x', params }), code('VALIDATION_FAILED'));
});

test('migrateOut to a destination that resumes on completion asks for the return path and records it', async () => {
  const f = fixture({ 'query-status': running, 'query-block-jobs': () => [] });
  await f.lm.migrateOut('vm-1', { uri: 'tcp:198.18.0.2:4000', params, destAutostart: true });
  const caps = (f.sent[2]!.args as { capabilities: { capability: string; state: boolean }[] }).capabilities;
  assert.deepEqual(caps.find((c) => c.capability === 'return-path'), { capability: 'return-path', state: true });
  assert.deepEqual(f.record().migration, { role: 'outgoing', started: true, wasRunning: true, destAutostart: true });
});

test('post-copy is refused unless its capability was enabled', async () => {
  const f = fixture({
    'query-migrate': () => ({ status: 'active' }),
    'query-migrate-capabilities': () => [{ capability: 'postcopy-ram', state: false }],
  }, { role: 'outgoing', started: true, wasRunning: true });
  await assert.rejects(f.lm.tuneMigration('vm-1', { startPostcopy: true }), code('VM_INVALID_STATE'));
  assert.ok(!f.sent.some((c) => c.command === 'migrate-start-postcopy'));
  await assert.rejects(f.lm.tuneMigration('vm-1', { cpuThrottlePercent: 100 }), code('VALIDATION_FAILED'));
});

test('activateIncoming never sends cont to a destination still inmigrate (it would arm autostart)', async () => {
  const f = fixture({ 'query-status': () => ({ status: 'inmigrate', running: false }) }, { role: 'incoming', nbd: true, tls: false });
  await assert.rejects(f.lm.activateIncoming('vm-1'), code('VM_INVALID_STATE'));
  assert.ok(!f.sent.some((c) => c.command === 'cont'));
});

test('activateIncoming: NBD server stopped ("not running" is fine), cont, running', async () => {
  let state = 'paused';
  const f = fixture({
    'query-status': () => ({ status: state, running: state === 'running' }),
    'nbd-server-stop': () => {
      throw new QmpError('nbd-server-stop', 'GenericError', 'NBD server not running');
    },
    cont: () => {
      state = 'running';
      return {};
    },
  }, { role: 'incoming', nbd: true, tls: false });
  await f.lm.activateIncoming('vm-1');
  assert.deepEqual(f.sent.map((c) => c.command), ['query-status', 'nbd-server-stop', 'cont', 'query-status']);
  assert.equal(f.record().migration, undefined);
});

test('activateIncoming over TLS: cont, then the running check and the credentials clean-up sent together, in order', async () => {
  let state = 'paused';
  const f = fixture({
    'query-status': () => ({ status: state, running: state === 'running' }),
    'qom-list': () => [{ name: 'mig-tls-in', type: 'child<tls-creds-x509>' }],
    cont: () => {
      state = 'running';
      return {};
    },
  }, { role: 'incoming', nbd: false, tls: true });
  await f.lm.activateIncoming('vm-1');
  assert.deepEqual(f.sent.map((c) => c.command), ['query-status', 'cont', 'query-status', 'migrate-set-parameters', 'qom-list', 'object-del']);
  assert.deepEqual(f.sent[3]!.args, { 'tls-creds': '' });
  assert.equal(f.record().migration, undefined);
});

test('migrationStatus with waitMs answers as soon as the MIGRATION event says completed, without waiting for the final figures', async () => {
  let info: Record<string, unknown> = { status: 'active', ram: { transferred: 10, remaining: 90, total: 100 } };
  const f = fixture({ 'query-migrate': () => info, 'query-block-jobs': () => [] }, { role: 'outgoing', started: true, wasRunning: true });
  const t0 = Date.now();
  const answer = f.lm.migrationStatus('vm-1', { waitMs: 5_000 });
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(f.listening(), 1, 'it listens for the end');
  // Completed, but QEMU has not filled in total-time and downtime yet: the guest is paused, so the answer goes at once
  // (the controller reads the figures after the switch).
  info = { status: 'completed', 'total-time': 0, ram: { transferred: 100, remaining: 0, total: 100 } };
  f.emit('MIGRATION', { status: 'active' });
  f.emit('MIGRATION', { status: 'completed' });
  const p = await answer;
  assert.ok(Date.now() - t0 < 1_000, 'answered at the event, not after waitMs');
  assert.equal(p.status, 'completed');
  assert.equal(p.transferredBytes, 100);
  assert.equal(p.downtimeMs, undefined, 'not waited for');
  assert.equal(f.listening(), 0, 'stops listening');
  info = { status: 'completed', 'total-time': 812, downtime: 31, ram: { transferred: 100, remaining: 0, total: 100 } };
  const later = await f.lm.migrationStatus('vm-1');
  assert.deepEqual([later.totalTimeMs, later.downtimeMs], [812, 31], 'a later read has them');
});

test('migrationStatus with waitMs: a migration not in flight answers at once; one that goes on answers after waitMs, read afresh', async () => {
  let info: Record<string, unknown> = { status: 'completed', 'total-time': 500, downtime: 20 };
  const f = fixture({ 'query-migrate': () => info, 'query-block-jobs': () => [] }, { role: 'outgoing', started: true, wasRunning: true });
  const t0 = Date.now();
  assert.equal((await f.lm.migrationStatus('vm-1', { waitMs: 5_000 })).status, 'completed');
  assert.ok(Date.now() - t0 < 1_000);
  assert.equal(f.listening(), 0);
  info = { status: 'active', ram: { transferred: 10, remaining: 90, total: 100 } };
  const answer = f.lm.migrationStatus('vm-1', { waitMs: 60 });
  setTimeout(() => {
    info = { status: 'active', ram: { transferred: 50, remaining: 50, total: 100 } };
  }, 10);
  const p = await answer;
  assert.ok(Date.now() - t0 >= 60);
  assert.equal(p.status, 'active');
  assert.equal(p.transferredBytes, 50, 'the answer is read after the wait');
  assert.equal(f.listening(), 0);
  // Without waitMs nothing waits (and a destination never does).
  f.sent.length = 0;
  await f.lm.migrationStatus('vm-1');
  assert.deepEqual(f.sent.map((c) => c.command), ['query-block-jobs', 'query-migrate']);
});

test('cancelMigration refuses a completed migration and leaves the source alone', async () => {
  const f = fixture({
    'query-status': () => ({ status: 'postmigrate', running: false }),
    'query-migrate': () => ({ status: 'completed' }),
  }, { role: 'outgoing', started: true, wasRunning: true });
  await assert.rejects(f.lm.cancelMigration('vm-1'), code('VM_INVALID_STATE'));
  assert.ok(!f.sent.some((c) => c.command === 'migrate_cancel' || c.command === 'cont'));
});

test('QMP failures surface as HypervisorError naming the step', async () => {
  const f = fixture({
    'query-status': running,
    'query-block-jobs': () => [],
    migrate: () => {
      throw new QmpError('migrate', 'GenericError', 'boom');
    },
  });
  await assert.rejects(f.lm.migrateOut('vm-1', { uri: 'tcp:198.18.0.2:4000', params }), (err: unknown) => {
    assert.ok(code('HYPERVISOR_FAILED')(err));
    assert.match(String(err), /migrate of VM vm-1 failed: .*boom/);
    return true;
  });
});

test('startIncoming with autostart launches the destination to run on completion; refused with mirrored disks or post-copy, before anything starts', async () => {
  const f = fixture({ 'query-migrate': () => ({ 'socket-address': [{ type: 'inet', host: '198.18.0.2', port: '40124' }] }) });
  await assert.rejects(f.lm.startIncoming(spec, { listenHost: '198.18.0.2', nbdDisks: ['data'], autostart: true }), (err: unknown) => {
    assert.ok(code('VALIDATION_FAILED')(err));
    assert.match(String(err), /autostart.*mirrors to complete/);
    return true;
  });
  await assert.rejects(f.lm.startIncoming(spec, { listenHost: '198.18.0.2', postcopy: true, autostart: true }), (err: unknown) => {
    assert.ok(code('VALIDATION_FAILED')(err));
    assert.match(String(err), /autostart.*post-copy/);
    return true;
  });
  assert.deepEqual(f.launched, []);
  const ready = await f.lm.startIncoming(spec, { listenHost: '198.18.0.2', autostart: true });
  assert.equal(ready.uri, 'tcp:198.18.0.2:40124');
  assert.deepEqual(f.launched, ['vm-1 autostart']);
  // The destination's `cont` is QEMU's own autostart: none is sent (it would also activate the shared disks early).
  assert.ok(!f.sent.some((c) => c.command === 'cont'));
});

test('resumeSource refuses a completed source whose destination runs the guest on its own, and sends no cont', async () => {
  const answers = { 'query-status': () => ({ status: 'postmigrate', running: false }), 'query-migrate': () => ({ status: 'completed' }), 'query-block-jobs': () => [], 'query-named-block-nodes': () => [], 'qom-list': () => [] };
  const auto = fixture(answers, { role: 'outgoing', started: true, wasRunning: true, destAutostart: true });
  await assert.rejects(auto.lm.resumeSource('vm-1'), (err: unknown) => {
    assert.ok(code('VM_INVALID_STATE')(err));
    assert.match(String(err), /on its own/);
    return true;
  });
  assert.ok(!auto.sent.some((c) => c.command === 'cont'));
  // Without resume on completion the controller's deliberate resume of a completed source still goes through.
  let status = 'postmigrate';
  const waited = fixture({ ...answers, 'query-status': () => ({ status, running: status === 'running' }), cont: () => { status = 'running'; return {}; } }, { role: 'outgoing', started: true, wasRunning: true });
  await waited.lm.resumeSource('vm-1');
  assert.ok(waited.sent.some((c) => c.command === 'cont'));
});

test('migrateOut keeps destAutostart in the source record (a restarted agent still refuses to resume it)', async () => {
  const f = fixture({ 'query-status': running, 'query-block-jobs': () => [] });
  await f.lm.migrateOut('vm-1', { uri: 'tcp:198.18.0.2:4000', params, destAutostart: true });
  assert.deepEqual(f.record().migration, { role: 'outgoing', started: true, wasRunning: true, destAutostart: true });
});
