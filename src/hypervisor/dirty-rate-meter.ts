import type { WaitOptions } from '../util/deadline.js';

/** How fast a running guest dirties its memory, measured over `calcTimeS`. */
export interface DirtyRate {
  readonly dirtyBytesPerSec: number;
  readonly calcTimeS: number;
  /** How it was measured (QEMU: `page-sampling`; the fake: `configured`). */
  readonly mode: string;
}

/**
 * The migration planner's input from the hypervisor (QEMU's `calc-dirty-rate`):
 * an optional capability, absent when the driver cannot measure. The VM is
 * running; the call takes about `calcTimeS` seconds.
 */
export interface DirtyRateMeter {
  measure(vmId: string, calcTimeS: number, opts?: WaitOptions): Promise<DirtyRate>;
}

/** Bounds of a measurement: QEMU 7.2 accepts 1..60 s; more than a few seconds only delays the plan. */
export const DIRTY_RATE_CALC_TIME_S = { min: 1, max: 10, default: 1 } as const;
