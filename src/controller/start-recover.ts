import type { Logger } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import { planAction } from '../core/vm-actions.js';
import { failedPhaseOf, planRecover, type RecoverFinding } from '../core/plan-recover.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { ConflictError } from '../store/store-errors.js';
import { agentVmId } from './agent-vm-id.js';

interface RecoverDeps {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
  /** The controller stopping: the question to the host is dropped. */
  readonly signal: AbortSignal;
}

/**
 * Recover of a failed VM: asks its host what it holds, lets core decide where
 * the recover plan starts (or refuses, 409, nothing changed), records that
 * step and drives the rest like any operation.
 */
export async function startRecover(vm: Vm, expectedVersion: number, o: RecoverDeps): Promise<Vm> {
  planAction(vm.state, 'recover'); // the state's 409 comes before anything is asked
  let found: RecoverFinding = 'no-host';
  let where = 'on no host';
  if (vm.hostId !== null) {
    const host = await o.store.hosts.get(vm.hostId);
    where = `on host ${host.name}`;
    const held = await o.agentFor(host).list({ signal: o.signal, timeoutMs: 10_000 }).catch((err: unknown) => {
      throw new ConflictError('VM', 'host', host.name, `cannot be recovered now: its host ${host.name} does not answer (${errorMessage(err)})`);
    });
    const r = held.find((v) => v.id === agentVmId(vm.id));
    found = r === undefined ? 'missing' : r.state === 'suspended' ? 'saved' : r.state === 'poweroff' || r.state === 'crashed' ? 'shutoff' : 'running';
  }
  const failedPhase = failedPhaseOf(vm.stateReason);
  const { entry } = planRecover(vm.state, failedPhase, found);
  const reason = `recover: failed in ${failedPhase ?? 'an unrecorded phase'}, ${where} (${found}): ${entry.phase === 'boot' ? 'start it from its disk' : entry.phase === 'prolog' ? 'build its disks again' : 'place it again'}`;
  const next = await o.store.vms.transition(vm.id, {
    from: [vm.state],
    to: entry.state,
    action: 'recover',
    reason,
    expectedVersion,
    patch: { operation: { action: 'recover', from: vm.state }, stateReason: null },
  });
  o.logger.info({ vmId: vm.id, failedPhase, found, entry: entry.phase }, 'vm recover');
  return next;
}
