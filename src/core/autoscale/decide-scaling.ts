import type { ScalingBounds, ScalingPolicy } from './scaling-policy.js';

export interface ScalingInput {
  readonly bounds: ScalingBounds;
  readonly policy: ScalingPolicy;
  /** The policy's metric now; undefined when there is none yet (no samples, nothing pushed). */
  readonly metric: number | undefined;
  /** When the group last scaled (ms since the epoch), if ever. */
  readonly lastScaleAt: number | undefined;
  readonly now: number;
}

export interface ScalingDecision {
  readonly change: 'out' | 'in' | 'none';
  readonly desired: number;
  readonly reason: string;
}

/**
 * The group's next desired size. Bounds first (a desired outside min..max is
 * brought inside at once, cooldown or not), then the cooldown, then the
 * thresholds, each step clamped to the bounds.
 */
export function decideScaling(input: ScalingInput): ScalingDecision {
  const { bounds, policy, metric, lastScaleAt, now } = input;
  const { min, max, desired } = bounds;
  if (desired < min) return { change: 'out', desired: min, reason: `desired ${desired} is below min ${min}` };
  if (desired > max) return { change: 'in', desired: max, reason: `desired ${desired} is above max ${max}` };
  if (metric === undefined) return { change: 'none', desired, reason: `no ${policy.metric} metric yet` };
  const shown = `${policy.metric} ${round(metric)}`;
  if (lastScaleAt !== undefined && now - lastScaleAt < policy.cooldownS * 1000) {
    const left = Math.ceil((policy.cooldownS * 1000 - (now - lastScaleAt)) / 1000);
    return { change: 'none', desired, reason: `${shown}; in cooldown for ${left} s more` };
  }
  if (metric > policy.scaleOutAbove) {
    if (desired >= max) return { change: 'none', desired, reason: `${shown} > ${policy.scaleOutAbove} but the group is at max ${max}` };
    const next = Math.min(max, desired + policy.stepOut);
    return { change: 'out', desired: next, reason: `${shown} > ${policy.scaleOutAbove}: ${desired} → ${next}` };
  }
  if (metric < policy.scaleInBelow) {
    if (desired <= min) return { change: 'none', desired, reason: `${shown} < ${policy.scaleInBelow} but the group is at min ${min}` };
    const next = Math.max(min, desired - policy.stepIn);
    return { change: 'in', desired: next, reason: `${shown} < ${policy.scaleInBelow}: ${desired} → ${next}` };
  }
  return { change: 'none', desired, reason: `${shown} is within ${policy.scaleInBelow}..${policy.scaleOutAbove}` };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
