import type { NuboClient } from '../client/nubo-client.js';
import { LabError } from './lab-error.js';

/** The name of the lab's i-th cluster (1-based): `c1`, `c2`, … */
export const labClusterName = (i: number): string => `c${i}`;

/**
 * Which lab hosts go into which cluster: `clusters` contiguous blocks of
 * hosts 1…`hosts`, the first blocks one host larger when they do not divide
 * evenly (5 hosts in 2 clusters: h1-h3 in c1, h4-h5 in c2). One cluster: none
 * made, every host stays in `default`.
 */
export function planLabClusters(hosts: number, clusters: number): { readonly cluster: string; readonly hosts: readonly number[] }[] {
  if (!Number.isInteger(clusters) || clusters < 1) throw new LabError(`--clusters must be a whole number of at least 1 (got ${clusters})`);
  if (clusters > hosts) throw new LabError(`--clusters ${clusters} needs at least as many hosts (got --hosts ${hosts})`);
  if (clusters === 1) return [];
  const out: { cluster: string; hosts: number[] }[] = [];
  let next = 1;
  for (let c = 1; c <= clusters; c++) {
    const size = Math.floor(hosts / clusters) + (c <= hosts % clusters ? 1 : 0);
    out.push({ cluster: labClusterName(c), hosts: Array.from({ length: size }, (_, i) => next + i) });
    next += size;
  }
  return out;
}

/**
 * Makes the planned clusters that are missing and moves each host that is
 * still in `default` into its own; idempotent. A host an admin has put in a
 * cluster already stays there: a later `lab up` (or a restart of the lab's
 * controller) must not undo an operator's `cluster add-host`. Returns what it
 * changed.
 */
export async function ensureLabClusters(
  api: NuboClient,
  hosts: readonly { readonly index: number; readonly name: string }[],
  clusters: number,
  signal?: AbortSignal,
): Promise<string[]> {
  const plan = planLabClusters(Math.max(0, ...hosts.map((h) => h.index)), clusters);
  if (plan.length === 0) return [];
  const changed: string[] = [];
  const existing = new Set((await api.listClusters({ signal })).map((c) => c.name));
  const known = await api.listHosts({ signal });
  for (const p of plan) {
    if (!existing.has(p.cluster)) {
      await api.createCluster({ name: p.cluster, description: `lab hosts ${p.hosts.map((i) => `h${i}`).join(', ')}` }, { signal });
      changed.push(`cluster ${p.cluster}`);
    }
    for (const i of p.hosts) {
      const h = hosts.find((x) => x.index === i);
      if (!h) continue;
      const now = known.find((k) => k.name === h.name)?.cluster;
      if (now !== undefined && now !== 'default') continue;
      await api.addClusterHost(p.cluster, h.name, { signal });
      changed.push(`${h.name} in ${p.cluster}`);
    }
  }
  return changed;
}
