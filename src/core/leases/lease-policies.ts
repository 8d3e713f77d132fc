import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';
import { ADMISSION_POLICIES, type AdmissionPolicy } from './admission-policy.js';
import { HOST_SELECTION_POLICIES, type HostSelectionPolicy } from './host-selection-policy.js';
import { AGE_LIMIT_POLICIES, DEFAULT_PREEMPTION_AGE_LIMIT_S, PREEMPTABILITY_POLICIES, type PreemptabilityPolicy } from './preemptability-policy.js';

export const BACKFILLING_MODES = ['off', 'aggressive', 'conservative'] as const;
export type BackfillingMode = (typeof BACKFILLING_MODES)[number];
export const SUSPENSION_MODES = ['none', 'all'] as const;
export type SuspensionMode = (typeof SUSPENSION_MODES)[number];
export const MIGRATION_MODES = ['no', 'yes'] as const;
export type MigrationMode = (typeof MIGRATION_MODES)[number];
export const UNSUSPENDABLE_MODES = ['requeue', 'cancel'] as const;
export type UnsuspendableMode = (typeof UNSUSPENDABLE_MODES)[number];

/** The policies a scheduler runs with, resolved from their names. */
export interface LeasePolicies {
  readonly admission: AdmissionPolicy;
  readonly preemptability: PreemptabilityPolicy;
  readonly hostSelection: HostSelectionPolicy;
  /** off: strict first-come-first-served; aggressive (EASY): the queue's head holds a reservation, others may jump ahead if they do not delay it; conservative: every queued lease holds one. */
  readonly backfilling: BackfillingMode;
  /** none: best-effort leases run to their end once started (and must fit before any reservation); all: they may be suspended. */
  readonly suspension: SuspensionMode;
  /** yes: a suspended lease may resume on other hosts after moving its state, when that ends sooner. */
  readonly migration: MigrationMode;
  /**
   * What an AR does to a preemptible lease in its way that has begun and cannot be suspended (suspension none, or its
   * suspension would have to begin before now or before it runs): requeue — its VMs end now and it goes back to the
   * queue to start over with its whole duration (Haizea's must_cancel_and_requeue); cancel — it ends, cancelled.
   */
  readonly unsuspendable: UnsuspendableMode;
}

/** Policy names as a configuration file gives them. */
export interface LeasePolicyNames {
  readonly admission?: string;
  readonly preemptability?: string;
  readonly hostSelection?: string;
  readonly backfilling?: string;
  readonly suspension?: string;
  readonly migration?: string;
  readonly unsuspendable?: string;
  /** The age limit (seconds a BE lease has run) of the age preemptability policies; a number or its decimal text. */
  readonly preemptionAgeLimitS?: number | string;
}

export const DEFAULT_POLICY_NAMES = Object.freeze({
  admission: 'accept-all',
  preemptability: 'ar-preempts-be',
  hostSelection: 'greedy',
  backfilling: 'aggressive',
  suspension: 'all',
  migration: 'no',
  unsuspendable: 'requeue',
}) satisfies Required<Omit<LeasePolicyNames, 'preemptionAgeLimitS'>>;

function pick<T>(issues: FieldIssue[], field: string, name: string, table: Readonly<Record<string, T>>): T | undefined {
  const found = Object.hasOwn(table, name) ? table[name] : undefined;
  if (found === undefined) issues.push({ field: `policies.${field}`, message: `unknown policy "${name}" (known: ${Object.keys(table).join(', ')})` });
  return found;
}

const modes = <T extends string>(list: readonly T[]): Readonly<Record<string, T>> => Object.fromEntries(list.map((m) => [m, m]));

/** Resolves policy names (defaults for the missing ones); an unknown name is a ValidationError naming the field and the known names. */
export function compileLeasePolicies(names: LeasePolicyNames = {}): LeasePolicies {
  const { preemptionAgeLimitS: rawAge, ...kinds } = names;
  const n = { ...DEFAULT_POLICY_NAMES, ...Object.fromEntries(Object.entries(kinds).filter(([, v]) => v !== undefined)) } as Required<Omit<LeasePolicyNames, 'preemptionAgeLimitS'>>;
  const issues: FieldIssue[] = [];
  for (const k of Object.keys(kinds)) {
    if (!Object.hasOwn(DEFAULT_POLICY_NAMES, k)) issues.push({ field: `policies.${k}`, message: `unknown policy kind (known: ${[...Object.keys(DEFAULT_POLICY_NAMES), 'preemptionAgeLimitS'].join(', ')})` });
  }
  const age = rawAge === undefined ? DEFAULT_PREEMPTION_AGE_LIMIT_S : typeof rawAge === 'string' && /^\d+(\.\d+)?$/.test(rawAge.trim()) ? Number(rawAge) : rawAge;
  if (typeof age !== 'number' || !Number.isFinite(age) || age < 0) issues.push({ field: 'policies.preemptionAgeLimitS', message: `must be a number of seconds ≥ 0 (got ${JSON.stringify(rawAge)})` });
  const makeAged = Object.hasOwn(AGE_LIMIT_POLICIES, n.preemptability) ? AGE_LIMIT_POLICIES[n.preemptability] : undefined;
  const out = {
    admission: pick(issues, 'admission', n.admission, ADMISSION_POLICIES),
    preemptability: makeAged !== undefined && typeof age === 'number' ? makeAged(age) : pick(issues, 'preemptability', n.preemptability, PREEMPTABILITY_POLICIES),
    hostSelection: pick(issues, 'hostSelection', n.hostSelection, HOST_SELECTION_POLICIES),
    backfilling: pick(issues, 'backfilling', n.backfilling, modes(BACKFILLING_MODES)),
    suspension: pick(issues, 'suspension', n.suspension, modes(SUSPENSION_MODES)),
    migration: pick(issues, 'migration', n.migration, modes(MIGRATION_MODES)),
    unsuspendable: pick(issues, 'unsuspendable', n.unsuspendable, modes(UNSUSPENDABLE_MODES)),
  };
  if (issues.length > 0) throw new ValidationError('lease policies', issues);
  return Object.freeze(out as LeasePolicies);
}
