import type { Logger } from 'pino';
import type { Hypervisor } from '../hypervisor/hypervisor.js';
import { UnsupportedError } from '../hypervisor/hypervisor-errors.js';
import type { NicSpecInput } from '../hypervisor/vm-spec.js';
import { NuboError } from '../errors/nubo-error.js';
import type { AgentVmReport, AgentVmSpec } from './agent-api.js';

type AgentNic = AgentVmSpec['nics'][number];
type IndexedNic = AgentNic & { readonly index: number };

/** A NIC change the VM's state or its other NICs do not allow (HTTP 409). */
export class NicChangeConflictError extends NuboError {
  readonly code = 'CONFLICT';
  constructor(readonly vmId: string, reason: string) {
    super(`VM ${vmId}: ${reason}`, { vmId, reason });
  }
}

/** What changing a prepared VM's NICs needs of the agent (AgentService hands it over, its lock on the VM held). */
export interface VmNicHost {
  readonly vmId: string;
  readonly hypervisor: Hypervisor;
  readonly logger: Logger;
  readSpec(): Promise<AgentVmSpec>;
  writeSpec(spec: AgentVmSpec): Promise<void>;
  /** Rebuilds the config drive from `spec` (made beside the old one and renamed over it). */
  buildConfigDrive(spec: AgentVmSpec, signal?: AbortSignal): Promise<void>;
  report(): Promise<AgentVmReport>;
  /** The hypervisor's NIC for this NIC of the VM. */
  hvNic(nic: AgentNic, index: number): NicSpecInput;
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
async function changeableState(host: VmNicHost, verb: string, liveStates: readonly string[]): Promise<{ live: boolean }> {
  const cur = await host.report();
  if (cur.incomingMigrationId !== undefined) throw new NicChangeConflictError(host.vmId, `cannot ${verb}: it is the destination of migration ${cur.incomingMigrationId}`);
  if (liveStates.includes(cur.state)) return { live: true };
  if (cur.state === 'poweroff') return { live: false };
  throw new NicChangeConflictError(host.vmId, `cannot ${verb}: it is ${cur.state} (allowed when ${[...liveStates, 'poweroff'].join(', ')})`);
}

function hotplug(host: VmNicHost): NonNullable<Hypervisor['nics']> {
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
export async function attachVmNic(host: VmNicHost, nic: IndexedNic, signal?: AbortSignal): Promise<AgentVmReport> {
  const spec = await host.readSpec();
  const { live } = await changeableState(host, 'attach a NIC', ['running', 'paused']);
  const nics = withIndexes(spec.nics);
  const existing = nics.find((n) => n.index === nic.index);
  if (existing !== undefined && !sameNic(existing, nic)) throw new NicChangeConflictError(host.vmId, `NIC ${nic.index} is already there (MAC ${existing.mac})`);
  if (existing === undefined) {
    const clash = nics.find((n) => n.mac === nic.mac);
    if (clash !== undefined) throw new NicChangeConflictError(host.vmId, `MAC ${nic.mac} is already NIC ${clash.index}'s`);
    if (nics.length >= 8) throw new NicChangeConflictError(host.vmId, 'it already has 8 NICs, the most a VM may have');
  }
  const next: AgentVmSpec = { ...spec, nics: existing !== undefined ? nics : [...nics, nic].sort((a, b) => a.index - b.index) };
  const hp = live ? hotplug(host) : undefined;
  // Also when the spec has it already: a retry after a failed hot-plug plugs it now (the driver ignores a NIC it has).
  if (hp) await hp.attach(host.vmId, host.hvNic(nic, nic.index), { ...(signal ? { signal } : {}) });
  try {
    await host.buildConfigDrive(next, signal);
    await host.writeSpec(next);
  } catch (err) {
    if (hp && existing === undefined) await hp.detach(host.vmId, `nic${nic.index}`).catch(() => {});
    await host.buildConfigDrive(spec).catch(() => {});
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
export async function detachVmNic(host: VmNicHost, index: number, signal?: AbortSignal): Promise<AgentVmReport> {
  const spec = await host.readSpec();
  const nics = withIndexes(spec.nics);
  if (!nics.some((n) => n.index === index)) return host.report();
  // Not while paused: a stopped guest cannot acknowledge the unplug.
  const { live } = await changeableState(host, 'detach a NIC', ['running']);
  if (live) await hotplug(host).detach(host.vmId, `nic${index}`, { ...(signal ? { signal } : {}) });
  const next: AgentVmSpec = { ...spec, nics: nics.filter((n) => n.index !== index) };
  await host.buildConfigDrive(next, signal);
  await host.writeSpec(next);
  host.logger.info({ vmId: host.vmId, index, live }, 'NIC detached');
  return host.report();
}
