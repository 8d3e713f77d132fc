import type { VmPhase } from '../core/vm-state.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';

/** The phases the orchestrator hands to a collaborator instead of calling one agent itself. */
export type DelegatedVmPhase = Extract<VmPhase, 'epilog-stop' | 'prolog-resume' | 'migrate' | 'migrate-live'>;

/** Runs one delegated phase to its end (or throws: the step failed); `host` is the VM's host when the phase starts. */
export type VmPhaseRunner = (vm: Vm, host: Host, signal: AbortSignal) => Promise<void>;

/**
 * What the orchestrator's collaborators do for it, handed in by whoever
 * composes the controller: the stopper and the migrators depend on the
 * orchestrator's records, never on the orchestrator, so the arrows point one
 * way. A phase left out fails its step as unsupported by this controller.
 */
export type VmPhaseTable = Partial<Readonly<Record<DelegatedVmPhase, VmPhaseRunner>>> & {
  /** After a VM's epilog: what a collaborator still keeps of it (a stopped VM's files in the system store) goes too. */
  readonly forget?: (vmId: string) => Promise<void>;
};
