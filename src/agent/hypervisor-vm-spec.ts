import { createHash } from 'node:crypto';
import type { NicSpecInput, VmSpecInput } from '../hypervisor/vm-spec.js';
import type { AgentVmSpec } from '../contract/agent-api.js';
import type { ImageCache } from './image-cache.js';
import type { VmFiles } from './vm-record-store.js';
import { volumeDisk } from './vm-volumes.js';

/** PCI slot of NIC 0 (NIC i sits at this + i): above the slots the disks and the config drive take in command-line order. */
const NIC_PCI_SLOT = 0x10;

/** A TAP name that fits in 15 characters and is unique per VM and NIC. */
export function tapName(vmId: string, nic: number): string {
  return `nt${createHash('sha256').update(vmId).digest('hex').slice(0, 9)}-${nic}`;
}

/**
 * NIC `index` of the VM on this host. Its id, TAP and PCI slot follow the
 * index, never the NIC's position: a NIC that was hot-plugged, or that
 * stayed when another was detached, is the same device in the next boot and
 * on a migration's destination.
 */
export function hypervisorNic(vmId: string, n: AgentVmSpec['nics'][number], index: number): NicSpecInput {
  const pciSlot = NIC_PCI_SLOT + index;
  return n.bridge !== undefined
    ? { kind: 'tap', id: `nic${index}`, mac: n.mac, ifname: tapName(vmId, index), bridge: n.bridge, ...(n.vlan !== undefined ? { vlan: n.vlan } : {}), pciSlot }
    : // No bridge on this host: a NIC on a private, isolated user-mode subnet, so the guest still has one.
      { kind: 'user', id: `nic${index}`, mac: n.mac, net: '198.18.250.0/24', pciSlot };
}

/** What of this host the hypervisor spec of a VM depends on. */
export interface HypervisorVmSpecHost {
  readonly dataDir: string;
  /** The local image cache: kernels and initrds are always there. */
  readonly images: ImageCache;
  readonly netns?: string | undefined;
}

/** The hypervisor spec for a prepared VM: its disk, config drive, kernel, NICs and console log on this host. */
export function hypervisorVmSpec(host: HypervisorVmSpecHost, id: string, spec: AgentVmSpec, files: VmFiles, consoleLog: string): VmSpecInput {
  const images = host.images;
  return {
    id,
    vcpus: spec.vcpus,
    memoryMiB: spec.memoryMiB,
    cpuModel: spec.cpuModel,
    boot: spec.kernel
      ? { kind: 'kernel', kernel: images.pathOf(spec.kernel), ...(spec.initrd ? { initrd: images.pathOf(spec.initrd) } : {}), ...(spec.cmdline !== undefined ? { cmdline: spec.cmdline } : {}) }
      : { kind: 'disk' },
    // With -kernel, QEMU's linuxboot ROM takes boot index 0; a boot index only matters for disk boot.
    disks: [{ id: 'root', path: files.disk, format: 'qcow2', ...(spec.kernel ? {} : { bootIndex: 0 }) }, ...(spec.volumes ?? []).map((v) => volumeDisk(host.dataDir, v))],
    configDrive: files.iso,
    consoleLog,
    nics: spec.nics.map((n, i) => hypervisorNic(id, n, n.index ?? i)),
    ...(host.netns !== undefined ? { netns: host.netns } : {}),
  };
}
