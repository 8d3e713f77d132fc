import type { CloudVm } from '../store/repositories/clouds-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { sleep } from '../util/deadline.js';
import { TimeoutError } from '../errors/timeout-error.js';
import type { CloudBurstingOptions } from './cloud-bursting-options.js';
import type { CloudEc2Client } from './cloud-ec2-client.js';
import { CloudRefusedError } from './cloud-refused-error.js';

/** Terminates the VM's instance — found by its tag when its id was never recorded (a crash after the launch) — and gives its place back. */
export async function terminateCloudInstances(o: CloudBurstingOptions, vm: Vm, b: CloudVm, ec2: CloudEc2Client, signal: AbortSignal): Promise<void> {
  const ids = b.instanceId !== null ? [b.instanceId] : (await ec2.describe(signal, { vmId: vm.id })).filter((i) => i.state !== 'terminated').map((i) => i.instanceId);
  const until = Date.now() + (o.stateTimeoutMs ?? 600_000);
  for (const id of ids) {
    for (;;) {
      try {
        await ec2.terminate(id, signal);
        break;
      } catch (err) {
        // Gone already (terminated outside nubo, long purged): nothing is left to end.
        if (err instanceof CloudRefusedError && err.awsCode.startsWith('InvalidInstanceID')) break;
        // Busy in a step of its own there (pending, stopping): asked again once that is over.
        if (!(err instanceof CloudRefusedError && err.awsCode === 'IncorrectInstanceState') || Date.now() > until) throw err;
        await sleep(1_000, signal);
      }
    }
  }
  // Terminated in nubo means terminated there (no longer billed, its place free): waited for, as EC2's own waiter does.
  for (let waitMs = 100; ids.length > 0; waitMs = Math.min(2_000, waitMs * 2)) {
    const left = (await ec2.describe(signal, { vmId: vm.id })).filter((i) => ids.includes(i.instanceId) && i.state !== 'terminated');
    if (left.length === 0) break;
    if (Date.now() > until) throw new TimeoutError(`instance ${left.map((i) => i.instanceId).join(', ')} to be terminated`, o.stateTimeoutMs ?? 600_000);
    await sleep(waitMs, signal);
  }
  if (ids.length > 0) await o.store.clouds.recordInstance(vm.id, { remoteState: 'terminated' });
  await o.store.clouds.unbind(vm.id);
  o.logger.info({ vmId: vm.id, instances: ids }, 'cloud instance terminated');
}
