import { NuboError } from '../errors/nubo-error.js';

/**
 * Why a call on a VM (or a volume) of this host was refused. Callers branch
 * on this, never on the message, which is for people.
 */
export type AgentConflictReason =
  /** Another operation of the same kind holds the VM (a receive, a disk move, an incoming migration). */
  | 'busy'
  /** This host already holds the VM or the NIC/volume asked for, in another form. */
  | 'exists'
  /** The VM's state does not allow the call. */
  | 'wrong-state'
  /** The VM is the destination of a live migration: the source owns it until the commit. */
  | 'in-migration'
  /** A peer is copying the VM's files (cold migration): they must not change. */
  | 'being-copied'
  /** The call disagrees with the spec this host has for the VM. */
  | 'spec-mismatch'
  /** Files are where the VM's would go, and this host has no record of making them. */
  | 'foreign-files'
  /** Attached volumes, which the call would leave behind. */
  | 'has-volumes'
  /** Disk snapshots, which only the disk's own file holds. */
  | 'has-snapshots'
  /** A slot, a MAC or a volume is another device's. */
  | 'taken'
  /** The volume is attached to a VM. */
  | 'in-use'
  /** The VM has as many devices of the kind as it may. */
  | 'limit'
  /** The operation the call refers to is not under way (or never was). */
  | 'not-under-way'
  /** The operation was cancelled before it finished. */
  | 'cancelled';

/** What the refusal is about: one of this host's VMs, or a volume's file. */
export type AgentConflictSubject = { readonly vmId: string } | { readonly volumeId: string };

/**
 * A call the agent refuses because of what the VM (or volume) is or does now
 * (HTTP 409). One class for every feature of the agent; `reason` tells them
 * apart. The message keeps the form `VM <id>: <why>` that users and logs see.
 */
export class AgentConflictError extends NuboError {
  readonly code = 'AGENT_VM_CONFLICT';
  constructor(readonly subject: AgentConflictSubject, readonly reason: AgentConflictReason, why: string) {
    super(`${'vmId' in subject ? `VM ${subject.vmId}` : `volume ${subject.volumeId}`}: ${why}`, { ...subject, reason });
  }
}
