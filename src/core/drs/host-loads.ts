import type { DrsHost, DrsVm } from './drs-cluster.js';

/** What the VMs placed on one host add up to, measured and allocated. */
export interface HostLoad {
  cpuUse: number;
  memoryUseMiB: number;
  vcpus: number;
  memoryMiB: number;
  vmIds: string[];
}

export function emptyLoad(): HostLoad {
  return { cpuUse: 0, memoryUseMiB: 0, vcpus: 0, memoryMiB: 0, vmIds: [] };
}

export function addVm(load: HostLoad, vm: DrsVm, sign: 1 | -1): void {
  load.cpuUse += sign * vm.cpuUse;
  load.memoryUseMiB += sign * vm.memoryUseMiB;
  load.vcpus += sign * vm.vcpus;
  load.memoryMiB += sign * vm.memoryMiB;
  if (sign === 1) load.vmIds.push(vm.id);
  else load.vmIds.splice(load.vmIds.indexOf(vm.id), 1);
}

/**
 * Whether `vm` may go to `host` carrying `load`: its requirements admit the
 * host, and it fits the allocation limits (memory is a hard limit, vCPUs up
 * to the overcommitted count).
 */
export function fitsHost(host: DrsHost, load: HostLoad, vm: DrsVm): boolean {
  if (vm.allowedHostIds !== undefined && !vm.allowedHostIds.has(host.id)) return false;
  return load.vcpus + vm.vcpus <= host.vcpuLimit + 1e-9 && load.memoryMiB + vm.memoryMiB <= host.memoryMiB;
}

/** The host's measured use, CPU and memory, as shares (0..1+) of its capacity. */
export function useOf(host: DrsHost, load: HostLoad): { cpu: number; memory: number } {
  return { cpu: host.cpus > 0 ? load.cpuUse / host.cpus : 0, memory: host.memoryMiB > 0 ? load.memoryUseMiB / host.memoryMiB : 0 };
}

export function percent(x: number): string {
  return `${Math.round(x * 100)}%`;
}
