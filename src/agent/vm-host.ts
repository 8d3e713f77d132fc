import type { Logger } from 'pino';
import type { Hypervisor } from '../hypervisor/hypervisor.js';
import type { NicSpecInput, VmSpecInput } from '../hypervisor/vm-spec.js';
import type { AgentVmReport, AgentVmSpec } from '../contract/agent-api.js';
import type { VmFiles, VmPaths } from './vm-record-store.js';

/**
 * One VM of this host as the agent's features see it: its record, its
 * files, its hypervisor and its state. Handed to a feature with the VM's
 * lock held (see AgentHost.vm); a feature takes the slice it uses
 * (`Pick<VmHost, …>`), so that its tests build only that.
 */
export interface VmHost {
  readonly vmId: string;
  /** This host's local datastore. */
  readonly dataDir: string;
  readonly hypervisor: Hypervisor;
  readonly logger: Logger;
  /** The VM's files in its local directory. */
  readonly paths: VmPaths;
  /** The VM's spec; VmNotFoundError when this host holds no such VM. */
  readSpec(): Promise<AgentVmSpec>;
  writeSpec(spec: AgentVmSpec): Promise<void>;
  /** The VM's state now (a powered-off guest's driver leftovers are released on the way). */
  report(): Promise<AgentVmReport>;
  /** Where the disk and config drive of `spec` are (its datastore's). */
  files(spec: AgentVmSpec): VmFiles;
  /** Fetches the disk's base image (into the cache of the spec's datastore), kernel and initrd; returns the base's path. */
  ensureImages(spec: AgentVmSpec, signal?: AbortSignal): Promise<string>;
  /** Writes the config drive of `spec` to `iso`. */
  buildConfigDrive(spec: AgentVmSpec, iso: string, signal?: AbortSignal): Promise<void>;
  /** The hypervisor's NIC for this NIC of the VM. */
  hvNic(nic: AgentVmSpec['nics'][number], index: number): NicSpecInput;
  /** The hypervisor's spec of the VM as `spec` describes it. */
  hvSpec(spec: AgentVmSpec): VmSpecInput;
}
