import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideScaling, type ScalingInput } from './decide-scaling.js';
import { chooseScaleIn, meanCpu } from './choose-scale-in.js';
import { checkScalingGroup, type ScalingPolicy } from './scaling-policy.js';
import { ValidationError } from '../../errors/validation-error.js';

const policy: ScalingPolicy = { metric: 'cpu', scaleOutAbove: 60, scaleInBelow: 20, stepOut: 2, stepIn: 1, cooldownS: 30 };
const input = (over: Partial<ScalingInput>): ScalingInput => ({ bounds: { min: 1, max: 3, desired: 1 }, policy, metric: 50, lastScaleAt: undefined, now: 100_000, ...over });

test('scales out above the threshold by the step, clamped to max', () => {
  assert.deepEqual(decideScaling(input({ metric: 90 })), { change: 'out', desired: 3, reason: 'cpu 90 > 60: 1 → 3' });
  const atMax = decideScaling(input({ metric: 90, bounds: { min: 1, max: 3, desired: 3 } }));
  assert.equal(atMax.change, 'none');
  assert.match(atMax.reason, /at max 3/);
});

test('scales in below the threshold by the step, never under min', () => {
  assert.deepEqual(decideScaling(input({ metric: 5, bounds: { min: 1, max: 3, desired: 3 } })), { change: 'in', desired: 2, reason: 'cpu 5 < 20: 3 → 2' });
  const atMin = decideScaling(input({ metric: 5 }));
  assert.equal(atMin.change, 'none');
  assert.match(atMin.reason, /at min 1/);
});

test('cooldown: no change within cooldownS of the last scaling, then the thresholds apply again', () => {
  const cooling = decideScaling(input({ metric: 90, lastScaleAt: 100_000 - 10_000 }));
  assert.equal(cooling.change, 'none');
  assert.match(cooling.reason, /cooldown for 20 s more/);
  assert.equal(decideScaling(input({ metric: 90, lastScaleAt: 100_000 - 30_000 })).change, 'out');
});

test('bounds win over cooldown and a missing metric; within thresholds nothing changes', () => {
  assert.deepEqual(decideScaling(input({ metric: undefined, bounds: { min: 2, max: 3, desired: 1 }, lastScaleAt: 99_999 })).desired, 2);
  assert.deepEqual(decideScaling(input({ bounds: { min: 1, max: 2, desired: 3 } })).desired, 2);
  assert.match(decideScaling(input({ metric: undefined })).reason, /no cpu metric yet/);
  assert.equal(decideScaling(input({ metric: 40 })).change, 'none');
});

test('scale-in removes the least loaded, then the newest', () => {
  const members = [
    { vmId: 'a', createdAt: 1, cpu: 50 },
    { vmId: 'b', createdAt: 2, cpu: 5 },
    { vmId: 'c', createdAt: 3, cpu: 5 },
    { vmId: 'd', createdAt: 4, cpu: undefined },
  ];
  assert.deepEqual(chooseScaleIn(members, 2), ['d', 'c']);
  assert.deepEqual(chooseScaleIn(members, 3), ['d', 'c', 'b']);
  assert.deepEqual(chooseScaleIn(members, 0), []);
  assert.equal(meanCpu(members), 20);
  assert.equal(meanCpu([{ vmId: 'x', createdAt: 0, cpu: undefined }]), undefined);
});

test('group rules across fields are refused naming the field', () => {
  assert.throws(() => checkScalingGroup({ min: 3, max: 2, desired: 5 }, { ...policy, scaleInBelow: 70 }), (err: unknown) => {
    assert.ok(err instanceof ValidationError);
    assert.deepEqual(err.issues.map((i) => i.field), ['min', 'desired', 'policy.scaleInBelow']);
    return true;
  });
  assert.doesNotThrow(() => checkScalingGroup({ min: 1, max: 3, desired: 2 }, policy));
});
