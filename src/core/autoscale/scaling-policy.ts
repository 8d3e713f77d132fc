import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';

export const SCALING_METRICS = ['cpu', 'custom'] as const;
export type ScalingMetric = (typeof SCALING_METRICS)[number];

/**
 * When a group grows or shrinks. `cpu`: the members' mean CPU use in percent
 * of their vCPUs (100 = every vCPU busy); `custom`: the last value the
 * application pushed (POST /api/v1/scaling-groups/:id/metric).
 */
export interface ScalingPolicy {
  readonly metric: ScalingMetric;
  /** Scale out when the metric is above this. */
  readonly scaleOutAbove: number;
  /** Scale in when the metric is below this (must be below scaleOutAbove, or the group would flap). */
  readonly scaleInBelow: number;
  readonly stepOut: number;
  readonly stepIn: number;
  /** No scaling within this many seconds of the last one: the new members' load has to show first. */
  readonly cooldownS: number;
}

export interface ScalingBounds {
  readonly min: number;
  readonly max: number;
  readonly desired: number;
}

/** The most members a group may have. */
export const MAX_GROUP_SIZE = 100;

/**
 * Checks the rules that span fields (each field's own range is the wire
 * schema's): min ≤ desired ≤ max ≤ MAX_GROUP_SIZE, scaleInBelow < scaleOutAbove.
 * @throws ValidationError naming each offending field
 */
export function checkScalingGroup(bounds: ScalingBounds, policy: ScalingPolicy): void {
  const issues: FieldIssue[] = [];
  if (bounds.min > bounds.max) issues.push({ field: 'min', message: `must be at most max (${bounds.max})` });
  if (bounds.max > MAX_GROUP_SIZE) issues.push({ field: 'max', message: `must be at most ${MAX_GROUP_SIZE}` });
  if (bounds.desired < bounds.min || bounds.desired > bounds.max) issues.push({ field: 'desired', message: `must be from min (${bounds.min}) to max (${bounds.max})` });
  if (policy.scaleInBelow >= policy.scaleOutAbove) issues.push({ field: 'policy.scaleInBelow', message: `must be below scaleOutAbove (${policy.scaleOutAbove})` });
  if (issues.length > 0) throw new ValidationError('scaling group', issues);
}
