import { NuboError } from '../errors/nubo-error.js';

/** AWS error codes that mean "not now, for want of room": the VM goes back to waiting (or to a local host), the cloud is left alone a while. */
export const CLOUD_CAPACITY_CODES: ReadonlySet<string> = new Set(['InsufficientInstanceCapacity', 'InsufficientCapacity', 'InstanceLimitExceeded', 'InsufficientHostCapacity', 'VcpuLimitExceeded']);

/** A remote cloud answered and refused (details.awsCode): for want of capacity (`capacity`), or for another reason (bad AMI, bad credentials). */
export class CloudRefusedError extends NuboError {
  readonly code = 'CLOUD_REFUSED';
  readonly capacity: boolean;
  constructor(readonly cloud: string, readonly awsCode: string, reason: string, options?: ErrorOptions) {
    super(`cloud ${cloud} refused: ${awsCode}: ${reason}`, { cloud, awsCode, reason, capacity: CLOUD_CAPACITY_CODES.has(awsCode) }, options);
    this.capacity = CLOUD_CAPACITY_CODES.has(awsCode);
  }
}
