import type { Cloud, CloudVm } from '../store/repositories/clouds-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { sleep } from '../util/deadline.js';
import { TimeoutError } from '../errors/timeout-error.js';
import type { CloudBurstingOptions } from './cloud-bursting-options.js';
import type { CloudEc2Client } from './cloud-ec2-client.js';
import { CloudRefusedError } from './cloud-refused-error.js';

/** Starts or stops the instance as needed and waits until the cloud reports `want`. `id` is `b`'s instance, resolved by the caller: a VM with none yet is refused before EC2 is asked. */
export async function bringInstanceTo(o: CloudBurstingOptions, vm: Vm, b: CloudVm, id: string, cloud: Cloud, ec2: CloudEc2Client, want: 'running' | 'stopped', signal: AbortSignal, force = false): Promise<void> {
  const until = Date.now() + (o.stateTimeoutMs ?? 600_000);
  let asked = false;
  // EC2 is polled soon after the request, then less often: a fast cloud is seen at once, a slow one not hammered.
  let waitMs = 100;
  for (;;) {
    const [inst] = await ec2.describe(signal, { instanceIds: [id] });
    const state = inst?.state ?? 'missing';
    if (state !== b.remoteState) await o.store.clouds.recordInstance(vm.id, { remoteState: state });
    if (state === want) return;
    if (state === 'terminated' || state === 'shutting-down' || state === 'missing') {
      throw new CloudRefusedError(cloud.name, 'IncorrectInstanceState', `instance ${id} is ${state}`);
    }
    // Asked once per step, and only from a state it is allowed from; a transitional state (pending, stopping) is waited out.
    if (!asked && want === 'running' && state === 'stopped') {
      await ec2.start(id, signal);
      asked = true;
    } else if (!asked && want === 'stopped' && (state === 'running' || (force && state === 'stopping'))) {
      await ec2.stop(id, force, signal);
      asked = true;
    }
    if (Date.now() > until) throw new TimeoutError(`instance ${id} on cloud ${cloud.name} to be ${want}`, o.stateTimeoutMs ?? 600_000);
    await sleep(waitMs, signal);
    waitMs = Math.min(2_000, waitMs * 2);
  }
}
