import type { Resources } from '../store-errors.js';
import type { Host } from './hosts-repository.js';

/** Decides whether `host` can take `demand`: true, or the reason it cannot. */
export type CapacityCheck = (host: Host, demand: Resources) => true | string;

/** The default: the host takes VMs (`enabled`) and total − reserved covers the demand in every dimension. */
export const fitsFreeCapacity: CapacityCheck = (host, d) => {
  if (host.state !== 'enabled') return `host is ${host.state}`;
  const short = (['cpus', 'memoryMib', 'diskMib'] as const).filter((k) => host.free[k] < d[k]);
  return short.length === 0 ? true : `not enough ${short.join(', ')}`;
};
