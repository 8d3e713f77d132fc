import { NuboError } from '../../errors/nubo-error.js';

/** QEMU answered a command with `{"error": {"class", "desc"}}`. */
export class QmpError extends NuboError {
  readonly code = 'QMP_ERROR';
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${desc}`, { command, errorClass, desc });
  }
}

/** The QMP connection ended (QEMU exited or closed the socket) with calls pending or made afterwards. */
export class QmpDisconnectedError extends NuboError {
  readonly code = 'QMP_DISCONNECTED';
  constructor(readonly socketPath: string, reason: string) {
    super(`QMP connection to ${socketPath} closed: ${reason}`, { socketPath, reason });
  }
}

/** The peer did not speak QMP (no greeting, malformed JSON). */
export class QmpProtocolError extends NuboError {
  readonly code = 'QMP_PROTOCOL';
  constructor(readonly socketPath: string, reason: string) {
    super(`QMP protocol error on ${socketPath}: ${reason}`, { socketPath, reason });
  }
}
