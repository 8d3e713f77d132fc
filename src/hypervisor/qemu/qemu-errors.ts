import { NuboError } from '../../errors/nubo-error.js';

/**
 * QEMU did not do, or did not report, what it was asked to. Never an answer
 * on its own: the driver step it broke reports it as that step's
 * HypervisorError (HYPERVISOR_FAILED), with this as the cause, so the codes
 * below say precisely what went wrong without changing what callers see.
 */
export abstract class QemuFailureError extends NuboError {}

/** `-daemonize` returned but QEMU left no usable pid file. */
export class QemuPidFileMissingError extends QemuFailureError {
  readonly code = 'QEMU_PID_FILE_MISSING';
  constructor(readonly path: string) {
    super('QEMU wrote no pid file', { path });
  }
}

/** A block job (backup, mirror) disappeared before it reported how it ended. */
export class BlockJobVanishedError extends QemuFailureError {
  readonly code = 'QEMU_BLOCK_JOB_VANISHED';
  constructor(readonly job: string) {
    super(`the ${job} job vanished`, { job });
  }
}

/** A block job (backup, mirror, the pivot of a mirror) ended with an error. */
export class BlockJobFailedError extends QemuFailureError {
  readonly code = 'QEMU_BLOCK_JOB_FAILED';
  constructor(readonly job: string, message: string) {
    super(message, { job });
  }
}

/** QEMU has no block node of that name (a disk's format node, looked up for its snapshots). */
export class BlockNodeMissingError extends QemuFailureError {
  readonly code = 'QEMU_BLOCK_NODE_MISSING';
  constructor(readonly node: string) {
    super(`QEMU has no block node ${node}`, { node });
  }
}

/** QEMU said a command succeeded but its own report lacks what the command made (a listening address, a snapshot). */
export class QemuReportMissingError extends QemuFailureError {
  readonly code = 'QEMU_REPORT_MISSING';
  constructor(readonly missing: string, message: string) {
    super(message, { missing });
  }
}

/** Writing the VM's state to its file (a migration into a detached writer, state-file-writer.ts) ended other than completed, or its writer failed. */
export class StateSaveFailedError extends QemuFailureError {
  readonly code = 'QEMU_STATE_SAVE_FAILED';
  constructor(readonly status: string | undefined, reason: string) {
    super(reason, { status });
  }
}

/**
 * The fd sender (fd-sender.ts) could not hand QEMU a descriptor and run the
 * command after it: `unavailable` (no usable python3, or its child ended
 * before it was ready), `refused` (QEMU or the file said no; the command had
 * no effect), `ambiguous` (the command may have reached QEMU: no answer, or
 * the child died).
 */
export class FdSendFailedError extends QemuFailureError {
  readonly code = 'QEMU_FD_SEND_FAILED';
  constructor(readonly kind: 'unavailable' | 'refused' | 'ambiguous', reason: string, readonly ambiguous: boolean) {
    super(reason, { kind });
  }
}

/** Reading a VM's saved state into a restoring QEMU ended other than completed. */
export class StateRestoreFailedError extends QemuFailureError {
  readonly code = 'QEMU_STATE_RESTORE_FAILED';
  constructor(readonly status: string, reason?: string) {
    super(reason ?? `the saved state was not read to its end (migration ${status})`, { status });
  }
}
