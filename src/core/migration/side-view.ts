/**
 * The run states an agent reports for a VM (the agent API's
 * `agentVmStateSchema`, mirrored here because core depends on nothing; a test
 * keeps the two lists equal), plus `absent`: the agent answered but holds no
 * such VM.
 */
export const SIDE_STATES = [
  'running',
  'paused',
  'suspended',
  'poweroff',
  'crashed',
  'error',
  'inmigrate',
  'postmigrate',
  'saving',
  'absent',
] as const;

export type SideState = (typeof SIDE_STATES)[number];

/** What one end of a migration (source or destination agent) says about the VM, if it answers at all. */
export type SideView = { readonly reachable: false } | { readonly reachable: true; readonly state: SideState };

const sideStates: ReadonlySet<string> = new Set(SIDE_STATES);

export function isSideState(value: unknown): value is SideState {
  return typeof value === 'string' && sideStates.has(value);
}

/** `unreachable` or the reported state, for reason texts. */
export function describeSide(view: SideView): string {
  return view.reachable ? view.state : 'unreachable';
}
