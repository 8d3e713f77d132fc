import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyConvergenceStep,
  initialLevers,
  nextConvergenceStep,
  type AppliedLevers,
  type ConvergenceStep,
  type ProgressSample,
} from './convergence-policy.js';
import { parseMigrationPolicy, type MigrationPolicy } from './migration-policy.js';

const MIB = 1024 * 1024;
const START = 1_000_000;

/** A synthetic guest: what `query-migrate` would say at `tMs` into the migration, given the levers applied. */
type Guest = (tMs: number, applied: AppliedLevers) => Omit<ProgressSample, 'atMs'>;

interface Run {
  readonly steps: { readonly pass: number; readonly tMs: number; readonly step: Exclude<ConvergenceStep, { kind: 'none' }> }[];
  readonly applied: AppliedLevers;
}

/** Samples every 500 ms for `forMs`, applying each step the policy asks for, as the orchestrator does. */
function simulate(policy: MigrationPolicy, guest: Guest, opts: { forMs: number; postcopySupported?: boolean }): Run {
  const samples: ProgressSample[] = [];
  let applied = initialLevers(policy);
  const steps: Run['steps'][number][] = [];
  for (let t = 0; t <= opts.forMs; t += 500) {
    const sample = { atMs: START + t, ...guest(t, applied) };
    samples.push(sample);
    const step = nextConvergenceStep(policy, samples, applied, { nowMs: START + t, startedAtMs: START, postcopySupported: opts.postcopySupported ?? false });
    if (step.kind === 'none') continue;
    steps.push({ pass: sample.passes, tMs: t, step });
    if (step.kind === 'abort') break;
    applied = applyConvergenceStep(applied, step, sample.passes);
  }
  return { steps, applied };
}

const summary = (run: Run): string[] =>
  run.steps.map(({ step }) =>
    step.kind === 'raise-downtime' ? `downtime ${step.downtimeLimitMs}` : step.kind === 'throttle' ? `throttle ${step.cpuThrottlePercent}` : step.kind,
  );

// One pass a second. Pass 1 copies all 256 MiB of RAM; QEMU reports no dirty rate before its first sync.
const firstPass = (t: number): Omit<ProgressSample, 'atMs'> => ({ remainingBytes: 256 * MIB - (t / 1000) * 64 * MIB, dirtyRateBytes: 0, bandwidthBytesPerS: 32 * MIB, passes: 1 });

const idle: Guest = (t) => (t < 1000 ? firstPass(t) : { remainingBytes: 1 * MIB, dirtyRateBytes: 0.1 * MIB, bandwidthBytesPerS: 32 * MIB, passes: 1 + Math.floor(t / 1000) });

// Dirties 40 MiB/s of a 180 MiB working set over a 32 MiB/s link, whatever is done to it.
const dirtier: Guest = (t) =>
  t < 1000 ? firstPass(t) : { remainingBytes: 180 * MIB, dirtyRateBytes: 40 * MIB, bandwidthBytesPerS: 32 * MIB, passes: 1 + Math.floor(t / 1000) };

const policy = parseMigrationPolicy({});

test('an idle guest converges with no action', () => {
  const run = simulate(policy, idle, { forMs: 60_000 });
  assert.deepEqual(run.steps, []);
  assert.deepEqual(run.applied, initialLevers(policy));
});

test('a steady dirtier escalates in order: downtime ×2 to its ceiling, throttle to its cap, post-copy', () => {
  const run = simulate(parseMigrationPolicy({ postcopy: true }), dirtier, { forMs: 120_000, postcopySupported: true });
  assert.deepEqual(summary(run), [
    'downtime 600',
    'downtime 1200',
    'downtime 2000',
    'throttle 20',
    'throttle 40',
    'throttle 60',
    'throttle 80',
    'throttle 99',
    'postcopy',
  ]);
  // Each step had stallPasses passes to work before the next: no flapping.
  for (let i = 1; i < run.steps.length; i++) {
    assert.ok(run.steps[i]!.pass - run.steps[i - 1]!.pass >= policy.stallPasses + 1, JSON.stringify(run.steps.map((s) => s.pass)));
  }
  assert.equal(
    run.steps[1]!.step.reason,
    'remaining 180 MiB did not shrink over 3 passes; dirty rate 40 MiB/s ≥ bandwidth 32 MiB/s: raise the downtime limit 600 → 1200 ms (expected downtime 5625 ms)',
  );
  assert.match(run.steps[0]!.step.reason, /^remaining 180 MiB \(224 MiB 3 passes ago\); dirty rate 40 MiB\/s ≥ bandwidth 32 MiB\/s: raise the downtime limit 300 → 600 ms/);
  assert.match(run.steps[3]!.step.reason, /throttle the guest to 20 % \(downtime limit already at its 2000 ms ceiling\)$/);
  assert.match(run.steps[8]!.step.reason, /switch to post-copy/);
  assert.equal(run.applied.postcopy, true);
});

test('post-copy only when permitted and supported; otherwise abort once nothing is left', () => {
  const permittedUnsupported = simulate(parseMigrationPolicy({ postcopy: true }), dirtier, { forMs: 120_000, postcopySupported: false });
  assert.deepEqual(summary(permittedUnsupported).slice(-2), ['throttle 99', 'abort']);
  const last = permittedUnsupported.steps.at(-1)!.step;
  assert.equal(last.kind, 'abort');
  assert.match(last.reason, /nothing left to try \(downtime limit at its 2000 ms ceiling, CPU throttle at 99 %, post-copy not supported by the hosts\)$/);

  const notPermitted = simulate(policy, dirtier, { forMs: 120_000, postcopySupported: true });
  assert.ok(!summary(notPermitted).includes('postcopy'));
  assert.equal(notPermitted.steps.at(-1)!.step.kind, 'abort');
  assert.match(notPermitted.steps.at(-1)!.step.reason, /post-copy not permitted\)$/);
});

test('without auto-converge the guest is never throttled', () => {
  const run = simulate(parseMigrationPolicy({ autoConverge: false, postcopy: true }), dirtier, { forMs: 120_000, postcopySupported: true });
  assert.deepEqual(summary(run), ['downtime 600', 'downtime 1200', 'downtime 2000', 'postcopy']);
  const off = simulate(parseMigrationPolicy({ autoConverge: false }), dirtier, { forMs: 120_000 });
  assert.deepEqual(summary(off), ['downtime 600', 'downtime 1200', 'downtime 2000', 'abort']);
  assert.match(off.steps.at(-1)!.step.reason, /throttling not permitted/);
});

test('a throttle that works: the policy stops as soon as the remainder fits the downtime limit', () => {
  // The working set the guest re-dirties within a pass shrinks with the throttle.
  const throttled: Guest = (t, applied) => {
    if (t < 1000) return firstPass(t);
    const share = 1 - applied.cpuThrottlePercent / 100;
    return { remainingBytes: 180 * MIB * share, dirtyRateBytes: 40 * MIB * share, bandwidthBytesPerS: 32 * MIB, passes: 1 + Math.floor(t / 1000) };
  };
  const run = simulate(policy, throttled, { forMs: 120_000 });
  // 180 MiB × 0.2 = 36 MiB over 32 MiB/s is 1125 ms: under the 2000 ms ceiling.
  assert.deepEqual(summary(run), ['downtime 600', 'downtime 1200', 'downtime 2000', 'throttle 20', 'throttle 40', 'throttle 60', 'throttle 80']);
});

test('raising the downtime limit is enough for a moderate dirtier', () => {
  // 40 MiB re-dirtied per pass over 32 MiB/s: 1250 ms of downtime.
  const moderate: Guest = (t) => (t < 1000 ? firstPass(t) : { remainingBytes: 40 * MIB, dirtyRateBytes: 40 * MIB, bandwidthBytesPerS: 32 * MIB, passes: 1 + Math.floor(t / 1000) });
  assert.deepEqual(summary(simulate(policy, moderate, { forMs: 120_000 })), ['downtime 600', 'downtime 1200', 'downtime 2000']);
});

test('the overall timeout aborts, and nothing before it for a slow but converging guest', () => {
  const p = parseMigrationPolicy({ timeoutS: 30 });
  // Shrinks 15 % a pass: progress, yet never within the limit before the timeout.
  const slow: Guest = (t) => ({ remainingBytes: 4096 * MIB * 0.85 ** Math.floor(t / 1000), dirtyRateBytes: 1 * MIB, bandwidthBytesPerS: 32 * MIB, passes: 1 + Math.floor(t / 1000) });
  const run = simulate(p, slow, { forMs: 60_000 });
  assert.deepEqual(summary(run), ['abort']);
  assert.equal(run.steps[0]!.tMs, 30_000);
  assert.match(run.steps[0]!.step.reason, /^the migration ran 30 s, past its 30 s timeout with [\d.]+ MiB still to send$/);
  // Even without a single sample.
  const none = nextConvergenceStep(p, [], initialLevers(p), { nowMs: START + 31_000, startedAtMs: START, postcopySupported: false });
  assert.deepEqual(none, { kind: 'abort', reason: 'the migration ran 31 s, past its 30 s timeout' });
});

test('after the switch to post-copy nothing is done any more, not even on timeout', () => {
  const applied: AppliedLevers = { ...initialLevers(policy), postcopy: true, lastStepPass: 3 };
  const samples: ProgressSample[] = [{ atMs: START, remainingBytes: 180 * MIB, dirtyRateBytes: 40 * MIB, bandwidthBytesPerS: 32 * MIB, passes: 20 }];
  assert.deepEqual(nextConvergenceStep(policy, samples, applied, { nowMs: START + 10 ** 9, startedAtMs: START, postcopySupported: true }), { kind: 'none' });
});

test('no flapping: right after a step, the same evidence does not count again', () => {
  const samples: ProgressSample[] = [];
  for (let pass = 2; pass <= 6; pass++) samples.push({ atMs: START + pass * 1000, remainingBytes: 180 * MIB, dirtyRateBytes: 40 * MIB, bandwidthBytesPerS: 32 * MIB, passes: pass });
  const ctx = { nowMs: START + 6000, startedAtMs: START, postcopySupported: false };
  const first = nextConvergenceStep(policy, samples, initialLevers(policy), ctx);
  assert.equal(first.kind, 'raise-downtime');
  const after = applyConvergenceStep(initialLevers(policy), first, 6);
  assert.deepEqual(nextConvergenceStep(policy, samples, after, ctx), { kind: 'none' });
  // Three more passes of the same: the next step.
  for (let pass = 7; pass <= 9; pass++) samples.push({ atMs: START + pass * 1000, remainingBytes: 180 * MIB, dirtyRateBytes: 40 * MIB, bandwidthBytesPerS: 32 * MIB, passes: pass });
  assert.equal(nextConvergenceStep(policy, samples, after, ctx).kind, 'none', 'pass 7 is the first after the step; 9 − 7 < 3');
  samples.push({ atMs: START + 10_000, remainingBytes: 180 * MIB, dirtyRateBytes: 40 * MIB, bandwidthBytesPerS: 32 * MIB, passes: 10 });
  assert.deepEqual(nextConvergenceStep(policy, samples, after, ctx), {
    kind: 'raise-downtime',
    downtimeLimitMs: 1200,
    reason: 'remaining 180 MiB did not shrink over 3 passes; dirty rate 40 MiB/s ≥ bandwidth 32 MiB/s: raise the downtime limit 600 → 1200 ms (expected downtime 5625 ms)',
  });
});

test('QEMU saying the remainder fits the limit means wait, whatever the stall', () => {
  const samples: ProgressSample[] = [2, 3, 4, 5].map((pass) => ({ atMs: START + pass * 1000, remainingBytes: 8 * MIB, dirtyRateBytes: 40 * MIB, bandwidthBytesPerS: 32 * MIB, passes: pass, expectedDowntimeMs: 250 }));
  assert.deepEqual(nextConvergenceStep(policy, samples, initialLevers(policy), { nowMs: START + 5000, startedAtMs: START, postcopySupported: false }), { kind: 'none' });
});

test("the throttle steps up from QEMU's own auto-converge throttle when that is higher", () => {
  const applied: AppliedLevers = { downtimeLimitMs: 2000, cpuThrottlePercent: 0, postcopy: false, lastStepPass: undefined };
  const samples: ProgressSample[] = [2, 3, 4, 5].map((pass) => ({ atMs: START + pass * 1000, remainingBytes: 180 * MIB, dirtyRateBytes: 40 * MIB, bandwidthBytesPerS: 32 * MIB, passes: pass, cpuThrottlePercent: 50 }));
  const step = nextConvergenceStep(policy, samples, applied, { nowMs: START + 5000, startedAtMs: START, postcopySupported: false });
  assert.equal(step.kind === 'throttle' && step.cpuThrottlePercent, 70);
  assert.match(step.kind === 'throttle' ? step.reason : '', /raise the CPU throttle 50 → 70 %/);
});

test('without a bandwidth reading only the stall counts', () => {
  const flat: ProgressSample[] = [2, 3, 4, 5].map((pass) => ({ atMs: START + pass * 1000, remainingBytes: 180 * MIB, dirtyRateBytes: 40 * MIB, bandwidthBytesPerS: 0, passes: pass }));
  const step = nextConvergenceStep(policy, flat, initialLevers(policy), { nowMs: START + 5000, startedAtMs: START, postcopySupported: false });
  assert.equal(step.kind === 'raise-downtime' && step.reason, 'remaining 180 MiB did not shrink over 3 passes: raise the downtime limit 300 → 600 ms');
  const shrinking = flat.map((s, i) => ({ ...s, remainingBytes: 180 * MIB * 0.8 ** i }));
  assert.deepEqual(nextConvergenceStep(policy, shrinking, initialLevers(policy), { nowMs: START + 5000, startedAtMs: START, postcopySupported: false }), { kind: 'none' });
});

test('applyConvergenceStep records the lever and the pass', () => {
  const a = initialLevers(policy);
  assert.deepEqual(a, { downtimeLimitMs: 300, cpuThrottlePercent: 0, postcopy: false, lastStepPass: undefined });
  assert.deepEqual(applyConvergenceStep(a, { kind: 'raise-downtime', downtimeLimitMs: 600, reason: '' }, 4), { ...a, downtimeLimitMs: 600, lastStepPass: 4 });
  assert.deepEqual(applyConvergenceStep(a, { kind: 'throttle', cpuThrottlePercent: 20, reason: '' }, 8), { ...a, cpuThrottlePercent: 20, lastStepPass: 8 });
  assert.deepEqual(applyConvergenceStep(a, { kind: 'postcopy', reason: '' }, 9), { ...a, postcopy: true, lastStepPass: 9 });
  assert.equal(applyConvergenceStep(a, { kind: 'none' }, 9), a);
  assert.equal(applyConvergenceStep(a, { kind: 'abort', reason: '' }, 9), a);
});
