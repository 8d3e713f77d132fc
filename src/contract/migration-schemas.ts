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
  /**
   * Cross-cloud cold migration of a powered-off VM: a registered cloud's name moves it from its local host to that
   * cloud; `local` brings a VM on a cloud back to a local host (`to`, or one the placement rules choose).
   */
  cloud: z.string().min(1).max(64).optional(),
  /** With `cloud`: start the VM where it arrives (default: it arrives powered off, as it left). */
  start: z.boolean().optional(),
}).refine((b) => b.force !== true || b.to !== undefined, { path: ['force'], message: 'applies to an explicit destination only: give `to` as well' })
  .refine((b) => b.cloud === undefined || (b.policy === undefined && b.priority === undefined && b.dryRun === undefined && b.force === undefined), { path: ['cloud'], message: 'a migration between clouds takes no policy, priority, dryRun or force' })
  .refine((b) => b.cloud === undefined || b.cloud === 'local' || b.to === undefined, { path: ['to'], message: 'names a local host: give it with cloud `local` (back from a cloud), not with a cloud to migrate to' })
  .refine((b) => b.start === undefined || b.cloud !== undefined, { path: ['start'], message: 'applies to a migration between clouds only: give `cloud` as well' });

/** A cross-cloud cold migration (`POST /api/v1/vms/{id}/migrate` with `cloud`; `GET /api/v1/vms/{id}/cloud-migration`). */
export const cloudMigrationView = z.object({
  kind: z.literal('cloud'),
  vm: z.string(),
  vmId: z.string(),
  /** `out`: from a local host to the cloud; `back`: from the cloud to a local host. */
  direction: z.enum(['out', 'back']),
  cloud: z.string(),
  /** The VM's migrations between clouds so far, this one included (part of every name and token it uses on the cloud). */
  generation: z.number().int(),
  /** The step to do next: out export, register, launch, confirm, release; back image, export, download, place, cleanup; then done or failed. */
  step: z.string(),
  start: z.boolean(),
  /** Out: the sha256 of the disk as exported and uploaded (the remote's registered image has the same). */
  sha256: z.string().nullable(),
  /** Back: the sha256 of the disk as downloaded (checked against the exported object's), the local image's. */
  backSha256: z.string().nullable(),
  instanceId: z.string().nullable(),
  /** Back: the local image the VM's disk now is. */
  image: z.string().nullable(),
  /** Why it failed (then rolled back), with its step. */
  error: z.string().nullable(),
  startedAt: z.string(),
  updatedAt: z.string(),
});
export type CloudMigrationView = z.infer<typeof cloudMigrationView>;
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
