import type { CapacityDemand } from './host-capacity.js';

/** What a VM asks of a host; validated at admission (DESIGN §4.2) before it gets here. */
export interface VmDemand extends CapacityDemand {
  /** Guest CPU model; the host must list it in `supportedCpuModels`. */
  readonly cpuModel?: string;
  /** A requirements expression (see requirements-expression.ts). */
  readonly requirements?: string;
  /** Ids of the virtual networks the VM's NICs attach to. */
  readonly networks: readonly string[];
  /** Id of the datastore the VM's disks live on. */
  readonly datastore?: string;
}
