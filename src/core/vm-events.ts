import { InvalidStateError } from './invalid-state-error.js';
import type { ActionPlan, PlanStep } from './vm-actions.js';
import { VM_STATES, type FailedPhase, type VmPhase, type VmState } from './vm-state.js';

/**
 * What an agent finds for a VM when asked (after its host came back, or on
 * `recover`). The controller folds the agent's answer — and, for `stored`,
 * the system store's — into one of these.
 */
export const AGENT_VM_REPORTS = [
  /** QEMU runs the guest. */
  'running',
  /** No QEMU process; the disks are on the host. */
  'shutoff',
  /** No QEMU process; disks and a memory save file are on the host. */
  'saved',
  /** Nothing on the host; disks and memory are in the system store. */
  'stored',
  /** No trace of the VM anywhere. */
  'missing',
] as const;

export type AgentVmReport = (typeof AGENT_VM_REPORTS)[number];

/**
 * Internal events the controller applies.
 * - `step-done` / `step-failed`: the side effect of the current step of the
 *   operation in flight ended (`placed` is `step-done` of phase `schedule`,
 *   `prolog-done` is `step-done` of phase `prolog`, …). `phase` must be the
 *   current step's: a late event from an earlier step is refused.
 *   `fatal` says the failure could not be rolled back (the step's own
 *   `onFailure` is skipped and the VM goes to `failed`).
 * - `host-lost`: the VM's host stopped answering (for a migrating VM: the
 *   source, before the commit; the destination's loss is a step failure).
 * - `host-back`: an `unknown` VM's agent answered; its report settles the state.
 * - `process-exited`: QEMU of a running VM exited unasked — `clean` when the
 *   guest powered itself off, not when QEMU crashed or was killed.
 */
export type VmEvent =
  | { readonly type: 'step-done'; readonly phase: VmPhase }
  | { readonly type: 'step-failed'; readonly phase: VmPhase; readonly fatal?: boolean }
  | { readonly type: 'host-lost' }
  | { readonly type: 'host-back'; readonly report: AgentVmReport }
  | { readonly type: 'process-exited'; readonly clean: boolean };

export interface EventOutcome {
  readonly state: VmState;
  /** Present exactly when `state` is `failed` and the event made it so. */
  readonly failedPhase?: FailedPhase;
  /**
   * False when the event leaves the VM as it was (host-lost on a VM that does
   * not run): write nothing, keep the failed phase the record has.
   */
  readonly changed: boolean;
  /**
   * The step to run next when the operation goes on. Absent: the operation in
   * flight (if any) has ended — completed, rolled back, or abandoned because
   * the host was lost — and the controller clears it.
   */
  readonly next?: PlanStep;
}

type Settled = VmState | readonly ['failed', FailedPhase];

// Host loss: whatever was running or in progress becomes unknown; a VM that
// runs nothing on the host (powered off, suspended, already failed) keeps its
// state — OpenNebula does the same. VMs that are not on a host cannot lose it.
const ON_HOST_LOST: Readonly<Partial<Record<VmState, VmState>>> = {
  prolog: 'unknown',
  boot: 'unknown',
  running: 'unknown',
  migrating: 'unknown',
  shutdown: 'unknown',
  saving: 'unknown',
  epilog: 'unknown',
  poweroff: 'poweroff',
  suspended: 'suspended',
  failed: 'failed',
  unknown: 'unknown',
};

const ON_HOST_BACK: Readonly<Record<AgentVmReport, Settled>> = {
  running: 'running',
  shutoff: 'poweroff',
  saved: 'suspended',
  stored: 'stopped',
  // Never redeploy on our own: the disks (the user's data) are gone, an admin decides.
  missing: ['failed', 'lost'],
};

const settle = (s: Settled, changed = true): EventOutcome =>
  typeof s === 'string' ? Object.freeze({ state: s, changed }) : Object.freeze({ state: s[0], failedPhase: s[1], changed });

const sorted = (list: readonly VmState[]): VmState[] => [...list].sort((a, b) => VM_STATES.indexOf(a) - VM_STATES.indexOf(b));

/**
 * The state after `event`. Step events need the plan of the operation in
 * flight (`planOf(record.operation)`); the others ignore it.
 * @throws InvalidStateError when the event cannot happen in `state`.
 */
export function applyEvent(state: VmState, event: VmEvent, plan?: ActionPlan): EventOutcome {
  switch (event.type) {
    case 'host-lost': {
      const to = ON_HOST_LOST[state];
      if (to === undefined) throw new InvalidStateError('host-lost', state, sorted(Object.keys(ON_HOST_LOST) as VmState[]), 'apply host-lost to');
      return settle(to, to !== state);
    }
    case 'host-back':
      if (state !== 'unknown') throw new InvalidStateError('host-back', state, ['unknown'], 'apply host-back to');
      return settle(ON_HOST_BACK[event.report]);
    case 'process-exited':
      if (state !== 'running') throw new InvalidStateError('process-exited', state, ['running'], 'apply process-exited to');
      return settle(event.clean ? 'poweroff' : ['failed', 'run']);
    case 'step-done':
    case 'step-failed':
      return applyStepEvent(state, event, plan);
  }
}

function applyStepEvent(
  state: VmState,
  event: Extract<VmEvent, { type: 'step-done' | 'step-failed' }>,
  plan: ActionPlan | undefined,
): EventOutcome {
  const verb = `apply ${event.type}(${event.phase})${plan === undefined ? ' with no operation in flight' : ` of ${plan.action}`} to`;
  const index = plan?.steps.findIndex((s) => s.state === state && s.phase === event.phase) ?? -1;
  const step = plan?.steps[index];
  if (plan === undefined || step === undefined) {
    const allowed = plan?.steps.filter((s) => s.phase === event.phase).map((s) => s.state) ?? [];
    throw new InvalidStateError(event.type, state, sorted(allowed), verb);
  }
  if (event.type === 'step-failed') {
    if (event.fatal === true) return settle(['failed', step.phase]);
    return settle(step.failedPhase === undefined ? step.onFailure : ['failed', step.failedPhase]);
  }
  const next = plan.steps[index + 1];
  if (next === undefined) return settle(plan.onSuccess);
  return Object.freeze({ state: next.state, changed: true, next });
}
