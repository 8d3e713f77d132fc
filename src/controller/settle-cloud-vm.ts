import { applyEvent, type VmEvent } from '../core/vm-events.js';
import type { Cloud } from '../store/repositories/clouds-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { StaleStateError } from '../store/store-errors.js';
import type { CloudBurstingOptions } from './cloud-bursting-options.js';

/** A VM at rest whose instance changed outside nubo: the same events a host's report gives. */
export async function settleCloudVm(o: Pick<CloudBurstingOptions, 'store' | 'logger'>, vm: Vm, cloud: Cloud, instanceId: string, state: string): Promise<void> {
  let event: VmEvent | undefined;
  let from = vm.state;
  if (vm.state === 'running' && state === 'stopped') event = { type: 'process-exited', clean: true };
  else if ((vm.state === 'running' || vm.state === 'poweroff') && (state === 'terminated' || state === 'missing')) {
    event = { type: 'host-back', report: 'missing' };
    from = 'unknown';
  } else if ((vm.state === 'poweroff' || vm.state === 'failed') && state === 'running') {
    event = { type: 'host-back', report: 'running' };
    from = 'unknown';
  }
  if (event === undefined) return;
  const out = applyEvent(from, event);
  if (out.state === vm.state) return;
  const reason = `cloud ${cloud.name}: instance ${instanceId} is ${state}, changed outside nubo`;
  try {
    await o.store.vms.transition(vm.id, {
      from: [vm.state], to: out.state, action: 'cloud-monitor', expectedVersion: vm.version, reason,
      patch: { stateReason: out.failedPhase !== undefined ? `${out.failedPhase}: ${reason}` : null },
    });
    o.logger.info({ vmId: vm.id, from: vm.state, to: out.state, reason }, 'vm state');
  } catch (err) {
    if (!(err instanceof StaleStateError)) throw err;
  }
}
