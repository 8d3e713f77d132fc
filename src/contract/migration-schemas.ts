import { z } from 'zod';
import { migrationPolicySchema } from '../core/migration/migration-policy.js';

/** The native API's shapes for migrations (`/api/v1/migrations`, `POST /api/v1/vms/{id}/migrate`). */

// The bounds are the migration policy's own (core), so that the document states what the server enforces.
const policyLimit = migrationPolicySchema.shape;
export const migrationPolicyBody = z.strictObject({
  maxBandwidthMiBps: policyLimit.maxBandwidthMiBps.unwrap().optional(),
  downtimeMs: policyLimit.downtimeMs.unwrap().optional(),
  maxDowntimeMs: policyLimit.maxDowntimeMs,
  autoConverge: z.boolean().optional(),
  xbzrle: z.boolean().optional(),
  postcopy: z.boolean().optional(),
  resumeOnCompletion: z.boolean().optional(),
  timeoutS: policyLimit.timeoutS.unwrap().optional(),
});
export const migrateVmBody = z.strictObject({
  /** Destination host (name or id); the placement rules choose when absent. */
  to: z.string().min(1).max(64).optional(),
  policy: migrationPolicyBody.optional(),
  /** Queue order: higher first, then first come (default 0). */
  priority: z.number().int().min(-100).max(100).optional(),
  /** Only the pre-checks and the prediction: nothing is queued or changed. */
  dryRun: z.boolean().optional(),
  /** With `to`: migrate there even though the host does not meet the VM's placement requirements (the other checks still apply). */
  force: z.boolean().optional(),
}).refine((b) => b.force !== true || b.to !== undefined, { path: ['force'], message: 'applies to an explicit destination only: give `to` as well' });
/** The planner's prediction (live migrations; a cold one says it is not predicted). */
export const migrationPrediction = z.record(z.string(), z.unknown());
export const migrationDryRunView = z.object({
  dryRun: z.literal(true),
  vm: z.string(),
  vmId: z.string(),
  kind: z.enum(['live', 'cold']),
  source: z.string(),
  destination: z.string(),
  /** Every pre-check passed (a refusal is a 409 MIGRATION_REFUSED instead). */
  checks: z.literal('passed'),
  /** The destination is in another cluster: why the VM may cross (nothing of its is bound to its cluster); null: the same cluster. */
  crossing: z.string().nullable().default(null),
  prediction: migrationPrediction,
});
export type MigrationDryRunView = z.infer<typeof migrationDryRunView>;
export const MIGRATION_VIEW_STATES = ['queued', 'running', 'succeeded', 'failed', 'aborted', 'cancelled', 'refused'] as const;
export const migrationView = z.object({
  id: z.string(),
  vm: z.string(),
  vmId: z.string(),
  kind: z.enum(['live', 'cold']),
  source: z.string(),
  destination: z.string(),
  stage: z.string(),
  /** `queued`: waiting for its turn; `cancelled`: taken out of the queue; `refused`: a check said no when its turn came. */
  state: z.enum(MIGRATION_VIEW_STATES),
  reason: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** Live numbers while running, totals once ended: bytes, passes, dirty rate, downtime, total time, convergence actions. */
  stats: z.record(z.string(), z.unknown()),
  policy: z.record(z.string(), z.unknown()),
  journal: z.array(z.object({ stage: z.string(), at: z.string(), data: z.record(z.string(), z.unknown()).optional() })),
  /** Queue facts (absent for migrations from before the queue). */
  priority: z.number().int().optional(),
  queuedAt: z.string().optional(),
  origin: z.string().nullable().optional(),
  /** True when an admin forced the destination past the VM's placement requirements (`--force`). */
  forced: z.boolean().optional(),
  prediction: migrationPrediction.nullable().optional(),
  /** Once it ended: the actual figures next to the prediction, and the error as a signed fraction of the actual. */
  actual: z.object({ totalMs: z.number().nullable(), downtimeMs: z.number().nullable() }).optional(),
  predictionError: z.object({ totalMs: z.number().nullable(), downtimeMs: z.number().nullable() }).optional(),
});
export type MigrationView = z.infer<typeof migrationView>;
export const listMigrationsQuery = z.strictObject({
  vm: z.string().max(64).optional(),
  state: z.enum(MIGRATION_VIEW_STATES).optional(),
});
