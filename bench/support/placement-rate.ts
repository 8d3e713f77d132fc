import { reserve } from '../../src/core/placement/host-capacity.js';
import type { HostView } from '../../src/core/placement/host-view.js';
import { placeVm } from '../../src/core/placement/place-vm.js';
import { PlacementIndex } from '../../src/core/placement/placement-index.js';
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
 * with no store or network. `indexed` places through a PlacementIndex (what
 * the controller does), otherwise placeVm over every host. Answers
 * placements per second, how many found no host, and the chosen host ids in
 * order (so that both ways can be compared).
 */
export function placementRate(hosts: readonly HostView[], vms: number, policy: PlacementPolicy, opts: { readonly indexed?: boolean } = {}): { perSecond: number; unplaced: number; ms: number; chosen: (string | undefined)[] } {
  const current = [...hosts];
  const at = new Map(current.map((h, i) => [h.id, i]));
  const chosen: (string | undefined)[] = [];
  let unplaced = 0;
  const t0 = performance.now();
  const index = opts.indexed === true ? new PlacementIndex(policy, hosts) : undefined;
  for (let v = 0; v < vms; v++) {
    const demand = { vcpus: 1 + (v % 4), memoryMiB: 512 * (1 + (v % 8)), diskMiB: 10_240, networks: ['default'], datastore: 'local' };
    const placed = index !== undefined ? index.place(demand) : placeVm(demand, current, policy);
    chosen.push(placed.hostId);
    if (placed.hostId === undefined) {
      unplaced++;
      continue;
    }
    if (index !== undefined) {
      index.reserve(placed.hostId, demand);
    } else {
      const i = at.get(placed.hostId)!;
      current[i] = reserve(current[i]!, demand, { cpuOvercommit: policy.cpuOvercommit });
    }
  }
  const ms = performance.now() - t0;
  return { perSecond: vms / (ms / 1000), unplaced, ms, chosen };
}
