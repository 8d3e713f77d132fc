import type { HostView } from './host-view.js';

/** A test host: enabled, 4 CPUs, 4 GiB, 100 GiB, nothing reserved, idle; override what a test is about. */
export function makeHost(id: string, overrides: Partial<HostView> = {}): HostView {
  return {
    id,
    name: id,
    state: 'enabled',
    cpuModel: 'qemu64',
    supportedCpuModels: ['qemu64', 'max'],
    cpuFlags: ['sse2'],
    totalCpus: 4,
    totalMemoryMiB: 4096,
    totalDiskMiB: 102400,
    reservedCpus: 0,
    reservedMemoryMiB: 0,
    reservedDiskMiB: 0,
    load: 0,
    labels: {},
    datastores: ['local'],
    networks: ['default'],
    ...overrides,
  };
}
