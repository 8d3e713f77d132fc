import type { ClusterBinding } from './cluster-fit.js';
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
  /** The cluster the VM asks for (its template's or its request's `cluster`); undefined: any. */
  readonly cluster?: string;
  /** Its networks and datastore that are bound to a cluster (as they were when it was admitted). */
  readonly bindings?: readonly ClusterBinding[];
  /**
   * Hosts this placement must not choose (ids): the ones its create could not
   * reach before (the controller's re-placement, controller/place-again.ts).
   */
  readonly avoidHosts?: readonly string[];
}
