import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidStateError } from './invalid-state-error.js';
import { VM_STATES, TRANSITIONAL_STATES, type VmState } from './vm-state.js';
import { PLACE_OPERATION, VM_ACTIONS, allowedActions, allowedFrom, isVmAction, planAction, planCreate, planOf, planPlace, type ActionPlan, type VmAction } from './vm-actions.js';

// The expected table, written out independently of the implementation's:
// 'transitional > onSuccess | onFailure' (failed:phase when it fails to failed).
const EXPECTED: Readonly<Record<VmAction, Partial<Record<VmState, string>>>> = {
  create: {},
  poweroff: { running: 'shutdown > poweroff | running' },
  'poweroff-hard': { running: 'shutdown > poweroff | running' },
  start: { poweroff: 'boot > running | poweroff' },
  reboot: { running: 'boot > running | running' },
  'reboot-hard': { running: 'boot > running | running' },
  suspend: { running: 'saving > suspended | running' },
  resume: { suspended: 'boot > running | suspended', stopped: 'pending > running | stopped' },
  stop: { running: 'saving > stopped | running', suspended: 'epilog > stopped | suspended' },
  terminate: {
    running: 'shutdown > terminated | running',
    pending: 'epilog > terminated | failed:epilog',
    poweroff: 'epilog > terminated | failed:epilog',
    suspended: 'epilog > terminated | failed:epilog',
    stopped: 'epilog > terminated | failed:epilog',
  },
  'terminate-hard': {
    running: 'shutdown > terminated | running',
    pending: 'epilog > terminated | failed:epilog',
    poweroff: 'epilog > terminated | failed:epilog',
    suspended: 'epilog > terminated | failed:epilog',
    stopped: 'epilog > terminated | failed:epilog',
    failed: 'epilog > terminated | failed:epilog',
    unknown: 'epilog > terminated | failed:epilog',
  },
  migrate: {
    running: 'migrating > running | running',
    poweroff: 'migrating > poweroff | poweroff',
    suspended: 'migrating > suspended | suspended',
  },
  'migrate-live': { running: 'migrating > running | running' },
  recover: { failed: 'pending > running | failed:schedule' },
};

const summary = (p: ActionPlan): string =>
  `${p.transitional} > ${p.onSuccess} | ${p.onFailure}${p.failedPhase === undefined ? '' : `:${p.failedPhase}`}`;
const steps = (p: ActionPlan): string[] =>
  p.steps.map((s) => `${s.state}/${s.phase} !${s.onFailure}${s.failedPhase === undefined ? '' : `:${s.failedPhase}`}`);

test('every action from every state: the exact plan or InvalidStateError naming the state', () => {
  for (const action of VM_ACTIONS) {
    const expectedAllowed = VM_STATES.filter((s) => EXPECTED[action][s] !== undefined);
    for (const state of VM_STATES) {
      const expected = EXPECTED[action][state];
      if (expected !== undefined) {
        const plan = planAction(state, action);
        assert.equal(summary(plan), expected, `${action} from ${state}`);
        assert.equal(plan.action, action);
        assert.equal(plan.from, state);
        continue;
      }
      assert.throws(
        () => planAction(state, action),
        (err: unknown) => {
          assert.ok(err instanceof InvalidStateError, `${action} from ${state}: expected InvalidStateError, got ${String(err)}`);
          assert.equal(err.code, 'INVALID_STATE');
          assert.equal(err.state, state);
          assert.equal(err.action, action);
          assert.deepEqual(err.allowed, expectedAllowed);
          assert.equal(
            err.message,
            `cannot ${action} VM in state ${state} (allowed from: ${expectedAllowed.length > 0 ? expectedAllowed.join(', ') : 'none'})`,
          );
          return true;
        },
      );
    }
  }
});

test('the 409 message of the brief', () => {
  assert.throws(() => planAction('poweroff', 'suspend'), { message: 'cannot suspend VM in state poweroff (allowed from: running)' });
  try {
    planAction('poweroff', 'suspend');
  } catch (err) {
    assert.ok(err instanceof InvalidStateError);
    assert.deepEqual(err.toJSON(), {
      code: 'INVALID_STATE',
      message: 'cannot suspend VM in state poweroff (allowed from: running)',
      details: { action: 'suspend', state: 'poweroff', allowed: ['running'] },
    });
  }
});

test('multi-step plans: every step with its own failure', () => {
  assert.deepEqual(steps(planAction('stopped', 'resume')), [
    'pending/schedule !stopped',
    'prolog/prolog-resume !stopped',
    'boot/restore !suspended',
  ]);
  assert.deepEqual(steps(planAction('running', 'stop')), ['saving/save !running', 'epilog/epilog-stop !suspended']);
  assert.deepEqual(steps(planAction('suspended', 'stop')), ['epilog/epilog-stop !suspended']);
  assert.deepEqual(steps(planAction('running', 'terminate')), ['shutdown/shutdown !running', 'epilog/epilog !failed:epilog']);
  assert.deepEqual(steps(planAction('running', 'terminate-hard')), ['shutdown/shutdown-hard !running', 'epilog/epilog !failed:epilog']);
  assert.deepEqual(steps(planAction('unknown', 'terminate-hard')), ['epilog/epilog !failed:epilog']);
  assert.deepEqual(steps(planAction('running', 'reboot')), ['boot/reboot !running']);
  assert.deepEqual(steps(planAction('running', 'reboot-hard')), ['boot/reboot-hard !running']);
  assert.deepEqual(steps(planAction('running', 'poweroff-hard')), ['shutdown/shutdown-hard !running']);
  assert.deepEqual(steps(planAction('suspended', 'resume')), ['boot/restore !suspended']);
  assert.deepEqual(steps(planAction('poweroff', 'start')), ['boot/boot !poweroff']);
  assert.deepEqual(steps(planAction('running', 'migrate')), ['migrating/migrate !running']);
  assert.deepEqual(steps(planAction('running', 'migrate-live')), ['migrating/migrate-live !running']);
  assert.deepEqual(steps(planAction('failed', 'recover')), ['pending/schedule !failed:schedule', 'prolog/prolog !failed:prolog', 'boot/boot !failed:boot']);
});

test('create: inserted pending, placed → prolog → boot → running, every failure to failed', () => {
  const p = planCreate();
  assert.equal(p.action, 'create');
  assert.equal(p.from, 'pending');
  assert.equal(summary(p), 'pending > running | failed:schedule');
  assert.deepEqual(steps(p), ['pending/schedule !failed:schedule', 'prolog/prolog !failed:prolog', 'boot/boot !failed:boot']);
});

test('place (a VM back from a remote cloud, powered off): pending, placed → prolog → poweroff, never booted; recorded as create from poweroff', () => {
  const p = planPlace();
  assert.equal(summary(p), 'pending > poweroff | failed:schedule');
  assert.deepEqual(steps(p), ['pending/schedule !failed:schedule', 'prolog/prolog !failed:prolog']);
  assert.equal(planOf(PLACE_OPERATION), p, 'the operation it is recorded with re-derives it after a restart');
  assert.equal(planOf({ action: 'create', from: 'pending' }), planCreate(), 'a new VM\'s is still the create plan');
  assert.ok(!allowedActions('poweroff').includes('create'), 'no user action');
});

test('plans are consistent: distinct step states, first step is the transitional one', () => {
  const all = [planCreate(), ...VM_ACTIONS.flatMap((a) => VM_STATES.filter((s) => EXPECTED[a][s] !== undefined).map((s) => planAction(s, a)))];
  for (const p of all) {
    const label = `${p.action} from ${p.from}`;
    const states = p.steps.map((s) => s.state);
    assert.equal(new Set(states).size, states.length, `${label}: step states must be distinct`);
    assert.equal(p.transitional, p.steps[0]?.state ?? p.onSuccess, label);
    assert.equal(p.onFailure, p.steps[0]?.onFailure ?? p.from, label);
    assert.equal(p.failedPhase, p.steps[0]?.failedPhase, label);
    for (const s of p.steps) {
      assert.notEqual(s.onFailure, s.state, `${label}: a failed step must leave its state`);
      assert.equal(s.failedPhase === undefined, s.onFailure !== 'failed', `${label}: failedPhase iff onFailure is failed`);
      if (s.failedPhase !== undefined) assert.equal(s.failedPhase, s.phase);
    }
    // A step's state must be a transitional one, except the scheduler's wait in pending.
    for (const s of p.steps) assert.ok(TRANSITIONAL_STATES.includes(s.state) || s.phase === 'schedule', `${label}: ${s.state}`);
    assert.ok(Object.isFrozen(p) && Object.isFrozen(p.steps) && p.steps.every((s) => Object.isFrozen(s)), label);
    assert.equal(planOf({ action: p.action, from: p.from }), p, `${label}: planOf re-derives the same plan`);
  }
});

test('allowedActions lists exactly the actions with a plan from that state', () => {
  for (const state of VM_STATES) {
    const expected = VM_ACTIONS.filter((a) => EXPECTED[a][state] !== undefined);
    assert.deepEqual(allowedActions(state), expected, state);
  }
  assert.deepEqual(allowedActions('running'), [
    'poweroff',
    'poweroff-hard',
    'reboot',
    'reboot-hard',
    'suspend',
    'stop',
    'terminate',
    'terminate-hard',
    'migrate',
    'migrate-live',
  ]);
  assert.deepEqual(allowedActions('failed'), ['terminate-hard', 'recover']);
  assert.deepEqual(allowedActions('terminated'), []);
  for (const s of TRANSITIONAL_STATES) assert.deepEqual(allowedActions(s), [], `${s} accepts no action`);
  assert.ok(!VM_STATES.some((s) => allowedActions(s).includes('create')), 'create is implicit');
});

test('allowedFrom is in VM_STATES order', () => {
  assert.deepEqual(allowedFrom('terminate-hard'), ['pending', 'running', 'poweroff', 'suspended', 'stopped', 'failed', 'unknown']);
  assert.deepEqual(allowedFrom('create'), []);
});

test('planOf refuses an operation that no plan has', () => {
  assert.throws(() => planOf({ action: 'create', from: 'running' }), InvalidStateError);
  assert.throws(() => planOf({ action: 'start', from: 'running' }), /cannot start VM in state running/);
});

test('values from outside are checked before they reach the table', () => {
  assert.ok(isVmAction('migrate-live'));
  assert.ok(!isVmAction('explode'));
  assert.ok(!isVmAction(undefined));
  assert.throws(() => planAction('running', 'explode' as VmAction), { message: 'cannot explode VM in state running (allowed from: none)' });
  assert.throws(() => planAction('__proto__' as VmState, 'start'), InvalidStateError);
});
