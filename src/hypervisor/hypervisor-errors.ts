import { NuboError } from '../errors/nubo-error.js';

/** The driver has no VM with this id (never started, or already destroyed). */
export class VmNotFoundError extends NuboError {
  readonly code = 'VM_NOT_FOUND';
  constructor(readonly vmId: string) {
    super(`no VM ${vmId} on this hypervisor`, { vmId });
  }
}

/** A VM with this id already runs here. */
export class VmExistsError extends NuboError {
  readonly code = 'VM_EXISTS';
  constructor(readonly vmId: string) {
    super(`VM ${vmId} already exists on this hypervisor`, { vmId });
  }
}

/** The operation is not allowed in the VM's current run state. */
export class VmStateError extends NuboError {
  readonly code = 'VM_INVALID_STATE';
  constructor(readonly vmId: string, readonly action: string, readonly state: string, hint = '') {
    super(`cannot ${action} VM ${vmId}: it is ${state}${hint ? ` (${hint})` : ''}`, { vmId, action, state });
  }
}

/** The hypervisor failed to carry out an operation (QEMU would not start, a save failed …). */
export class HypervisorError extends NuboError {
  readonly code = 'HYPERVISOR_FAILED';
  constructor(readonly vmId: string, readonly operation: string, reason: string, options?: ErrorOptions) {
    super(`${operation} of VM ${vmId} failed: ${reason}`, { vmId, operation, reason }, options);
  }
}

/** The driver cannot do this at all on this host (e.g. post-copy without userfaultfd). */
export class UnsupportedError extends NuboError {
  readonly code = 'UNSUPPORTED';
  constructor(readonly feature: string, reason: string) {
    super(`${feature} is not supported: ${reason}`, { feature, reason });
  }
}
