import type { VmState } from '../core/vm-state.js';

export interface Ec2InstanceState {
  readonly code: number;
  readonly name: 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';
}

/**
 * nubo's VM states as EC2's instance states (codes as EC2's low byte).
 * `terminating`: the VM's last action is a terminate. `poweroff` is EC2's `stopped`: disks kept, the instance starts again where
 * it was — so are `suspended` and nubo's `stopped` (files moved off the
 * host). `epilog` is `shutting-down` (terminate's disk removal, or stop's
 * move), `failed` and `unknown` show as `stopped` with nubo's reason.
 */
export function ec2StateOf(state: VmState, terminating = false): Ec2InstanceState {
  // A VM being terminated passes through shutdown first: EC2 shows all of that as shutting-down.
  if (terminating && (state === 'shutdown' || state === 'saving' || state === 'epilog')) return { code: 32, name: 'shutting-down' };
  switch (state) {
    case 'pending': case 'prolog': case 'boot': return { code: 0, name: 'pending' };
    case 'running': case 'migrating': return { code: 16, name: 'running' };
    case 'epilog': return { code: 32, name: 'shutting-down' };
    case 'terminated': return { code: 48, name: 'terminated' };
    case 'shutdown': case 'saving': return { code: 64, name: 'stopping' };
    case 'poweroff': case 'suspended': case 'stopped': case 'failed': case 'unknown': return { code: 80, name: 'stopped' };
  }
}
