import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { VmState } from '../core/vm-state.js';
import { creds, runCli, startFakeApi, type FakeApi, type Routes } from './cli-test-kit.js';
import { vm, vmDetail } from './cli-fixtures.js';

/** getVm answers walk through `states`, one per request, then stay on the last. */
function walk(id: string, states: readonly VmState[], reason: string | null = null): Routes[string] {
  let i = 0;
  return () => {
    const state = states[Math.min(i++, states.length - 1)] ?? 'unknown';
    return { body: vmDetail({ id, state, stateReason: state === 'failed' ? reason : null, host: state === 'pending' ? null : 'h1' }) };
  };
}

const fast = ['--poll-interval', '20'];
let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'POST /api/v1/vms': (r) => ({ status: 201, body: vm({ id: (r.body as { name: string }).name, name: (r.body as { name: string }).name, state: 'pending', host: null }) }),
    'GET /api/v1/vms/ok-1': walk('ok-1', ['pending', 'prolog', 'prolog', 'boot', 'running']),
    'GET /api/v1/vms/bad-1': walk('bad-1', ['pending', 'prolog', 'failed'], 'prolog: image tiny: checksum mismatch'),
    'GET /api/v1/vms/slow-1': walk('slow-1', ['pending']),
    'GET /api/v1/vms/full-1': (() => {
      // Waits for a host with room (the scheduler's reason), then gets one.
      const answers = [null, 'no host fits: local: needs 1 vCPU, 0 free', 'no host fits: local: needs 1 vCPU, 0 free'];
      let i = 0;
      return () => {
        const n = i++;
        return n < answers.length
          ? { body: vmDetail({ id: 'full-1', state: 'pending', stateReason: answers[n] ?? null, host: null }) }
          : { body: vmDetail({ id: 'full-1', state: n === answers.length ? 'prolog' : 'running', host: 'h1' }) };
      };
    })(),
    'POST /api/v1/vms/vm-1/actions/poweroff': () => ({ body: vm({ state: 'shutdown' }) }),
    // The guest ignored ACPI: the shutdown rolled back to running.
    'GET /api/v1/vms/vm-1': walk('vm-1', ['shutdown', 'running']),
    'POST /api/v1/vms/vm-2/actions/suspend': () => ({ body: vm({ id: 'vm-2', state: 'saving' }) }),
    'GET /api/v1/vms/vm-2': walk('vm-2', ['saving', 'suspended']),
    'POST /api/v1/vms/vm-3/actions/stop': () => ({ body: vm({ id: 'vm-3', state: 'saving' }) }),
    'GET /api/v1/vms/vm-3': walk('vm-3', ['saving', 'epilog', 'stopped']),
    'POST /api/v1/vms/vm-4/actions/resume': () => ({ body: vm({ id: 'vm-4', state: 'pending', host: null }) }),
    // A stopped VM's resume: placed again, its files brought back, restored.
    'GET /api/v1/vms/vm-4': walk('vm-4', ['pending', 'prolog', 'boot', 'running']),
  });
});
after(() => api.close());

test('vm create --wait follows the states to running', async () => {
  const r = await runCli(['vm', 'create', '--template', 'small', '--name', 'ok-1', '--wait', ...fast, ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  // Not a TTY: one plain line per new state, on stderr.
  const lines = r.stderr.trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => l.replace(/ [\d.]+ s$/, '')), ['ok-1 [pending]', 'ok-1 [pending → prolog]', 'ok-1 [pending → prolog → boot]', 'ok-1 [pending → prolog → boot → running]']);
  assert.match(r.stdout, /^ok-1\s+web-1\s+running\s+h1\s/m);
  const polls = api.requests.filter((q) => q.path === '/api/v1/vms/ok-1');
  assert.equal(polls.length, 5);
});

test('vm create --wait says why a VM is pending, once per new reason', async () => {
  const r = await runCli(['vm', 'create', '--template', 'small', '--name', 'full-1', '--wait', ...fast, ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trimEnd().split('\n').map((l) => l.replace(/ [\d.]+ s/, ''));
  assert.deepEqual(lines, [
    'full-1 [pending]',
    'full-1 [pending]: no host fits: local: needs 1 vCPU, 0 free',
    'full-1 [pending → prolog]',
    'full-1 [pending → prolog → running]',
  ]);
});

test('vm create --wait --json prints the final VM', async () => {
  const r = await runCli(['vm', 'create', '--template', 'small', '--name', 'ok-1', '--wait', '--json', ...fast, ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { state: string }).state, 'running');
});

test('vm create --wait fails (exit 1) when the VM goes failed, printing its reason', async () => {
  const r = await runCli(['vm', 'create', '--template', 'small', '--name', 'bad-1', '--wait', ...fast, ...creds(api)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad-1 \[pending → prolog → failed\]/);
  assert.match(r.stderr, /error \[VM_FAILED\]: VM bad-1 failed: prolog: image tiny: checksum mismatch/);
  assert.equal(r.stdout, '');
});

test('an action that rolls back fails the wait; one that succeeds ends in its state', async () => {
  const r = await runCli(['vm', 'poweroff', 'vm-1', '--wait', ...fast, ...creds(api)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error \[WAIT_FAILED\]: VM vm-1 is running, not poweroff/);
  const s = await runCli(['vm', 'suspend', 'vm-2', '--wait', ...fast, ...creds(api)]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /^vm-2\s+web-1\s+suspended\s/m);
});

test('vm stop --wait ends in stopped; the resume of a stopped VM waits through pending and prolog to running', async () => {
  const s = await runCli(['vm', 'stop', 'vm-3', '--wait', ...fast, ...creds(api)]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stderr, /vm-3 \[saving → epilog → stopped\]/);
  assert.match(s.stdout, /^vm-3\s+web-1\s+stopped\s/m);
  const r = await runCli(['vm', 'resume', 'vm-4', '--wait', ...fast, ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /vm-4 \[pending → prolog → boot → running\]/);
  assert.deepEqual(api.requests.filter((q) => q.method === 'POST' && q.path.startsWith('/api/v1/vms/vm-3')).map((q) => q.path), ['/api/v1/vms/vm-3/actions/stop']);
});

test('--timeout ends the wait with exit 1', async () => {
  const r = await runCli(['vm', 'create', '--template', 'small', '--name', 'slow-1', '--wait', '--timeout', '1', ...fast, ...creds(api)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error \[TIMEOUT\]: waiting for VM slow-1 to be running \(it is pending\) timed out after 1000 ms/);
});
