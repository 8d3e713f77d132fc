import { InvalidStateError } from './invalid-state-error.js';
import { VM_STATES, type FailedPhase, type VmPhase, type VmState } from './vm-state.js';

/**
 * What a user (or an admin) can ask of a VM. `create` is implicit: a new VM
 * record is inserted with `planCreate()`; it is allowed from no existing state.
 */
export const VM_ACTIONS = [
  'create',
  'poweroff',
  'poweroff-hard',
  'start',
  'reboot',
  'reboot-hard',
  'suspend',
  'resume',
  'stop',
  'terminate',
  'terminate-hard',
  'migrate',
  'migrate-live',
  'recover',
] as const;

export type VmAction = (typeof VM_ACTIONS)[number];

/**
 * One side effect of an action. While it runs the VM is in `state`; if it
 * fails and was rolled back the VM goes to `onFailure` (`failed` with
 * `failedPhase` when there is nothing to roll back to).
 */
export interface PlanStep {
  readonly state: VmState;
  readonly phase: VmPhase;
  readonly onFailure: VmState;
  /** Present exactly when `onFailure` is `failed`. */
  readonly failedPhase?: FailedPhase;
}

/**
 * What an action does from a given state. `transitional`, `onFailure` and
 * `failedPhase` describe the first step (what is written before anything
 * starts, and where a refused or rolled-back first step leaves the VM);
 * `onSuccess` is where the last step leaves it. Later steps have their own
 * `onFailure` (a failed clean-up after a successful shutdown does not bring
 * the VM back to `running`). A plan with no steps is a pure state change.
 *
 * Plans are deterministic in (action, from): persist those two and re-derive
 * the plan with `planOf` after a restart; the current step is the one whose
 * state is the VM's state (states are distinct within a plan).
 */
export interface ActionPlan {
  readonly action: VmAction;
  readonly from: VmState;
  readonly transitional: VmState;
  readonly onSuccess: VmState;
  readonly onFailure: VmState;
  readonly failedPhase?: FailedPhase;
  readonly steps: readonly PlanStep[];
}

/** An action in flight, as the store persists it. */
export interface VmOperation {
  readonly action: VmAction;
  readonly from: VmState;
}

interface ActionRow {
  readonly from: readonly VmState[];
  readonly steps: readonly (readonly [state: VmState, phase: VmPhase, onFailure: VmState])[];
  readonly onSuccess: VmState;
}

// The single source of truth for who may do what from where. Rules of thumb:
// a step that fails and could be undone returns the VM to where it was safe
// (a refused ACPI shutdown leaves it running, a failed save leaves it running,
// a failed restore leaves the save file and thus `suspended`); a step with
// nothing to return to (half-built or half-deleted disks) leaves it `failed`.
// Transitional states accept no action: the operation in flight owns the VM
// until it succeeds, fails or times out (every wait has a timeout).
const ACTION_TABLE: Readonly<Record<VmAction, readonly ActionRow[]>> = {
  create: [],
  poweroff: [{ from: ['running'], steps: [['shutdown', 'shutdown', 'running']], onSuccess: 'poweroff' }],
  'poweroff-hard': [{ from: ['running'], steps: [['shutdown', 'shutdown-hard', 'running']], onSuccess: 'poweroff' }],
  start: [{ from: ['poweroff'], steps: [['boot', 'boot', 'poweroff']], onSuccess: 'running' }],
  reboot: [{ from: ['running'], steps: [['boot', 'reboot', 'running']], onSuccess: 'running' }],
  'reboot-hard': [{ from: ['running'], steps: [['boot', 'reboot-hard', 'running']], onSuccess: 'running' }],
  suspend: [{ from: ['running'], steps: [['saving', 'save', 'running']], onSuccess: 'suspended' }],
  resume: [
    { from: ['suspended'], steps: [['boot', 'restore', 'suspended']], onSuccess: 'running' },
    {
      from: ['stopped'],
      steps: [
        // Not placeable (yet) is no failure: the VM waits in pending with its reason.
        ['pending', 'schedule', 'stopped'],
        // The originals stay in the system store until the restore succeeded.
        ['prolog', 'prolog-resume', 'stopped'],
        // Disks and memory are now on the host: exactly a suspended VM.
        ['boot', 'restore', 'suspended'],
      ],
      onSuccess: 'running',
    },
  ],
  stop: [
    {
      from: ['running'],
      steps: [
        ['saving', 'save', 'running'],
        // The copies on the host are only removed once the system store holds them.
        ['epilog', 'epilog-stop', 'suspended'],
      ],
      onSuccess: 'stopped',
    },
    { from: ['suspended'], steps: [['epilog', 'epilog-stop', 'suspended']], onSuccess: 'stopped' },
  ],
  terminate: [
    {
      from: ['running'],
      steps: [
        ['shutdown', 'shutdown', 'running'],
        ['epilog', 'epilog', 'failed'],
      ],
      onSuccess: 'terminated',
    },
    { from: ['pending', 'poweroff', 'suspended', 'stopped'], steps: [['epilog', 'epilog', 'failed']], onSuccess: 'terminated' },
  ],
  'terminate-hard': [
    {
      from: ['running'],
      steps: [
        ['shutdown', 'shutdown-hard', 'running'],
        ['epilog', 'epilog', 'failed'],
      ],
      onSuccess: 'terminated',
    },
    // The escape hatch: epilog kills whatever QEMU is left, so failed and unknown VMs can go too.
    { from: ['pending', 'poweroff', 'suspended', 'stopped', 'failed', 'unknown'], steps: [['epilog', 'epilog', 'failed']], onSuccess: 'terminated' },
  ],
  // Cold migration keeps the VM in the state it had; a failure before the
  // commit is an abort that leaves it on the source (DESIGN §5).
  migrate: [
    { from: ['running'], steps: [['migrating', 'migrate', 'running']], onSuccess: 'running' },
    { from: ['poweroff'], steps: [['migrating', 'migrate', 'poweroff']], onSuccess: 'poweroff' },
    { from: ['suspended'], steps: [['migrating', 'migrate', 'suspended']], onSuccess: 'suspended' },
  ],
  'migrate-live': [{ from: ['running'], steps: [['migrating', 'migrate-live', 'running']], onSuccess: 'running' }],
  // Recover starts a failed VM again: the provisioning chain, entered at the
  // step its failed phase and what its host holds call for (core/plan-recover):
  // schedule again, rebuild disks that never were complete, or only boot from
  // the disks it has. Failing again leaves it failed, with the new phase.
  recover: [
    {
      from: ['failed'],
      steps: [
        ['pending', 'schedule', 'failed'],
        ['prolog', 'prolog', 'failed'],
        ['boot', 'boot', 'failed'],
      ],
      onSuccess: 'running',
    },
  ],
};

const CREATE_ROW: ActionRow = {
  from: ['pending'],
  steps: [
    ['pending', 'schedule', 'failed'],
    ['prolog', 'prolog', 'failed'],
    ['boot', 'boot', 'failed'],
  ],
  onSuccess: 'running',
};

function buildPlan(action: VmAction, from: VmState, row: ActionRow): ActionPlan {
  const steps = row.steps.map(([state, phase, onFailure]): PlanStep =>
    Object.freeze(onFailure === 'failed' ? { state, phase, onFailure, failedPhase: phase } : { state, phase, onFailure }),
  );
  const first = steps[0];
  const base = {
    action,
    from,
    transitional: first?.state ?? row.onSuccess,
    onSuccess: row.onSuccess,
    onFailure: first?.onFailure ?? from,
    steps: Object.freeze(steps),
  };
  return Object.freeze(first?.failedPhase === undefined ? base : { ...base, failedPhase: first.failedPhase });
}

// Every plan is built once: planAction hands out shared frozen objects.
const PLANS: ReadonlyMap<string, ActionPlan> = new Map(
  Object.entries(ACTION_TABLE).flatMap(([action, rows]) =>
    rows.flatMap((row) => row.from.map((from) => [`${action}/${from}`, buildPlan(action as VmAction, from, row)] as const)),
  ),
);
const CREATE_PLAN = buildPlan('create', 'pending', CREATE_ROW);

// A VM that comes back from a remote cloud powered off (cross-cloud cold
// migration): placed and its disk made on a host like a new VM's, not booted.
// Recorded as the operation `create` from `poweroff`, which no user action is.
const PLACE_ROW: ActionRow = {
  from: ['pending'],
  steps: [
    ['pending', 'schedule', 'failed'],
    ['prolog', 'prolog', 'failed'],
  ],
  onSuccess: 'poweroff',
};
const PLACE_PLAN = buildPlan('create', 'pending', PLACE_ROW);
/** The operation a VM placed powered off (planPlace) is recorded with. */
export const PLACE_OPERATION: VmOperation = Object.freeze({ action: 'create', from: 'poweroff' });

const stateOrder = (a: VmState, b: VmState): number => VM_STATES.indexOf(a) - VM_STATES.indexOf(b);

/** The states `action` is allowed from, in VM_STATES order. */
export function allowedFrom(action: VmAction): readonly VmState[] {
  const rows = ACTION_TABLE[action] as readonly ActionRow[] | undefined;
  return (rows ?? []).flatMap((r) => r.from).sort(stateOrder);
}

/**
 * The plan for `action` on a VM in `state`.
 * @throws InvalidStateError naming the state and the states it is allowed from.
 */
export function planAction(state: VmState, action: VmAction): ActionPlan {
  const plan = PLANS.get(`${action}/${state}`);
  if (plan === undefined) throw new InvalidStateError(action, state, allowedFrom(action));
  return plan;
}

/**
 * The plan of a new VM: the record is inserted in `pending` (`from` and
 * `transitional`), the scheduler completes the `schedule` step by placing it.
 */
export function planCreate(): ActionPlan {
  return CREATE_PLAN;
}

/** The plan of a VM placed on a host powered off (from `pending`: schedule, prolog, then `poweroff`); recorded as PLACE_OPERATION. */
export function planPlace(): ActionPlan {
  return PLACE_PLAN;
}

/** Re-derives the plan of an operation read back from the store. */
export function planOf(operation: VmOperation): ActionPlan {
  if (operation.action === 'create' && operation.from === 'poweroff') return PLACE_PLAN;
  return operation.action === 'create' && operation.from === 'pending' ? CREATE_PLAN : planAction(operation.from, operation.action);
}

/** The user actions allowed in `state`, in VM_ACTIONS order (for the UI and the 409 hint). */
export function allowedActions(state: VmState): readonly VmAction[] {
  return VM_ACTIONS.filter((a) => PLANS.has(`${a}/${state}`));
}

const actions: ReadonlySet<string> = new Set(VM_ACTIONS);

/** For values read from a request. */
export function isVmAction(value: unknown): value is VmAction {
  return typeof value === 'string' && actions.has(value);
}
