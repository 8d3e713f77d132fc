import { filterHost, type FilterContext } from './host-filters.js';
import { rankHosts, type RankedHost } from './host-rankers.js';
import type { HostView } from './host-view.js';
import type { PlacementPolicy } from './placement-policy.js';
import { compileRequirements } from './requirements-expression.js';
import type { VmDemand } from './vm-demand.js';

export interface Placed {
  readonly hostId: string;
  /** Every host that passed the filters, best first (`ranking[0].hostId === hostId`). */
  readonly ranking: readonly RankedHost[];
  /** Why each other host was filtered out. */
  readonly reasons: Readonly<Record<string, string>>;
}

export interface NotPlaced {
  readonly hostId: undefined;
  /** host id → why it cannot take the VM, for every host. */
  readonly reasons: Readonly<Record<string, string>>;
  /** One line for the pending VM: "no host fits: h1: needs 512 MiB memory, 256 free; h2: disabled". */
  readonly summary: string;
}

export type PlacementResult = Placed | NotPlaced;

const byId = (a: HostView, b: HostView): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Chooses a host for `demand`: filter, then rank by the policy. Deterministic —
 * the same hosts in any order give the same result. Does not reserve: the
 * caller reserves (`reserve`) in the transaction that binds the VM, and
 * places again if that finds the host full.
 * @throws ValidationError when demand.requirements does not compile (admission should have caught it).
 */
export function placeVm(demand: VmDemand, hosts: readonly HostView[], policy: PlacementPolicy): PlacementResult {
  const context: FilterContext =
    demand.requirements === undefined
      ? { cpuOvercommit: policy.cpuOvercommit }
      : { cpuOvercommit: policy.cpuOvercommit, requirements: compileRequirements(demand.requirements) };
  const fit: HostView[] = [];
  const rejected: [string, string][] = [];
  for (const host of [...hosts].sort(byId)) {
    const reason = filterHost(host, demand, context);
    if (reason === undefined) fit.push(host);
    else rejected.push([host.id, reason]);
  }
  // fromEntries defines own properties: a host called __proto__ stays a key.
  const reasons = Object.freeze(Object.fromEntries(rejected));
  const ranking = rankHosts(fit, policy.rank, context);
  const best = ranking[0];
  if (best !== undefined) return Object.freeze({ hostId: best.hostId, ranking: Object.freeze(ranking), reasons });
  const list = rejected.length > 0 ? rejected.map(([id, reason]) => `${id}: ${reason}`).join('; ') : 'no hosts';
  return Object.freeze({ hostId: undefined, reasons, summary: `no host fits: ${list}` });
}
