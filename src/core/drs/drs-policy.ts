import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';

export const DRS_MODES = ['balance', 'consolidate'] as const;
export type DrsMode = (typeof DRS_MODES)[number];

/** How the rebalancer decides (normalised once by `compileDrsPolicy`). */
export interface DrsPolicy {
  readonly mode: DrsMode;
  /** Balance: plan down to an imbalance (σ of host use, 0..1) at or below this. */
  readonly threshold: number;
  /** Balance: start planning only above threshold + hysteresis, so a cluster hovering at the threshold is left alone. */
  readonly hysteresis: number;
  /** The most live migrations one plan may hold (the cost limit of one round). */
  readonly maxMoves: number;
  /** A VM migrated less than this long ago is not moved again (the cost limit over time). */
  readonly minMinutesBetweenMoves: number;
  /** Consolidate: a destination's measured CPU use may not exceed this share of its CPUs after the moves. */
  readonly maxHostUse: number;
}

export const DEFAULT_DRS_POLICY: DrsPolicy = Object.freeze({
  mode: 'balance', threshold: 0.1, hysteresis: 0.05, maxMoves: 5, minMinutesBetweenMoves: 30, maxHostUse: 0.8,
});

const RANGES: Readonly<Record<Exclude<keyof DrsPolicy, 'mode'>, readonly [number, number, boolean]>> = {
  threshold: [0, 1, false],
  hysteresis: [0, 1, false],
  maxMoves: [0, 1000, true],
  minMinutesBetweenMoves: [0, 10_080, false],
  maxHostUse: [0.05, 1, false],
};

/**
 * The policy from user input over the defaults; every bad field is named.
 * @throws ValidationError naming each field out of range or of the wrong kind
 */
export function compileDrsPolicy(input: Partial<Record<keyof DrsPolicy, unknown>>, base: DrsPolicy = DEFAULT_DRS_POLICY): DrsPolicy {
  const issues: FieldIssue[] = [];
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (key === 'mode') {
      if (typeof value === 'string' && (DRS_MODES as readonly string[]).includes(value)) out.mode = value;
      else issues.push({ field: 'mode', message: `must be one of ${DRS_MODES.join(', ')}` });
      continue;
    }
    const range = RANGES[key as keyof typeof RANGES] as (typeof RANGES)[keyof typeof RANGES] | undefined;
    if (range === undefined) {
      issues.push({ field: key, message: 'is not a DRS policy field' });
      continue;
    }
    const [min, max, integer] = range;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      issues.push({ field: key, message: `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}` });
      continue;
    }
    out[key] = value;
  }
  if (issues.length > 0) throw new ValidationError('DRS policy', issues);
  return Object.freeze(out) as unknown as DrsPolicy;
}
