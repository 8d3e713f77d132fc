import type { Hypervisor } from '../hypervisor/hypervisor.js';
import { UnsupportedError } from '../hypervisor/hypervisor-errors.js';
import type { AgentVmReport, AgentVmSpec } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import type { VmHost } from './vm-host.js';

type AgentNic = AgentVmSpec['nics'][number];
type IndexedNic = AgentNic & { readonly index: number };

/** What changing NICs uses of the VM (handed over with its lock held). */
type NicVm = Pick<VmHost, 'vmId' | 'hypervisor' | 'logger' | 'readSpec' | 'writeSpec' | 'report' | 'files' | 'buildConfigDrive' | 'hvNic'>;

/** Rebuilds the config drive from `spec` (made beside the old one and renamed over it). */
function rebuildConfigDrive(host: NicVm, spec: AgentVmSpec, signal?: AbortSignal): Promise<void> {
  return host.buildConfigDrive(spec, host.files(spec).iso, signal);
}

/** Every NIC with its index; a NIC without one keeps its position, which is what the VM was started with. */
function withIndexes(nics: readonly AgentNic[]): IndexedNic[] {
  return nics.map((n, i) => ({ ...n, index: n.index ?? i }));
}

function sameNic(a: AgentNic, b: AgentNic): boolean {
  const key = (n: AgentNic): string => JSON.stringify([n.mac, n.address, n.gateway, n.dns, n.bridge, n.vlan, n.index]);
  return key(a) === key(b);
}

/** The VM's state when NICs may change: `live` means the hypervisor's device model changes too. */
async function changeableState(host: NicVm, verb: string, liveStates: readonly string[]): Promise<{ live: boolean }> {
  const cur = await host.report();
  if (cur.incomingMigrationId !== undefined) throw new AgentConflictError({ vmId: host.vmId }, 'in-migration', `cannot ${verb}: it is the destination of migration ${cur.incomingMigrationId}`);
  if (liveStates.includes(cur.state)) return { live: true };
  if (cur.state === 'poweroff') return { live: false };
  throw new AgentConflictError({ vmId: host.vmId }, 'wrong-state', `cannot ${verb}: it is ${cur.state} (allowed when ${[...liveStates, 'poweroff'].join(', ')})`);
}

function hotplug(host: NicVm): NonNullable<Hypervisor['nics']> {
  const hv = host.hypervisor;
  if (!hv.nics) throw new UnsupportedError('NIC hot-plug', `the ${hv.kind} driver cannot change the NICs of a running VM`);
  return hv.nics;
}

/**
 * Adds `nic` to the VM: its stored spec, its config drive (network-config
 * then lists the NIC's address) and, when it runs, its device model
 * (hot-plug). The new config drive replaces the old file by a rename: a
 * running QEMU keeps reading the file it opened, and the next boot reads the
 * new one — so a running guest sees the new device at once and gets its
 * address from the drive when it next boots. Idempotent: the same NIC again
 * changes nothing; a different NIC with its index or MAC is refused. If a
 * step fails, the steps before it are undone.
 */
export async function attachVmNic(host: NicVm, nic: IndexedNic, signal?: AbortSignal): Promise<AgentVmReport> {
  const spec = await host.readSpec();
  const { live } = await changeableState(host, 'attach a NIC', ['running', 'paused']);
  const nics = withIndexes(spec.nics);
  const existing = nics.find((n) => n.index === nic.index);
  if (existing !== undefined && !sameNic(existing, nic)) throw new AgentConflictError({ vmId: host.vmId }, 'exists', `NIC ${nic.index} is already there (MAC ${existing.mac})`);
  if (existing === undefined) {
    const clash = nics.find((n) => n.mac === nic.mac);
    if (clash !== undefined) throw new AgentConflictError({ vmId: host.vmId }, 'taken', `MAC ${nic.mac} is already NIC ${clash.index}'s`);
    if (nics.length >= 8) throw new AgentConflictError({ vmId: host.vmId }, 'limit', 'it already has 8 NICs, the most a VM may have');
  }
  const next: AgentVmSpec = { ...spec, nics: existing !== undefined ? nics : [...nics, nic].sort((a, b) => a.index - b.index) };
  const hp = live ? hotplug(host) : undefined;
  // Also when the spec has it already: a retry after a failed hot-plug plugs it now (the driver ignores a NIC it has).
  if (hp) await hp.attach(host.vmId, host.hvNic(nic, nic.index), { ...(signal ? { signal } : {}) });
  try {
    await rebuildConfigDrive(host, next, signal);
    await host.writeSpec(next);
  } catch (err) {
    if (hp && existing === undefined) await hp.detach(host.vmId, `nic${nic.index}`).catch(() => {});
    await rebuildConfigDrive(host, spec).catch(() => {});
    throw err;
  }
  host.logger.info({ vmId: host.vmId, index: nic.index, mac: nic.mac, address: nic.address, live }, 'NIC attached');
  return host.report();
}

/**
 * Removes the VM's NIC `index`: unplugs it when the VM runs (the guest has to
 * let go of it), then drops it from the stored spec and rebuilds the config
 * drive without it. Idempotent: a NIC that is not there is fine.
 */
export async function detachVmNic(host: NicVm, index: number, signal?: AbortSignal): Promise<AgentVmReport> {
  const spec = await host.readSpec();
  const nics = withIndexes(spec.nics);
  if (!nics.some((n) => n.index === index)) return host.report();
  // Not while paused: a stopped guest cannot acknowledge the unplug.
  const { live } = await changeableState(host, 'detach a NIC', ['running']);
  if (live) await hotplug(host).detach(host.vmId, `nic${index}`, { ...(signal ? { signal } : {}) });
  const next: AgentVmSpec = { ...spec, nics: nics.filter((n) => n.index !== index) };
  await rebuildConfigDrive(host, next, signal);
  await host.writeSpec(next);
  host.logger.info({ vmId: host.vmId, index, live }, 'NIC detached');
  return host.report();
}
