import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Hypervisor } from '../hypervisor/hypervisor.js';
import { UnsupportedError } from '../hypervisor/hypervisor-errors.js';
import type { DiskSpecInput } from '../hypervisor/vm-spec.js';
import { createImage } from '../storage/qemu-img.js';
import { agentVmSpecSchema, type AgentVmReport, type AgentVmSpec, type VolumeAttachment } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import type { VmHost } from './vm-host.js';

/** PCI slot of volume slot 0 (volume i at this + i): above the NICs' slots (0x10-0x17). */
const VOLUME_PCI_SLOT = 0x18;

/** Where a volume's file lives on this host. */
export function volumePath(dataDir: string, volumeId: string): string {
  return join(dataDir, 'volumes', `${volumeId}.qcow2`);
}

/** The hypervisor disk of one of the VM's volumes: its device id and PCI slot follow its slot, so it is the same device in every boot. */
export function volumeDisk(dataDir: string, v: VolumeAttachment): DiskSpecInput {
  return { id: `vol${v.slot}`, path: volumePath(dataDir, v.id), format: 'qcow2', bus: 'virtio', pciSlot: VOLUME_PCI_SLOT + v.slot };
}

/** What changing volumes uses of the VM (handed over with its lock held). */
type VolumeVm = Pick<VmHost, 'vmId' | 'dataDir' | 'hypervisor' | 'logger' | 'readSpec' | 'writeSpec' | 'report'>;

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

async function liveState(host: VolumeVm, verb: string, liveStates: readonly string[]): Promise<boolean> {
  const cur = await host.report();
  if (cur.incomingMigrationId !== undefined) throw new AgentConflictError({ vmId: host.vmId }, 'in-migration', `cannot ${verb}: it is the destination of migration ${cur.incomingMigrationId}`);
  if (liveStates.includes(cur.state)) return true;
  if (cur.state === 'poweroff') return false;
  throw new AgentConflictError({ vmId: host.vmId }, 'wrong-state', `cannot ${verb}: it is ${cur.state} (allowed when ${[...liveStates, 'poweroff'].join(', ')})`);
}

function hotplug(hv: Hypervisor): void {
  if (!hv.disks) throw new UnsupportedError('disk hot-plug', `the ${hv.kind} driver cannot change the disks of a running VM`);
}

/**
 * Attaches a volume: its file is made (an empty qcow2 of its size) the first
 * time, it is hot-plugged when the VM runs, and the VM's spec lists it so the
 * next boot has it at the same slot. Idempotent: the same volume again at the
 * same slot changes nothing; another volume at its slot is refused. A new
 * file is removed again if the hot-plug fails.
 */
export async function attachVmVolume(host: VolumeVm, v: VolumeAttachment, signal?: AbortSignal): Promise<AgentVmReport> {
  const spec = await host.readSpec();
  const live = await liveState(host, 'attach a volume', ['running', 'paused']);
  const vols = spec.volumes ?? [];
  const same = vols.find((x) => x.id === v.id);
  if (same !== undefined && same.slot !== v.slot) throw new AgentConflictError({ vmId: host.vmId }, 'exists', `volume ${v.id} is already attached at slot ${same.slot}`);
  const clash = vols.find((x) => x.slot === v.slot && x.id !== v.id);
  if (clash !== undefined) throw new AgentConflictError({ vmId: host.vmId }, 'taken', `slot ${v.slot} holds volume ${clash.id}`);
  const disk = volumeDisk(host.dataDir, v);
  const made = !(await exists(disk.path));
  if (made) {
    await mkdir(dirname(disk.path), { recursive: true });
    await createImage(disk.path, 'qcow2', v.sizeMiB * 2 ** 20, { ...(signal ? { signal } : {}) });
  }
  try {
    // Also when the spec has it: a retry after a failed hot-plug plugs it now.
    if (live && host.hypervisor.disks?.pathOf?.(host.vmId, disk.id) === undefined) {
      hotplug(host.hypervisor);
      await host.hypervisor.disks!.attach(host.vmId, disk, { ...(signal ? { signal } : {}) });
    }
    // Re-parsed: the spec file keeps the schema's key order, which `prepare` compares against.
    if (same === undefined) await host.writeSpec(agentVmSpecSchema.parse({ ...spec, volumes: [...vols, v].sort((a, b) => a.slot - b.slot) }));
  } catch (err) {
    if (made) await rm(disk.path, { force: true });
    throw err;
  }
  host.logger.info({ vmId: host.vmId, volumeId: v.id, slot: v.slot, live, made }, 'volume attached');
  return host.report();
}

/** Detaches a volume (a running guest has to release it); its file stays. Idempotent: a volume not attached is fine. */
export async function detachVmVolume(host: VolumeVm, volumeId: string, signal?: AbortSignal): Promise<AgentVmReport> {
  const spec = await host.readSpec();
  const v = (spec.volumes ?? []).find((x) => x.id === volumeId);
  if (v === undefined) return host.report();
  // Not while paused: a stopped guest cannot acknowledge the unplug.
  const live = await liveState(host, 'detach a volume', ['running']);
  const diskId = volumeDisk(host.dataDir, v).id;
  if (live && host.hypervisor.disks?.pathOf?.(host.vmId, diskId) !== undefined) {
    hotplug(host.hypervisor);
    await host.hypervisor.disks.detach(host.vmId, diskId, { ...(signal ? { signal } : {}) });
  }
  const rest = (spec.volumes ?? []).filter((x) => x.id !== volumeId);
  const { volumes: _old, ...without } = spec;
  await host.writeSpec(agentVmSpecSchema.parse(rest.length > 0 ? { ...without, volumes: rest } : without));
  host.logger.info({ vmId: host.vmId, volumeId, live }, 'volume detached');
  return host.report();
}

/** Deletes a volume's file; refused while a VM of this host lists it. Idempotent. */
export async function deleteVolumeFile(dataDir: string, volumeId: string, specs: readonly { id: string; spec: AgentVmSpec }[], logger: Logger): Promise<void> {
  const user = specs.find((s) => (s.spec.volumes ?? []).some((v) => v.id === volumeId));
  if (user !== undefined) throw new AgentConflictError({ volumeId }, 'in-use', `it is attached to VM ${user.id}`);
  await rm(volumePath(dataDir, volumeId), { force: true });
  logger.info({ volumeId }, 'volume deleted');
}
