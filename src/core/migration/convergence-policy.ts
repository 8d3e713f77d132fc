import type { MigrationPolicy } from './migration-policy.js';

/** One reading of `query-migrate` on the source during pre-copy. */
export interface ProgressSample {
  readonly atMs: number;
  readonly remainingBytes: number;
  readonly dirtyRateBytes: number;
  /** Measured throughput of the stream (QEMU `mbps` × 10⁶ / 8). */
  readonly bandwidthBytesPerS: number;
  /** Pre-copy passes over memory so far (QEMU `dirty-sync-count`). */
  readonly passes: number;
  readonly expectedDowntimeMs?: number;
  /** The throttle QEMU's own auto-converge applies now, when it says. */
  readonly cpuThrottlePercent?: number;
}

/** The levers as they are now set on the running migration. */
export interface AppliedLevers {
  readonly downtimeLimitMs: number;
  /** 0: not throttled by this policy. */
  readonly cpuThrottlePercent: number;
  readonly postcopy: boolean;
  /**
   * `passes` when the last step was applied; undefined before the first.
   * Required so that a caller cannot forget it: it is what keeps the policy
   * from acting again before the previous step had time to work.
   */
  readonly lastStepPass: number | undefined;
}

export interface ConvergenceContext {
  readonly nowMs: number;
  /** When the migration started (its overall timeout counts from here). */
  readonly startedAtMs: number;
  /** Both hosts can switch to post-copy (userfaultfd). */
  readonly postcopySupported: boolean;
}

export type ConvergenceStep =
  | { readonly kind: 'none' }
  | { readonly kind: 'raise-downtime'; readonly downtimeLimitMs: number; readonly reason: string }
  | { readonly kind: 'throttle'; readonly cpuThrottlePercent: number; readonly reason: string }
  | { readonly kind: 'postcopy'; readonly reason: string }
  | { readonly kind: 'abort'; readonly reason: string };

/** Remaining memory must shrink by at least this share over the stall window to count as progress. */
export const MIN_PROGRESS = 0.1;

const NONE: ConvergenceStep = Object.freeze({ kind: 'none' });
const MIB = 1024 * 1024;

const mib = (bytes: number): string => `${Number((bytes / MIB).toFixed(1))} MiB`;
const rate = (bytesPerS: number): string => `${Number((bytesPerS / MIB).toFixed(1))} MiB/s`;

/** The levers a migration starts with. */
export function initialLevers(policy: MigrationPolicy): AppliedLevers {
  return Object.freeze({ downtimeLimitMs: policy.downtimeMs, cpuThrottlePercent: 0, postcopy: false, lastStepPass: undefined });
}

/** The levers once `step` was carried out during pass `atPass` (the latest sample's `passes`). */
export function applyConvergenceStep(applied: AppliedLevers, step: ConvergenceStep, atPass: number): AppliedLevers {
  switch (step.kind) {
    case 'none':
    case 'abort':
      return applied;
    case 'raise-downtime':
      return Object.freeze({ ...applied, downtimeLimitMs: step.downtimeLimitMs, lastStepPass: atPass });
    case 'throttle':
      return Object.freeze({ ...applied, cpuThrottlePercent: step.cpuThrottlePercent, lastStepPass: atPass });
    case 'postcopy':
      return Object.freeze({ ...applied, postcopy: true, lastStepPass: atPass });
  }
}

/** The downtime the last pass would cost now: QEMU's estimate, or remaining ÷ bandwidth. */
function expectedDowntime(s: ProgressSample): number | undefined {
  if (s.expectedDowntimeMs !== undefined) return s.expectedDowntimeMs;
  return s.bandwidthBytesPerS > 0 ? (s.remainingBytes / s.bandwidthBytesPerS) * 1000 : undefined;
}

/**
 * Why the migration does not converge, or undefined while it does (or while
 * fewer than `stallPasses` passes were seen since the last step: a step needs
 * that long to show its effect, and judging earlier would stack steps).
 */
function nonConvergence(policy: MigrationPolicy, samples: readonly ProgressSample[], lastStepPass: number | undefined): string | undefined {
  const since = lastStepPass === undefined ? samples : samples.filter((s) => s.passes > lastStepPass);
  const latest = since.at(-1);
  if (latest === undefined) return undefined;
  const base = since.findLast((s) => s.passes <= latest.passes - policy.stallPasses);
  if (base === undefined) return undefined;
  const span = latest.passes - base.passes;
  const window = since.filter((s) => s.passes > base.passes);
  const stalled = latest.remainingBytes >= base.remainingBytes * (1 - MIN_PROGRESS);
  const outpaced = window.every((s) => s.bandwidthBytesPerS > 0 && s.dirtyRateBytes >= s.bandwidthBytesPerS);
  if (!stalled && !outpaced) return undefined;
  const parts = [
    stalled
      ? `remaining ${mib(latest.remainingBytes)} did not shrink over ${span} passes`
      : `remaining ${mib(latest.remainingBytes)} (${mib(base.remainingBytes)} ${span} passes ago)`,
  ];
  if (latest.bandwidthBytesPerS > 0) {
    const cmp = latest.dirtyRateBytes >= latest.bandwidthBytesPerS ? '≥' : '<';
    parts.push(`dirty rate ${rate(latest.dirtyRateBytes)} ${cmp} bandwidth ${rate(latest.bandwidthBytesPerS)}`);
  }
  return parts.join('; ');
}

/**
 * The convergence policy (DESIGN §5, stage 2): watches pre-copy and, when it
 * stops making progress, escalates — raise the downtime limit (×2 per step,
 * up to `maxDowntimeMs`), then throttle the guest's vCPUs (if `autoConverge`;
 * `throttleInitialPercent`, then `+throttleStepPercent` per step, up to
 * `maxThrottlePercent`), then switch to post-copy (if the policy permits and
 * the hosts support it), then abort. At most one step per `stallPasses`
 * passes. The overall timeout aborts at any time — except after the switch to
 * post-copy, which cannot be undone: from then on the answer is always `none`.
 * `samples` are in the order they were taken.
 */
export function nextConvergenceStep(
  policy: MigrationPolicy,
  samples: readonly ProgressSample[],
  applied: AppliedLevers,
  context: ConvergenceContext,
): ConvergenceStep {
  if (applied.postcopy) return NONE;
  const latest = samples.at(-1);
  const elapsedMs = context.nowMs - context.startedAtMs;
  if (elapsedMs >= policy.timeoutS * 1000) {
    const left = latest === undefined ? '' : ` with ${mib(latest.remainingBytes)} still to send`;
    return Object.freeze({ kind: 'abort', reason: `the migration ran ${Math.floor(elapsedMs / 1000)} s, past its ${policy.timeoutS} s timeout${left}` });
  }
  if (latest === undefined) return NONE;
  // QEMU completes on its own at the end of a pass whose remainder fits the limit.
  const expected = expectedDowntime(latest);
  if (expected !== undefined && expected <= applied.downtimeLimitMs) return NONE;
  const why = nonConvergence(policy, samples, applied.lastStepPass);
  if (why === undefined) return NONE;
  const expecting = expected === undefined ? '' : ` (expected downtime ${Math.round(expected)} ms)`;

  if (applied.downtimeLimitMs < policy.maxDowntimeMs) {
    const next = Math.min(policy.maxDowntimeMs, applied.downtimeLimitMs * 2);
    return Object.freeze({ kind: 'raise-downtime', downtimeLimitMs: next, reason: `${why}: raise the downtime limit ${applied.downtimeLimitMs} → ${next} ms${expecting}` });
  }
  // QEMU's auto-converge may already throttle harder than this policy did: step up from whichever is higher.
  const throttle = Math.max(applied.cpuThrottlePercent, latest.cpuThrottlePercent ?? 0);
  if (policy.autoConverge && throttle < policy.maxThrottlePercent) {
    const next = throttle === 0 ? policy.throttleInitialPercent : Math.min(policy.maxThrottlePercent, throttle + policy.throttleStepPercent);
    const from = throttle === 0 ? 'throttle the guest to' : `raise the CPU throttle ${throttle} →`;
    return Object.freeze({ kind: 'throttle', cpuThrottlePercent: next, reason: `${why}: ${from} ${next} % (downtime limit already at its ${policy.maxDowntimeMs} ms ceiling)` });
  }
  if (policy.postcopy && context.postcopySupported) {
    return Object.freeze({ kind: 'postcopy', reason: `${why}: switch to post-copy (downtime limit and throttle exhausted)` });
  }
  const tried = [
    `downtime limit at its ${policy.maxDowntimeMs} ms ceiling`,
    policy.autoConverge ? `CPU throttle at ${throttle} %` : 'throttling not permitted',
    !policy.postcopy ? 'post-copy not permitted' : 'post-copy not supported by the hosts',
  ];
  return Object.freeze({ kind: 'abort', reason: `${why}: nothing left to try (${tried.join(', ')})` });
}
