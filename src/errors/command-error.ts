import { NuboError } from './nubo-error.js';

/** An external program (qemu-img, ip, genisoimage …) failed or could not be run. */
export class CommandError extends NuboError {
  readonly code = 'COMMAND_FAILED';
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    super(`${command} failed${exitCode === null ? '' : ` (exit ${exitCode})`}${tail ? `: ${tail}` : ''}`, { command, exitCode, stderr }, options);
  }
}
