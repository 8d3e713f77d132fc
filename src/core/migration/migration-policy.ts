import { z } from 'zod';
import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';
import type { MigrationParameters } from './migration-parameters.js';

const MIB = 1024 * 1024;

const int = (min: number, max: number, unit: string) =>
  z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}${unit}`)
    .max(max, `must be at most ${max}${unit}`);

/**
 * A live migration's policy as a request gives it (every field optional).
 * Limits are what an operator could mean: QEMU itself accepts a 2000 s
 * downtime, which no cloud user wants.
 */
export const migrationPolicySchema = z
  .strictObject({
    /** Cap on the migration stream (and the disk mirrors). */
    maxBandwidthMiBps: int(1, 100 * 1024, ' MiB/s').default(1024),
    /** The downtime limit the migration starts with (QEMU's default is 300 ms). */
    downtimeMs: int(10, 60_000, ' ms').default(300),
    /** Ceiling the convergence policy may raise the downtime limit to; default max(2000, downtimeMs). */
    maxDowntimeMs: int(10, 60_000, ' ms').optional(),
    /** May the guest's vCPUs be throttled (QEMU auto-converge, and the policy's throttle steps)? */
    autoConverge: z.boolean({ error: 'must be true or false' }).default(true),
    /** XBZRLE compression of re-sent pages: CPU for bandwidth, worth it on slow links. */
    xbzrle: z.boolean({ error: 'must be true or false' }).default(false),
    /** May the migration switch to post-copy (where the host supports it)? Past the switch it can no longer be aborted. */
    postcopy: z.boolean({ error: 'must be true or false' }).default(false),
    /**
     * Resume on completion: the destination runs the guest the moment its incoming stream completes (QEMU's own
     * autostart), and the controller records the switch afterwards — the guest's pause is QEMU's alone. Applies to
     * shared storage without post-copy; false: the destination waits paused for the controller's commit and `cont`.
     */
    resumeOnCompletion: z.boolean({ error: 'must be true or false' }).default(true),
    /** Overall limit; the convergence policy aborts a pre-copy that runs longer. */
    timeoutS: int(10, 86_400, ' s').default(600),
    /** Passes without progress before the convergence policy steps in, and between two of its steps. */
    stallPasses: int(1, 50, '').default(3),
    /** First CPU throttle step. */
    throttleInitialPercent: int(1, 99, ' %').default(20),
    /** Each further throttle step. */
    throttleStepPercent: int(1, 99, ' %').default(20),
    /** Throttle ceiling (QEMU's own is 99 %). */
    maxThrottlePercent: int(1, 99, ' %').default(99),
  })
  .superRefine((p, ctx) => {
    if (p.maxDowntimeMs !== undefined && p.maxDowntimeMs < p.downtimeMs) {
      ctx.addIssue({ code: 'custom', path: ['maxDowntimeMs'], message: `must be at least downtimeMs (${p.downtimeMs})` });
    }
    if (p.maxThrottlePercent < p.throttleInitialPercent) {
      ctx.addIssue({ code: 'custom', path: ['maxThrottlePercent'], message: `must be at least throttleInitialPercent (${p.throttleInitialPercent})` });
    }
  });

export type MigrationPolicyInput = z.input<typeof migrationPolicySchema>;

/** A normalised, frozen policy. Valid input itself: the store keeps it and parses it again after a restart. */
export interface MigrationPolicy {
  readonly maxBandwidthMiBps: number;
  readonly downtimeMs: number;
  readonly maxDowntimeMs: number;
  readonly autoConverge: boolean;
  readonly xbzrle: boolean;
  readonly postcopy: boolean;
  readonly resumeOnCompletion: boolean;
  readonly timeoutS: number;
  readonly stallPasses: number;
  readonly throttleInitialPercent: number;
  readonly throttleStepPercent: number;
  readonly maxThrottlePercent: number;
}

export const DEFAULT_MAX_DOWNTIME_MS = 2000;

// The same shape as hypervisor/vm-spec.ts's zodIssues, which core may not import;
// unknown keys become one issue each so that the field is named.
function zodIssues(err: z.ZodError): FieldIssue[] {
  return err.issues.flatMap((i): FieldIssue[] =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ field: [...i.path.map(String), k].join('.'), message: 'is not a migration policy field' }))
      : [{ field: i.path.map(String).join('.') || '(root)', message: i.message }],
  );
}

/**
 * Validates a request's policy and fills in the defaults. `undefined` is the
 * default policy.
 * @throws ValidationError naming each offending field.
 */
export function parseMigrationPolicy(input: unknown): MigrationPolicy {
  const r = migrationPolicySchema.safeParse(input ?? {});
  if (!r.success) throw new ValidationError('migration policy', zodIssues(r.error));
  const p = r.data;
  return Object.freeze({ ...p, maxDowntimeMs: p.maxDowntimeMs ?? Math.max(DEFAULT_MAX_DOWNTIME_MS, p.downtimeMs) });
}

export const DEFAULT_MIGRATION_POLICY: MigrationPolicy = parseMigrationPolicy(undefined);

/**
 * What `migrateOut` sets before `migrate` starts. The postcopy-ram capability
 * is only asked for where both hosts can switch (`postcopySupported`, default
 * true): QEMU refuses the capability without userfaultfd.
 */
export function toMigrationParameters(policy: MigrationPolicy, hosts: { readonly postcopySupported?: boolean } = {}): MigrationParameters {
  return Object.freeze({
    maxBandwidthBytes: policy.maxBandwidthMiBps * MIB,
    downtimeLimitMs: policy.downtimeMs,
    autoConverge: policy.autoConverge,
    xbzrle: policy.xbzrle,
    postcopy: policy.postcopy && hosts.postcopySupported !== false,
  });
}
