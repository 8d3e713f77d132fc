import { join } from 'node:path';
import { checkVmId } from '../../core/vm-id.js';

/** Where the QEMU driver keeps one VM's runtime files: `<runDir>/<vmId>/`. */
export interface VmPaths {
  readonly dir: string;
  readonly qmpSocket: string;
  /**
   * A second QMP monitor, for handing QEMU a file descriptor (`getfd`, SCM_RIGHTS) and using it in the same session:
   * QEMU looks a named fd up in the current monitor's own list only (fd-sender.ts).
   */
  readonly fdpassSocket: string;
  readonly consoleSocket: string;
  readonly serialLog: string;
  readonly pidFile: string;
  readonly vncSocket: string;
  /** The spec and what the driver made for the VM (TAPs), for adoption after a restart. */
  readonly record: string;
}

/** Throws InvalidVmIdError for an id that is not one: the directory is deleted with the VM. */
export function vmPaths(runDir: string, vmId: string): VmPaths {
  const dir = join(runDir, checkVmId(vmId));
  return {
    dir,
    qmpSocket: join(dir, 'qmp.sock'),
    fdpassSocket: join(dir, 'fdpass.sock'),
    consoleSocket: join(dir, 'console.sock'),
    serialLog: join(dir, 'serial.log'),
    pidFile: join(dir, 'qemu.pid'),
    vncSocket: join(dir, 'vnc.sock'),
    record: join(dir, 'vm.json'),
  };
}
