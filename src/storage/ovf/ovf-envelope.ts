/**
 * An OVF 1.x envelope as nubo reads and writes it: the package's files, its
 * disks, its networks and the one virtual system with the hardware a nubo
 * template holds. `parseOvfEnvelope(buildOvfEnvelope(e))` gives `e` back.
 */
export interface OvfEnvelope {
  readonly files: readonly OvfFile[];
  readonly disks: readonly OvfDisk[];
  /** NetworkSection: the logical networks the NICs connect to, by name. */
  readonly networks: readonly string[];
  readonly system: OvfVirtualSystem;
}

/** References/File: a file of the package, relative to the descriptor. */
export interface OvfFile {
  readonly id: string;
  readonly href: string;
  readonly size?: number;
}

/** DiskSection/Disk. */
export interface OvfDisk {
  readonly id: string;
  readonly capacityBytes: number;
  /** The File holding the disk's content; none for a blank disk. */
  readonly fileRef?: string;
  /** The format URI, e.g. VMDK_STREAM_OPTIMIZED. */
  readonly format?: string;
  readonly populatedSize?: number;
}

export interface OvfNic {
  /** rasd:Connection: a network name of the NetworkSection. */
  readonly network?: string;
}

/** nubo's own section (ovf:required="false"): what a template holds beyond OVF's hardware. */
export interface OvfNuboSettings {
  readonly cpuModel?: string;
  readonly diskMode?: 'overlay' | 'copy';
  /** Where VMs' disks live: each host's own datastore or the shared one. */
  readonly datastore?: 'local' | 'shared';
  /** File ids of a kernel and initrd for direct kernel boot. */
  readonly kernelFileRef?: string;
  readonly initrdFileRef?: string;
  readonly cmdline?: string;
  readonly userData?: string;
  readonly requirements?: string;
}

export interface OvfVirtualSystem {
  readonly id: string;
  /** VirtualSystem/Name, else its ovf:id. */
  readonly name: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  /** Disk ids in the order of the hardware section's disk items: the first is the root disk. */
  readonly diskIds: readonly string[];
  readonly nics: readonly OvfNic[];
  readonly nubo?: OvfNuboSettings;
}
