import type { Logger } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import { terminateDuringMigration } from '../core/migration/terminate-during-migration.js';
import { parseMigrationPolicy } from '../core/migration/migration-policy.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { ConflictError, StaleStateError } from '../store/store-errors.js';
import { agentVmId } from './agent-vm-id.js';

interface MigratingVmDeps {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
}

/**
 * An admin's `terminate-hard` of a VM whose migration is stuck (the rule is
 * core's terminateDuringMigration): the VM goes to the epilog of a VM in an
 * unknown place (it deletes whatever the VM's host holds, and fails, to be
 * retried, while that host does not answer), the migration's record fails
 * (freeing its reservation; its drive stops at its next decision), and the
 * other end's copy is released (or by the host monitor once that host
 * answers).
 */
export async function terminateMigratingVm(vm: Vm, admin: boolean, o: MigratingVmDeps): Promise<Vm> {
  const store = o.store;
  const [m] = await store.migrations.list({ vmId: vm.id, state: 'running' });
  const verdict = terminateDuringMigration({
    admin,
    vmState: vm.state,
    migration: m && { id: m.id, kind: m.kind, stage: m.stage, startedAtMs: Date.parse(m.startedAt), timeoutS: parseMigrationPolicy(m.policy).timeoutS },
    nowMs: Date.now(),
  });
  if (!verdict.allowed) throw new ConflictError('VM', 'state', vm.state, `cannot be terminated while it migrates: ${verdict.reason}`);
  const reason = `terminated by an admin during its migration: ${verdict.reason}`;
  // The VM first, then the record: the migration's drive ends when it sees its record ended, and a drive ending while
  // the VM is still `migrating` reads as a failed step, which puts the VM back to `running` (on a host that may be
  // dead). Once the VM has left `migrating`, that drive's result is dropped as stale.
  // From `unknown`: nobody knows which copies are left; its epilog kills whatever QEMU the host has.
  const next = await store.vms.transition(vm.id, {
    from: ['migrating'],
    to: 'epilog',
    action: 'terminate-hard',
    expectedVersion: vm.version,
    reason,
    patch: { operation: { action: 'terminate-hard', from: 'unknown' } },
  });
  if (m) {
    // A controller that stops here leaves the record running for a VM that no longer migrates: the sweep at start-up ends it.
    await store.migrations.finish(m.id, { state: 'failed', reason, stats: { totalTimeMs: Date.now() - Date.parse(m.startedAt) } }).catch((err: unknown) => {
      if (!(err instanceof StaleStateError)) throw err; // it ended meanwhile
    });
    const other = await store.hosts.get(vm.hostId === m.sourceHostId ? m.destHostId : m.sourceHostId);
    await o.agentFor(other).release(agentVmId(vm.id), { timeoutMs: 30_000 }).catch((err: unknown) => {
      o.logger.warn({ vmId: vm.id, host: other.name, err }, 'the other end of the migration keeps its copy until the host monitor releases it');
    });
  }
  o.logger.warn({ vmId: vm.id, migrationId: m?.id, reason }, 'migrating VM terminated by an admin');
  return next;
}
