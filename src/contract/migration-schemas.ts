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
});
export const migrationView = z.object({
  id: z.string(),
  vm: z.string(),
  vmId: z.string(),
  kind: z.enum(['live', 'cold']),
  source: z.string(),
  destination: z.string(),
  stage: z.string(),
  state: z.enum(['running', 'succeeded', 'failed', 'aborted']),
  reason: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** Live numbers while running, totals once ended: bytes, passes, dirty rate, downtime, total time, convergence actions. */
  stats: z.record(z.string(), z.unknown()),
  policy: z.record(z.string(), z.unknown()),
  journal: z.array(z.object({ stage: z.string(), at: z.string(), data: z.record(z.string(), z.unknown()).optional() })),
});
export type MigrationView = z.infer<typeof migrationView>;
export const listMigrationsQuery = z.strictObject({
  vm: z.string().max(64).optional(),
  state: z.enum(['running', 'succeeded', 'failed', 'aborted']).optional(),
});
