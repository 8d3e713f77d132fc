import type { VmRunState } from '../hypervisor.js';
import type { QmpRunState } from './qmp-schema.js';

/** QEMU's run states folded into the few nubo acts on. */
export function mapRunState(s: QmpRunState): VmRunState {
  switch (s) {
    case 'running':
    case 'colo':
      return 'running';
    case 'paused':
    case 'prelaunch':
    case 'suspended':
    case 'debug':
      return 'paused';
    case 'inmigrate':
      return 'inmigrate';
    case 'postmigrate':
      return 'postmigrate';
    case 'finish-migrate':
    case 'save-vm':
    case 'restore-vm':
      return 'saving';
    case 'shutdown':
      return 'shutoff';
    case 'internal-error':
    case 'io-error':
    case 'guest-panicked':
    case 'watchdog':
      return 'error';
  }
}
