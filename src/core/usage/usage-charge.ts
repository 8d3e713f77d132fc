import type { VmState } from '../vm-state.js';

/**
 * What a VM is charged in a state:
 * - `compute`: vCPUs, memory and disk — a QEMU process holds the host's CPUs
 *   and memory (boot, running, migrating, and while it shuts down or saves);
 * - `disk`: the disk alone — the VM's disks exist but nothing runs (prolog
 *   builds them, epilog removes them, poweroff/suspended keep them on the
 *   host, stopped in the system store, failed and unknown keep what was
 *   there: a VM whose host stopped answering is not charged for CPU time
 *   nobody can vouch for);
 * - `none`: waiting for a host (pending, also when a stopped VM resumes) or
 *   gone (terminated).
 * One table, so the rule is read in one place and a new state cannot be
 * forgotten (the Record type requires every state).
 */
export type UsageCharge = 'compute' | 'disk' | 'none';

export const USAGE_CHARGES: Readonly<Record<VmState, UsageCharge>> = Object.freeze({
  pending: 'none',
  prolog: 'disk',
  boot: 'compute',
  running: 'compute',
  migrating: 'compute',
  shutdown: 'compute',
  saving: 'compute',
  epilog: 'disk',
  poweroff: 'disk',
  suspended: 'disk',
  stopped: 'disk',
  terminated: 'none',
  failed: 'disk',
  unknown: 'disk',
});

export function usageChargeOf(state: VmState): UsageCharge {
  return USAGE_CHARGES[state];
}
