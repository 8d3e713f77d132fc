import type { AgentVmReport } from '../contract/agent-api.js';
import type { VmStamp } from '../store/repositories/vms-repository.js';

/**
 * What a beat's reconciliation depends on: the VMs bound to the host as the
 * store has them (state, version, last change, operation) and what the
 * agent reports of each VM it holds. Two beats with the same signature act
 * the same — unless the first one did something (see `heartbeat`).
 */
export function beatSignature(stamps: readonly VmStamp[], reports: readonly AgentVmReport[]): string {
  const held = reports.map((r) => `${r.id}:${r.state}:${r.firewallRevision ?? ''}:${r.incomingMigrationId ?? ''}`).sort();
  return `${stamps.map((v) => `${v.id}:${v.state}:${v.version}:${v.updatedAt}:${v.busy ? 1 : 0}`).join(',')}|${held.join(',')}`;
}
