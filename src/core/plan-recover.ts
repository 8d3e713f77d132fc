import { planAction, type ActionPlan, type PlanStep } from './vm-actions.js';
import { RecoverRefusedError } from './recover-refused-error.js';
import { isFailedPhase, type FailedPhase, type VmState } from './vm-state.js';
import { InvariantError } from '../errors/invariant-error.js';

/**
 * What `recover` found of a failed VM before it decides: `no-host` when the
 * VM is bound to none, else what its host's agent holds — QEMU still running
 * it, its disks (`shutoff`), its disks and saved memory (`saved`), or nothing.
 */
export const RECOVER_FINDINGS = ['no-host', 'running', 'shutoff', 'saved', 'missing'] as const;
export type RecoverFinding = (typeof RECOVER_FINDINGS)[number];

/** Where recover enters the recover plan (pending → prolog → boot), or why it refuses. */
export interface RecoverDecision {
  readonly plan: ActionPlan;
  /** The first step to run: its state is written when recover starts. */
  readonly entry: PlanStep;
}

// What a failed phase says about the VM's disks:
// - `fresh`: it failed before its disks were complete (placing it, or building them from the image): the guest never
//   ran, so nothing of the user's exists — recover redoes the failed step (prolog rebuilds the disks; the agent's
//   prepare is idempotent and cleans up a half-built one), or schedules it again if it lost its host.
// - `disk`: its disks were complete and the guest may have written to them (a first boot that failed, a crash, a
//   failed reboot, save, restore or migration, a host that came back without it): recover only starts it again from
//   what its host holds, never rebuilds them — that would silently replace the user's data with the image.
// - `deleting`: it failed while terminate deleted its disks: what is left is half gone; only terminate-hard ends it.
type DiskFate = 'fresh' | 'disk' | 'deleting';

const FATE: Readonly<Record<FailedPhase, DiskFate>> = {
  schedule: 'fresh',
  prolog: 'fresh',
  'prolog-resume': 'disk',
  boot: 'disk',
  restore: 'disk',
  reboot: 'disk',
  'reboot-hard': 'disk',
  shutdown: 'disk',
  'shutdown-hard': 'disk',
  save: 'disk',
  migrate: 'disk',
  'migrate-live': 'disk',
  epilog: 'deleting',
  'epilog-stop': 'disk',
  run: 'disk',
  lost: 'disk',
};

/**
 * The failed phase recorded with a failed VM: the orchestrator and the host
 * monitor write its `stateReason` as `<phase>: <why>`. Undefined when the
 * reason does not start with one (then recover treats the disks as the
 * user's: `disk`).
 */
export function failedPhaseOf(stateReason: string | null): FailedPhase | undefined {
  const head = stateReason?.split(':', 1)[0];
  return isFailedPhase(head) ? head : undefined;
}

/**
 * How `recover` brings a failed VM back: the step of the recover plan to
 * enter, from the phase it failed in and what was found of it.
 * @throws InvalidStateError when the VM is not `failed`
 * @throws RecoverRefusedError when there is nothing safe to start it from
 */
export function planRecover(state: VmState, failedPhase: FailedPhase | undefined, found: RecoverFinding): RecoverDecision {
  const plan = planAction(state, 'recover');
  const step = (phase: 'schedule' | 'prolog' | 'boot'): RecoverDecision => {
    const entry = plan.steps.find((s) => s.phase === phase);
    if (entry === undefined) throw new InvariantError(`the recover plan has no ${phase} step`);
    return { plan, entry };
  };
  const phase = failedPhase ?? 'unrecorded';
  const fate = failedPhase === undefined ? 'disk' : FATE[failedPhase];
  if (fate === 'deleting') {
    throw new RecoverRefusedError(phase, found, 'it failed while its disks were being deleted (terminate): what is left of them is not a disk to start; terminate-hard ends it');
  }
  if (fate === 'fresh') return step(found === 'no-host' ? 'schedule' : 'prolog');
  switch (found) {
    case 'running':
    case 'shutoff':
    case 'saved':
      return step('boot');
    case 'missing':
      throw new RecoverRefusedError(phase, found, `it failed in ${phase} and its host holds nothing of it any more: its disk (the guest's data) is gone, and rebuilding it from the image would hide that; terminate it`);
    case 'no-host':
      throw new RecoverRefusedError(phase, found, `it failed in ${phase} and is on no host: there is no disk to start it from; terminate it`);
  }
}
