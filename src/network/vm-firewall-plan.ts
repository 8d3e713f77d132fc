import { firewallTableName, renderVmFirewall, type FirewallRule } from './vm-firewall.js';

/** One VM as the firewall reconciliation sees it on a host. */
export interface FirewallVm {
  /** Its TAPs on this host (one per bridged NIC). */
  readonly taps: readonly string[];
  /** Whether its QEMU (and so its TAPs) is there: running, paused, waiting for or sending a migration. */
  readonly alive: boolean;
  /** What it should enforce; null: no firewall (open). */
  readonly rules: readonly FirewallRule[] | null;
}

export interface FirewallPlan {
  /** Scripts to load, by TAP (each replaces its table atomically). */
  readonly apply: ReadonlyMap<string, string>;
  /** Tables to delete, by exact name. */
  readonly remove: readonly string[];
}

/**
 * What a host must change so that its firewall tables are exactly those of
 * its live VMs with rules. `loaded` holds the script each TAP's table was
 * last loaded with (by this process: a restarted agent knows none and loads
 * them all again); `present` the `nubo_sg_` tables the kernel has now. Only
 * tables of TAPs of this host's own VMs, or that this process loaded, are
 * ever removed: another agent in the same namespace keeps its own.
 */
export function planVmFirewalls(vms: readonly FirewallVm[], loaded: ReadonlyMap<string, string>, present: ReadonlySet<string>): FirewallPlan {
  const apply = new Map<string, string>();
  const wanted = new Set<string>();
  for (const vm of vms) {
    if (!vm.alive || vm.rules === null) continue;
    for (const tap of vm.taps) {
      const script = renderVmFirewall(tap, vm.rules);
      wanted.add(firewallTableName(tap));
      if (loaded.get(tap) !== script || !present.has(firewallTableName(tap))) apply.set(tap, script);
    }
  }
  const ours = new Set<string>([...loaded.keys(), ...vms.flatMap((v) => v.taps)].map(firewallTableName));
  const remove = [...ours].filter((t) => present.has(t) && !wanted.has(t)).sort();
  return { apply, remove };
}

/** The newer of two firewalls by revision (the first on a tie: what a host holds is not replaced by an equal push). */
export function newerFirewall<F extends { readonly revision: number }>(held: F | undefined, offered: F | undefined): F | undefined {
  if (held === undefined) return offered;
  if (offered === undefined) return held;
  return offered.revision > held.revision ? offered : held;
}
