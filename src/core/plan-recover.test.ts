import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidStateError } from './invalid-state-error.js';
import { RecoverRefusedError } from './recover-refused-error.js';
import { RECOVER_FINDINGS, failedPhaseOf, planRecover, type RecoverFinding } from './plan-recover.js';
import { planAction } from './vm-actions.js';
import { FAILED_PHASES, VM_STATES, type FailedPhase } from './vm-state.js';

// Written out independently of the implementation: per failed phase, the step
// recover enters for each finding ('-' = refused).
//               no-host   running  shutoff  saved    missing
const FRESH = ['schedule', 'prolog', 'prolog', 'prolog', 'prolog'];
const DISK = ['-', 'boot', 'boot', 'boot', '-'];
const EXPECTED: Readonly<Record<FailedPhase | 'unrecorded', readonly string[]>> = {
  schedule: FRESH,
  prolog: FRESH,
  'prolog-resume': DISK,
  boot: DISK,
  restore: DISK,
  reboot: DISK,
  'reboot-hard': DISK,
  shutdown: DISK,
  'shutdown-hard': DISK,
  save: DISK,
  migrate: DISK,
  'migrate-live': DISK,
  epilog: ['-', '-', '-', '-', '-'],
  'epilog-stop': DISK,
  run: DISK,
  lost: DISK,
  unrecorded: DISK,
};

const entry = (phase: FailedPhase | undefined, found: RecoverFinding): string => {
  try {
    return planRecover('failed', phase, found).entry.phase;
  } catch (err) {
    if (err instanceof RecoverRefusedError) return '-';
    throw err;
  }
};

test('every failed phase with every finding: the step recover enters, or a refusal', () => {
  for (const phase of [...FAILED_PHASES, undefined]) {
    const want = EXPECTED[phase ?? 'unrecorded'];
    assert.deepEqual(RECOVER_FINDINGS.map((f) => entry(phase, f)), want, `failed in ${phase ?? '(unrecorded)'}`);
  }
});

test('the decision enters the one recover plan, at a step of it', () => {
  const plan = planAction('failed', 'recover');
  for (const phase of FAILED_PHASES) {
    for (const found of RECOVER_FINDINGS) {
      if (entry(phase, found) === '-') continue;
      const d = planRecover('failed', phase, found);
      assert.equal(d.plan, plan);
      assert.ok(plan.steps.includes(d.entry), `${phase}/${found}`);
      assert.equal(d.entry.onFailure, 'failed', 'failing again leaves it failed');
    }
  }
});

test('refusals say why, name the phase and what was found, and are 409 RECOVER_REFUSED', () => {
  assert.throws(() => planRecover('failed', 'run', 'missing'), (err: unknown) => {
    assert.ok(err instanceof RecoverRefusedError);
    assert.equal(err.code, 'RECOVER_REFUSED');
    assert.equal(err.failedPhase, 'run');
    assert.equal(err.found, 'missing');
    assert.match(err.message, /^cannot recover VM: it failed in run and its host holds nothing of it any more: its disk .* is gone.*terminate it$/);
    return true;
  });
  assert.throws(() => planRecover('failed', 'lost', 'no-host'), /failed in lost and is on no host/);
  assert.throws(() => planRecover('failed', 'epilog', 'shutoff'), /while its disks were being deleted.*terminate-hard/);
});

test('recover is only for failed VMs: any other state is InvalidStateError naming it', () => {
  for (const state of VM_STATES.filter((s) => s !== 'failed')) {
    assert.throws(() => planRecover(state, 'boot', 'shutoff'), (err: unknown) => {
      assert.ok(err instanceof InvalidStateError);
      assert.equal(err.message, `cannot recover VM in state ${state} (allowed from: failed)`);
      return true;
    });
  }
});

test('failedPhaseOf reads the phase the orchestrator and the monitor put first in stateReason', () => {
  assert.equal(failedPhaseOf('boot: the agent reports crashed'), 'boot');
  assert.equal(failedPhaseOf('run: QEMU exited unexpectedly'), 'run');
  assert.equal(failedPhaseOf('migrate-live: migration 1 lost'), 'migrate-live');
  assert.equal(failedPhaseOf('lost: the agent reports no such VM'), 'lost');
  assert.equal(failedPhaseOf(null), undefined);
  assert.equal(failedPhaseOf(''), undefined);
  assert.equal(failedPhaseOf('something else: boot'), undefined);
  assert.equal(failedPhaseOf('__proto__: x'), undefined);
});
