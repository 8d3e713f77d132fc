import { InvalidStateError } from './invalid-state-error.js';
import type { VmState } from './vm-state.js';

export type SnapshotAction = 'create' | 'list' | 'revert' | 'delete';

/**
 * The VM states each disk-snapshot action is allowed from. The disk must be
 * on a host: a running VM's through QEMU, a powered-off or suspended VM's in
 * its file. Revert only when powered off: a running guest would have its disk
 * changed under it, and a suspended VM's saved memory describes the disk as it
 * was when it was saved, not as the snapshot has it.
 */
export const SNAPSHOT_STATES: Readonly<Record<SnapshotAction, readonly VmState[]>> = Object.freeze({
  create: Object.freeze(['running', 'poweroff', 'suspended'] as const),
  list: Object.freeze(['running', 'poweroff', 'suspended'] as const),
  delete: Object.freeze(['running', 'poweroff', 'suspended'] as const),
  revert: Object.freeze(['poweroff'] as const),
});

const VERB: Readonly<Record<SnapshotAction, string>> = { create: 'take a snapshot of', list: 'list the snapshots of', revert: 'revert to a snapshot', delete: 'delete a snapshot of' };

/** What to do about a refusal, for the states where there is something to say. */
function hint(action: SnapshotAction, state: VmState): string | undefined {
  if (state === 'stopped') return 'a stopped VM\'s disk is off its host; its snapshots are available again after `resume`';
  if (action === 'revert' && state === 'suspended') return 'its saved memory would not match the reverted disk; resume it and power it off first';
  if (action === 'revert' && state === 'running') return 'power it off first';
  return undefined;
}

/** Undefined when `action` is allowed in `state`; else the error to answer with (409, naming the state). */
export function snapshotStateError(action: SnapshotAction, state: VmState): InvalidStateError | undefined {
  const allowed = SNAPSHOT_STATES[action];
  if (allowed.includes(state)) return undefined;
  const err = new InvalidStateError(`snapshot-${action}`, state, allowed, VERB[action]);
  const h = hint(action, state);
  if (h !== undefined) err.message = `${err.message}: ${h}`;
  return err;
}
