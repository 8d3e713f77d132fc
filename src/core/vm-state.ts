/**
 * The states of a VM's life cycle as a user sees them, after OpenNebula's
 * (flattened: one state, not OpenNebula's state + LCM sub-state).
 *
 * Besides the resting states the brief names, three transitional states exist
 * so that every action has a state of its own to be written to the store
 * before its side effect starts (DESIGN §3): a controller that restarts must
 * see from the state alone that a shutdown, a save or a clean-up was under way.
 */
export const VM_STATES = [
  /** Waiting for the scheduler to bind it to a host (reason shown while it waits). */
  'pending',
  /** Disks (and config drive) being prepared on the chosen host. */
  'prolog',
  /** QEMU being started, restored from saved memory, or the guest rebooted. */
  'boot',
  'running',
  /** Moving to another host (live or cold); still on the source until the commit. */
  'migrating',
  /** Guest being powered off (ACPI, or the process killed for the hard variants). */
  'shutdown',
  /** Memory being saved to a file on the host. */
  'saving',
  /** Disks being removed from the host (terminate) or moved off it (stop). */
  'epilog',
  /** QEMU process gone, disks kept on the host; capacity stays reserved there. */
  'poweroff',
  /** Memory saved to a file on the host, disks kept there. */
  'suspended',
  /** Memory and disks moved off the host; `resume` goes through `pending` again. */
  'stopped',
  /** Gone; the record is kept for accounting. Final. */
  'terminated',
  /** A phase failed and could not be rolled back; see FailedPhase. */
  'failed',
  /** The host (its agent) stopped answering; what the VM does is not known. */
  'unknown',
] as const;

export type VmState = (typeof VM_STATES)[number];

/**
 * The side effect a step of an action performs; the controller dispatches on
 * it. One state can host several phases (`boot` is used for a fresh boot, a
 * restore and a reboot), which is why a step names its phase explicitly.
 */
export const VM_PHASES = [
  /** Wait for the scheduler to place the VM and reserve capacity. */
  'schedule',
  /** Create the VM's disks (overlays on cached images) and config drive on the host. */
  'prolog',
  /** Bring the disks and saved memory of a stopped VM back onto the host. */
  'prolog-resume',
  /** Start QEMU from the disks. */
  'boot',
  /** Start QEMU from saved memory. */
  'restore',
  /** Ask the guest to reboot (ACPI). */
  'reboot',
  /** Reset the virtual machine (QMP system_reset). */
  'reboot-hard',
  /** Ask the guest to power off (ACPI) and wait for QEMU to exit. */
  'shutdown',
  /** Quit / kill QEMU. */
  'shutdown-hard',
  /** Save memory to a file on the host; QEMU exits afterwards. */
  'save',
  /** Cold migration: move disks (and saved memory) to the destination host. */
  'migrate',
  /** Live migration (pre-copy, DESIGN §5). */
  'migrate-live',
  /** Remove everything the VM has on its host or in the system store; kills a leftover QEMU. */
  'epilog',
  /** Move disks and saved memory off the host into the system store. */
  'epilog-stop',
] as const;

export type VmPhase = (typeof VM_PHASES)[number];

/**
 * What a `failed` VM failed at: a phase whose failure could not be rolled
 * back, or
 * - `run`: QEMU died on its own (crash, not a guest poweroff),
 * - `lost`: its host came back without any trace of it.
 */
export const FAILED_PHASES = [...VM_PHASES, 'run', 'lost'] as const;

export type FailedPhase = (typeof FAILED_PHASES)[number];

/** States in which a side effect is in progress: no user action is accepted until it ends. */
export const TRANSITIONAL_STATES: readonly VmState[] = Object.freeze(['prolog', 'boot', 'migrating', 'shutdown', 'saving', 'epilog']);

const states: ReadonlySet<string> = new Set(VM_STATES);
const failedPhases: ReadonlySet<string> = new Set(FAILED_PHASES);

/** For values read from the store or a request. */
export function isVmState(value: unknown): value is VmState {
  return typeof value === 'string' && states.has(value);
}

export function isFailedPhase(value: unknown): value is FailedPhase {
  return typeof value === 'string' && failedPhases.has(value);
}

export function isTransitional(state: VmState): boolean {
  return TRANSITIONAL_STATES.includes(state);
}
