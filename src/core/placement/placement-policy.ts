import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';
import { loadAwareRanker, packingRanker, stripingRanker, type HostRanker } from './host-rankers.js';
import { compileRankExpression } from './requirements-expression.js';

export const RANKERS = ['packing', 'striping', 'load-aware', 'custom'] as const;

export type RankerName = (typeof RANKERS)[number];

export interface PlacementPolicyInput {
  /** Default `packing` (OpenNebula's default too). */
  readonly ranker?: RankerName;
  /** Required with `custom`, refused otherwise: a number, higher is better. */
  readonly rankExpression?: string;
  /** Virtual CPUs per physical CPU; default 1 (no overcommit). Memory and disk are never overcommitted. */
  readonly cpuOvercommit?: number;
}

/** A normalised, frozen policy: what placeVm takes. */
export interface PlacementPolicy {
  readonly ranker: RankerName;
  readonly rankExpression?: string;
  readonly cpuOvercommit: number;
  readonly rank: HostRanker;
}

export const MAX_CPU_OVERCOMMIT = 64;

const BUILT_IN: Readonly<Record<Exclude<RankerName, 'custom'>, HostRanker>> = {
  packing: packingRanker,
  striping: stripingRanker,
  'load-aware': loadAwareRanker,
};

/**
 * Validates and compiles a placement policy once (the rank expression
 * included).
 * @throws ValidationError naming every offending field.
 */
export function compilePlacementPolicy(input: PlacementPolicyInput = {}): PlacementPolicy {
  const issues: FieldIssue[] = [];
  const ranker = input.ranker ?? 'packing';
  const cpuOvercommit = input.cpuOvercommit ?? 1;
  if (!(RANKERS as readonly string[]).includes(ranker)) issues.push({ field: 'ranker', message: `must be one of ${RANKERS.join(', ')}` });
  if (typeof cpuOvercommit !== 'number' || !Number.isFinite(cpuOvercommit) || cpuOvercommit <= 0 || cpuOvercommit > MAX_CPU_OVERCOMMIT) {
    issues.push({ field: 'cpuOvercommit', message: `must be a number > 0 and <= ${MAX_CPU_OVERCOMMIT}` });
  }
  let rank: HostRanker | undefined;
  if (ranker === 'custom') {
    if (input.rankExpression === undefined) {
      issues.push({ field: 'rankExpression', message: 'is required with ranker custom' });
    } else {
      try {
        rank = compileRankExpression(input.rankExpression);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        issues.push(...err.issues);
      }
    }
  } else if (input.rankExpression !== undefined) {
    issues.push({ field: 'rankExpression', message: 'is only used with ranker custom' });
  } else {
    rank = BUILT_IN[ranker];
  }
  if (issues.length > 0 || rank === undefined) throw new ValidationError('placement policy', issues);
  return Object.freeze(
    input.rankExpression === undefined ? { ranker, cpuOvercommit, rank } : { ranker, rankExpression: input.rankExpression, cpuOvercommit, rank },
  );
}
