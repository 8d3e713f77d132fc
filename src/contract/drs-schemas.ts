import { z } from 'zod';
import { DRS_MODES } from '../core/drs/drs-policy.js';

/**
 * The native API's shapes for the rebalancer (`/api/v1/drs…`, admins only).
 * Imbalance is the σ of the hosts' CPU and memory use around the cluster's
 * share, 0..1 (docs/drs.md).
 */
export const drsPolicyBody = z.strictObject({
  mode: z.enum(DRS_MODES).optional(),
  threshold: z.number().min(0).max(1).optional(),
  hysteresis: z.number().min(0).max(1).optional(),
  maxMoves: z.number().int().min(0).max(1000).optional(),
  minMinutesBetweenMoves: z.number().min(0).max(10_080).optional(),
  maxHostUse: z.number().min(0.05).max(1).optional(),
});
export type DrsPolicyBody = z.infer<typeof drsPolicyBody>;

export const drsPlanBody = z.strictObject({ policy: drsPolicyBody.optional() });

export const drsConfigBody = z.strictObject({
  enabled: z.boolean().optional(),
  /** Seconds between periodic rounds. */
  intervalS: z.number().int().min(10).max(86_400).optional(),
  policy: drsPolicyBody.optional(),
});

const policyView = z.object({ mode: z.enum(DRS_MODES), threshold: z.number(), hysteresis: z.number(), maxMoves: z.number(), minMinutesBetweenMoves: z.number(), maxHostUse: z.number() });

export const drsConfigView = z.object({ enabled: z.boolean(), intervalS: z.number(), policy: policyView, updatedAt: z.string().nullable() });
export type DrsConfigView = z.infer<typeof drsConfigView>;

const moveView = z.object({ vm: z.string(), vmId: z.string(), from: z.string(), to: z.string(), reason: z.string(), imbalanceAfter: z.number() });

export const drsPlanView = z.object({
  mode: z.enum(DRS_MODES),
  policy: policyView,
  imbalanceBefore: z.number(),
  imbalanceAfter: z.number(),
  summary: z.string(),
  moves: z.array(moveView),
  standby: z.array(z.object({ host: z.string(), hostId: z.string(), reason: z.string() })),
  held: z.array(z.object({ vm: z.string(), vmId: z.string(), reason: z.string() })),
});
export type DrsPlanView = z.infer<typeof drsPlanView>;

export const drsMoveStates = ['pending', 'running', 'done', 'failed', 'dropped'] as const;

/** A journaled (applied) plan and how far it got. */
export const drsAppliedView = z.object({
  id: z.string(),
  trigger: z.enum(['manual', 'periodic']),
  mode: z.string(),
  state: z.enum(['applying', 'done', 'interrupted', 'failed']),
  message: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  summary: z.string(),
  imbalanceBefore: z.number(),
  imbalanceAfter: z.number(),
  moves: z.array(moveView.extend({ seq: z.number(), state: z.enum(drsMoveStates), migrationId: z.string().nullable(), message: z.string().nullable() })),
  standby: z.array(z.object({ host: z.string(), hostId: z.string(), reason: z.string() })),
});
export type DrsAppliedView = z.infer<typeof drsAppliedView>;

export const drsWakeParams = z.object({ host: z.string().min(1).max(100) });
