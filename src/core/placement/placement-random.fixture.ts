import { seededRandom } from '../../../bench/support/seeded-random.js';
import { HOST_STATES, type HostView } from './host-view.js';
import type { VmDemand } from './vm-demand.js';
import { makeHost } from './host-view.fixture.js';

/** The benches' deterministic PRNG (mulberry32), so that a failing random case is the same on every run. */
export const random = seededRandom;

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** A host with every placement-relevant field drawn at random, ties (equal fullness, equal load) likely. */
export function randomHost(r: () => number, id: string): HostView {
  const totalCpus = pick(r, [2, 4, 8]);
  const totalMemoryMiB = pick(r, [1024, 2048, 4096]);
  return makeHost(id, {
    state: r() < 0.8 ? 'enabled' : pick(r, HOST_STATES),
    supportedCpuModels: r() < 0.8 ? ['qemu64', 'max'] : ['qemu64'],
    totalCpus, totalMemoryMiB, totalDiskMiB: pick(r, [2048, 8192]),
    reservedCpus: pick(r, [0, 1, 2, totalCpus]), reservedMemoryMiB: pick(r, [0, 512, 1024, totalMemoryMiB]), reservedDiskMiB: pick(r, [0, 1024, 4096]),
    load: pick(r, [0, 0.5, 1]),
    labels: r() < 0.5 ? { zone: 'a' } : {},
    datastores: r() < 0.9 ? ['local'] : ['shared'],
    networks: r() < 0.9 ? ['default', 'lab'] : ['lab'],
    ...(r() < 0.2 ? { cpuOvercommit: 2 } : {}),
  });
}

export function randomDemand(r: () => number): VmDemand {
  return {
    vcpus: pick(r, [1, 2, 4]), memoryMiB: pick(r, [256, 512, 1024]), diskMiB: pick(r, [512, 1024, 4096]),
    networks: r() < 0.7 ? ['default'] : r() < 0.5 ? [] : ['default', 'lab'],
    ...(r() < 0.3 ? { cpuModel: 'max' } : {}),
    ...(r() < 0.5 ? { datastore: 'local' } : {}),
    ...(r() < 0.2 ? { requirements: 'labels.zone == "a"' } : {}),
  };
}
