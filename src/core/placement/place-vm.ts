import { filterHost, hostPasses, type FilterContext } from './host-filters.js';
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
  const context = filterContextOf(demand, policy);
  // One pass for the decision: the best host that passes (equal scores: the lowest id, as the ranking orders them).
  // Sorting every host and writing a reason for each one that fails was most of the cost at thousands of hosts.
  let best: HostView | undefined;
  let bestScore = -Infinity;
  for (const host of hosts) {
    if (!hostPasses(host, demand, context)) continue;
    const raw = policy.rank(host, context);
    const score = Number.isNaN(raw) ? -Infinity : raw;
    if (best === undefined || score > bestScore || (score === bestScore && host.id < best.id)) {
      best = host;
      bestScore = score;
    }
  }
  // The explanation is of the hosts as given now, even if the caller's array changes later.
  const given = [...hosts];
  return placementResult(best, demand, () => given, policy, context);
}

/**
 * The filters' context for one placement: the demand's requirements compiled once.
 * @throws ValidationError when demand.requirements does not compile.
 */
export function filterContextOf(demand: VmDemand, policy: PlacementPolicy): FilterContext {
  return demand.requirements === undefined
    ? { cpuOvercommit: policy.cpuOvercommit }
    : { cpuOvercommit: policy.cpuOvercommit, requirements: compileRequirements(demand.requirements) };
}

/**
 * The result for a decision already made (`best`, or none): the summary when
 * nothing fits; otherwise the full ranking and every other host's reason,
 * worked out from `hosts()` only when someone reads them.
 */
export function placementResult(best: HostView | undefined, demand: VmDemand, hosts: () => readonly HostView[], policy: PlacementPolicy, context: FilterContext): PlacementResult {
  if (best === undefined) {
    const { reasons, rejected } = explain(demand, hosts(), policy, context);
    // The line a person reads (a pending VM's reason, the dashboard) names hosts as they do; `reasons` stays keyed by id.
    const list = rejected.length > 0 ? rejected.map(([, reason, name]) => `${name}: ${reason}`).join('; ') : 'no hosts';
    return Object.freeze({ hostId: undefined, reasons, summary: `no host fits: ${list}` });
  }
  let explained: ReturnType<typeof explain> | undefined;
  const explanation = (): ReturnType<typeof explain> => (explained ??= explain(demand, hosts(), policy, context));
  return Object.freeze({
    hostId: best.id,
    get ranking(): readonly RankedHost[] {
      return explanation().ranking;
    },
    get reasons(): Readonly<Record<string, string>> {
      return explanation().reasons;
    },
  });
}

/** Every host's verdict: the ranking of those that pass, best first, and why each other one does not. */
function explain(demand: VmDemand, hosts: readonly HostView[], policy: PlacementPolicy, context: FilterContext): { ranking: readonly RankedHost[]; reasons: Readonly<Record<string, string>>; rejected: [id: string, reason: string, name: string][] } {
  const fit: HostView[] = [];
  const rejected: [id: string, reason: string, name: string][] = [];
  for (const host of [...hosts].sort(byId)) {
    const reason = filterHost(host, demand, context);
    if (reason === undefined) fit.push(host);
    else rejected.push([host.id, reason, host.name]);
  }
  // fromEntries defines own properties: a host called __proto__ stays a key.
  const reasons = Object.freeze(Object.fromEntries(rejected.map(([id, reason]) => [id, reason])));
  return { ranking: Object.freeze(rankHosts(fit, policy.rank, context)), reasons, rejected };
}
