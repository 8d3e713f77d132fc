import { z } from 'zod';
import { SCALING_METRICS, MAX_GROUP_SIZE } from '../core/autoscale/scaling-policy.js';
import { MIN_VM_MEMORY_MIB } from '../core/memory-minimum.js';
import { resourceNameSchema } from './api-schemas.js';

/**
 * The native API's shapes for autoscaling groups (`/api/v1/scaling-groups`).
 * Sizes are member counts; the `cpu` metric is percent of the members' vCPUs.
 */
const size = z.number().int('must be a whole number').min(0).max(MAX_GROUP_SIZE);

export const scalingPolicyBody = z.strictObject({
  metric: z.enum(SCALING_METRICS),
  scaleOutAbove: z.number().finite(),
  scaleInBelow: z.number().finite(),
  stepOut: z.number().int().min(1).max(MAX_GROUP_SIZE).default(1),
  stepIn: z.number().int().min(1).max(MAX_GROUP_SIZE).default(1),
  cooldownS: z.number().int().min(0).max(86_400).default(60),
});

export const createScalingGroupBody = z.strictObject({
  /** At most 50 characters: members are named <name>-<n>. */
  name: resourceNameSchema.max(50),
  template: z.string().min(1).max(64),
  min: size,
  max: size.min(1),
  /** Defaults to min. */
  desired: size.optional(),
  policy: scalingPolicyBody,
  /** Given to every member VM (as `vm create` takes them). */
  userData: z.string().max(64 * 1024).optional(),
  vcpus: z.number().int().min(1).max(64).optional(),
  memoryMiB: z.number().int().min(MIN_VM_MEMORY_MIB).max(1024 * 1024).optional(),
});
export type CreateScalingGroupBody = z.input<typeof createScalingGroupBody>;

export const setScalingGroupBody = z.strictObject({
  min: size.optional(),
  max: size.min(1).optional(),
  desired: size.optional(),
  policy: z.strictObject({
    metric: z.enum(SCALING_METRICS).optional(),
    scaleOutAbove: z.number().finite().optional(),
    scaleInBelow: z.number().finite().optional(),
    stepOut: z.number().int().min(1).max(MAX_GROUP_SIZE).optional(),
    stepIn: z.number().int().min(1).max(MAX_GROUP_SIZE).optional(),
    cooldownS: z.number().int().min(0).max(86_400).optional(),
  }).optional(),
});
export type SetScalingGroupBody = z.input<typeof setScalingGroupBody>;

export const scalingMetricBody = z.strictObject({ value: z.number().finite() });

export const scalingGroupView = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  template: z.string(),
  min: z.number(),
  max: z.number(),
  desired: z.number(),
  policy: z.object({ metric: z.enum(SCALING_METRICS), scaleOutAbove: z.number(), scaleInBelow: z.number(), stepOut: z.number(), stepIn: z.number(), cooldownS: z.number() }),
  /** The policy's metric as last evaluated (null: none yet). */
  metric: z.number().nullable(),
  customMetric: z.number().nullable(),
  customMetricAt: z.string().nullable(),
  lastScaleAt: z.string().nullable(),
  members: z.array(z.object({ vm: z.string(), vmId: z.string().nullable(), state: z.enum(['creating', 'active', 'removing']), vmState: z.string().nullable(), cpu: z.number().nullable(), createdAt: z.string() })),
  createdAt: z.string(),
});
export type ScalingGroupView = z.infer<typeof scalingGroupView>;

export const scalingHistoryView = z.object({
  at: z.string(), kind: z.string(), desiredFrom: z.number().nullable(), desiredTo: z.number().nullable(), message: z.string(),
});
