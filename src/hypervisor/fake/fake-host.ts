import type { VmRunState } from '../hypervisor.js';
import type { VmSpec } from '../vm-spec.js';
import type { DiskSnapshot } from '../disk-snapshot.js';

/** A VM "running on the host" of the fake. */
export interface FakeVm {
  spec: VmSpec;
  state: VmRunState;
  pid: number;
  reason?: string;
  /** Guest uptime accumulated before the current running stretch. */
  uptimeMs: number;
  runningSince: number | undefined;
}

/**
 * What outlives a FakeDriver instance: the VMs "running on the host". Giving a
 * new driver the same FakeHost is the fake's version of a restarted agent
 * adopting QEMU processes.
 */
export class FakeHost {
  readonly vms = new Map<string, FakeVm>();
  /** Disk snapshots taken through the driver, by disk file: the fake's stand-in for the snapshot table inside a qcow2 file. */
  readonly diskSnapshots = new Map<string, DiskSnapshot[]>();
  nextPid = 10_000;
  /** What `dirtyRate.measure` answers for every VM of this host: tests of the planner set it. */
  dirtyBytesPerSec = 0;
}

/** Guest uptime so far, in milliseconds. */
export function fakeUptimeMs(vm: FakeVm): number {
  return vm.uptimeMs + (vm.runningSince !== undefined ? Date.now() - vm.runningSince : 0);
}
