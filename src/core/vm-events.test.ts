import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidStateError } from './invalid-state-error.js';
import { VM_STATES, type VmState } from './vm-state.js';
import { VM_ACTIONS, planAction, planCreate, type ActionPlan } from './vm-actions.js';
import { AGENT_VM_REPORTS, applyEvent, type EventOutcome } from './vm-events.js';

const brief = (o: EventOutcome): string => `${o.state}${o.failedPhase === undefined ? '' : `:${o.failedPhase}`}`;

function allPlans(): ActionPlan[] {
  const plans = [planCreate()];
  for (const a of VM_ACTIONS) {
    for (const s of VM_STATES) {
      try {
        plans.push(planAction(s, a));
      } catch {
        // not allowed from s
      }
    }
  }
  return plans;
}

test('create: placed → prolog, prolog-done → boot, boot-done → running', () => {
  const plan = planCreate();
  const placed = applyEvent('pending', { type: 'step-done', phase: 'schedule' }, plan);
  assert.equal(placed.state, 'prolog');
  assert.equal(placed.next?.phase, 'prolog');
  const prologDone = applyEvent('prolog', { type: 'step-done', phase: 'prolog' }, plan);
  assert.equal(prologDone.state, 'boot');
  assert.equal(prologDone.next?.phase, 'boot');
  const bootDone = applyEvent('boot', { type: 'step-done', phase: 'boot' }, plan);
  assert.deepEqual(bootDone, { state: 'running', changed: true });
  assert.equal(brief(applyEvent('prolog', { type: 'step-failed', phase: 'prolog' }, plan)), 'failed:prolog');
  assert.equal(brief(applyEvent('boot', { type: 'step-failed', phase: 'boot' }, plan)), 'failed:boot');
});

test('the same boot failure lands differently per action: the plan decides', () => {
  const failBoot = (plan: ActionPlan, phase: 'boot' | 'restore' | 'reboot'): string => brief(applyEvent('boot', { type: 'step-failed', phase }, plan));
  assert.equal(failBoot(planCreate(), 'boot'), 'failed:boot');
  assert.equal(failBoot(planAction('poweroff', 'start'), 'boot'), 'poweroff');
  assert.equal(failBoot(planAction('suspended', 'resume'), 'restore'), 'suspended');
  assert.equal(failBoot(planAction('stopped', 'resume'), 'restore'), 'suspended');
  assert.equal(failBoot(planAction('running', 'reboot'), 'reboot'), 'running');
});

test('every plan walked with step-done reaches onSuccess; step-failed at each step lands on the step’s failure', () => {
  for (const plan of allPlans()) {
    const label = `${plan.action} from ${plan.from}`;
    let state: VmState = plan.transitional;
    plan.steps.forEach((step, i) => {
      assert.equal(state, step.state, label);
      const failed = applyEvent(state, { type: 'step-failed', phase: step.phase }, plan);
      assert.equal(failed.state, step.onFailure, label);
      assert.equal(failed.failedPhase, step.failedPhase, label);
      assert.equal(failed.next, undefined, `${label}: a failure ends the operation`);
      const fatal = applyEvent(state, { type: 'step-failed', phase: step.phase, fatal: true }, plan);
      assert.equal(brief(fatal), `failed:${step.phase}`, label);
      const done = applyEvent(state, { type: 'step-done', phase: step.phase }, plan);
      assert.equal(done.changed, true);
      if (i === plan.steps.length - 1) {
        assert.equal(done.state, plan.onSuccess, label);
        assert.equal(done.next, undefined, label);
      } else {
        assert.equal(done.next, plan.steps[i + 1], label);
        assert.equal(done.state, done.next?.state, label);
      }
      state = done.state;
    });
    assert.equal(state, plan.onSuccess, label);
  }
});

test('step events are refused when stale, out of place, or with no operation', () => {
  const plan = planCreate();
  // A late prolog-done arriving after the VM moved on to boot.
  assert.throws(() => applyEvent('boot', { type: 'step-done', phase: 'prolog' }, plan), (err: unknown) => {
    assert.ok(err instanceof InvalidStateError);
    assert.equal(err.state, 'boot');
    assert.equal(err.action, 'step-done');
    assert.deepEqual(err.allowed, ['prolog']);
    assert.equal(err.message, 'cannot apply step-done(prolog) of create to VM in state boot (allowed from: prolog)');
    return true;
  });
  // A phase this plan does not have.
  assert.throws(() => applyEvent('boot', { type: 'step-done', phase: 'restore' }, plan), {
    message: 'cannot apply step-done(restore) of create to VM in state boot (allowed from: none)',
  });
  assert.throws(() => applyEvent('running', { type: 'step-failed', phase: 'boot' }), {
    message: 'cannot apply step-failed(boot) with no operation in flight to VM in state running (allowed from: none)',
  });
  // A plan finished: its success state is not one of its steps.
  assert.throws(() => applyEvent('suspended', { type: 'step-done', phase: 'save' }, planAction('running', 'suspend')), InvalidStateError);
  // A state that is none of the plan's steps accepts no step event.
  assert.throws(() => applyEvent('unknown', { type: 'step-done', phase: 'schedule' }, planAction('failed', 'recover')), InvalidStateError);
});

test('host-lost: active states become unknown, idle ones stay, off-host ones refuse', () => {
  const expected: Partial<Record<VmState, string>> = {
    prolog: 'unknown',
    boot: 'unknown',
    running: 'unknown',
    migrating: 'unknown',
    shutdown: 'unknown',
    saving: 'unknown',
    epilog: 'unknown',
    poweroff: 'poweroff=',
    suspended: 'suspended=',
    failed: 'failed=',
    unknown: 'unknown=',
  };
  const allowed = VM_STATES.filter((s) => expected[s] !== undefined);
  for (const state of VM_STATES) {
    const want = expected[state];
    if (want === undefined) {
      assert.throws(() => applyEvent(state, { type: 'host-lost' }), (err: unknown) => {
        assert.ok(err instanceof InvalidStateError);
        assert.equal(err.state, state);
        assert.deepEqual(err.allowed, allowed);
        assert.match(err.message, new RegExp(`^cannot apply host-lost to VM in state ${state} \\(allowed from: `));
        return true;
      });
      continue;
    }
    const o = applyEvent(state, { type: 'host-lost' }, planCreate());
    assert.equal(`${o.state}${o.changed ? '' : '='}`, want, state);
    assert.equal(o.failedPhase, undefined, state);
    assert.equal(o.next, undefined, `${state}: the operation in flight is abandoned`);
  }
});

test('host-back: the agent’s report settles an unknown VM', () => {
  const expected = { running: 'running', shutoff: 'poweroff', saved: 'suspended', stored: 'stopped', missing: 'failed:lost' } as const;
  for (const report of AGENT_VM_REPORTS) {
    const o = applyEvent('unknown', { type: 'host-back', report });
    assert.equal(brief(o), expected[report], report);
    assert.equal(o.changed, true);
    for (const state of VM_STATES.filter((s) => s !== 'unknown')) {
      assert.throws(() => applyEvent(state, { type: 'host-back', report }), {
        message: `cannot apply host-back to VM in state ${state} (allowed from: unknown)`,
      });
    }
  }
});

test('process-exited: a guest poweroff is poweroff, a crash is failed:run', () => {
  assert.deepEqual(applyEvent('running', { type: 'process-exited', clean: true }), { state: 'poweroff', changed: true });
  assert.deepEqual(applyEvent('running', { type: 'process-exited', clean: false }), { state: 'failed', failedPhase: 'run', changed: true });
  for (const state of VM_STATES.filter((s) => s !== 'running')) {
    assert.throws(() => applyEvent(state, { type: 'process-exited', clean: true }), {
      message: `cannot apply process-exited to VM in state ${state} (allowed from: running)`,
    });
  }
});

test('recover entered at boot: boots to running; a failed boot leaves it failed:boot again', () => {
  const plan = planAction('failed', 'recover');
  assert.deepEqual(applyEvent('boot', { type: 'step-done', phase: 'boot' }, plan), { state: 'running', changed: true });
  assert.deepEqual(applyEvent('boot', { type: 'step-failed', phase: 'boot' }, plan), { state: 'failed', failedPhase: 'boot', changed: true });
  const fromProlog = applyEvent('prolog', { type: 'step-done', phase: 'prolog' }, plan);
  assert.equal(fromProlog.state, 'boot');
  assert.equal(fromProlog.next?.phase, 'boot');
});
