import { join } from 'node:path';
import { checkVmId } from '../../core/vm-id.js';

/** Where the QEMU driver keeps one VM's runtime files: `<runDir>/<vmId>/`. */
export interface VmPaths {
  readonly dir: string;
  readonly qmpSocket: string;
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
    consoleSocket: join(dir, 'console.sock'),
    serialLog: join(dir, 'serial.log'),
    pidFile: join(dir, 'qemu.pid'),
    vncSocket: join(dir, 'vnc.sock'),
    record: join(dir, 'vm.json'),
  };
}
