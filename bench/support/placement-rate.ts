import { reserve } from '../../src/core/placement/host-capacity.js';
import type { HostView } from '../../src/core/placement/host-view.js';
import { placeVm } from '../../src/core/placement/place-vm.js';
import type { PlacementPolicy } from '../../src/core/placement/placement-policy.js';
import { seededRandom } from './seeded-random.js';

/** `n` synthetic hosts of mixed sizes, a seeded share of them disabled or in error, a few with labels. */
export function syntheticHosts(n: number, seed = 1): HostView[] {
  const rnd = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const big = rnd() < 0.3;
    const r = rnd();
    return {
      id: `h${String(i).padStart(6, '0')}`, name: `h${i}`,
      state: r < 0.02 ? 'disabled' : r < 0.03 ? 'error' : 'enabled',
      cpuModel: 'qemu64', supportedCpuModels: ['qemu64', 'max'], cpuFlags: ['sse2'],
      totalCpus: big ? 64 : 16, totalMemoryMiB: big ? 262_144 : 65_536, totalDiskMiB: 2_000_000,
      reservedCpus: 0, reservedMemoryMiB: 0, reservedDiskMiB: 0,
      load: rnd(), labels: i % 10 === 0 ? { zone: 'a' } : {}, datastores: ['local'], networks: ['default'],
    } satisfies HostView;
  });
}

/**
 * Places `vms` VMs one after another on `hosts` (a copy), reserving each on
 * the chosen host as the store's binding would: the pure scheduler's rate,
 * with no store or network. Answers placements per second and how many found
 * no host.
 */
export function placementRate(hosts: readonly HostView[], vms: number, policy: PlacementPolicy): { perSecond: number; unplaced: number; ms: number } {
  const current = [...hosts];
  const index = new Map(current.map((h, i) => [h.id, i]));
  let unplaced = 0;
  const t0 = performance.now();
  for (let v = 0; v < vms; v++) {
    const demand = { vcpus: 1 + (v % 4), memoryMiB: 512 * (1 + (v % 8)), diskMiB: 10_240, networks: ['default'], datastore: 'local' };
    const placed = placeVm(demand, current, policy);
    if (placed.hostId === undefined) {
      unplaced++;
      continue;
    }
    const i = index.get(placed.hostId)!;
    current[i] = reserve(current[i]!, demand, { cpuOvercommit: policy.cpuOvercommit });
  }
  const ms = performance.now() - t0;
  return { perSecond: vms / (ms / 1000), unplaced, ms };
}
