import type { AgentVmSpecInput } from '../contract/agent-api.js';
import type { ClusterBinding } from '../core/placement/cluster-fit.js';

/** What the controller keeps in `vms.spec`: the agent's spec, resolved at admission, and the placement demand. */
export interface ControllerVmSpec {
  readonly agent: AgentVmSpecInput;
  readonly demand: { readonly vcpus: number; readonly memoryMiB: number; readonly diskMiB: number; readonly cpuModel: string; readonly requirements?: string; readonly datastore?: string;
    /** The cluster it asked for (its request's or template's `cluster`). */
    readonly cluster?: string;
    /** Its networks and datastore bound to a cluster, as they were at admission. */
    readonly bindings?: readonly ClusterBinding[];
    /** Its template's burst flag at admission: a cloud's name or `any` (see core/placement/choose-cloud.ts). */
    readonly burst?: string;
  };
  /** Per NIC of `agent.nics`: the id of the network it has a lease on, or null (no network). */
  readonly nicNetworks?: readonly (string | null)[];
  /**
   * An admin's `host` at create (OpenNebula's `onevm deploy`): the first
   * placement takes this host only. Not a lasting requirement — later
   * placements (resume of a stopped VM, recover) and migrations ignore it.
   */
  readonly deploy?: { readonly hostId: string };
  /**
   * The volumes (ids) its create asked for: bound to it and attached in its
   * first prolog (vm-create-volumes.ts), a journaled step that a controller
   * restart re-runs, so a VM never runs without them.
   */
  readonly volumesAtCreate?: readonly string[];
  /**
   * Hosts (ids) its create could not reach — the connection was never made,
   * so nothing of the VM is there — and placed it again elsewhere
   * (place-again.ts): its create's placements do not choose them again. Like
   * `deploy`, for the create only: a later placement may choose them.
   */
  readonly avoidHosts?: readonly string[];
  /**
   * The VM it is a clone of (its settings and a copy of its disk), as it was
   * named then: what `vm show` says instead of a template name the clone
   * only inherited.
   */
  readonly cloneOf?: { readonly vmId: string; readonly vmName: string };
}
