import type { Host } from './api-types';

/**
 * Whether placement may put a VM on the host — the API's own filters
 * (src/core/placement/host-filters.ts): enabled, not in maintenance, not on
 * standby, not degraded. A host that fails this is no migration destination
 * the page offers; the API would refuse it anyway.
 */
export function takesVms(h: Host): boolean {
  return h.state === 'enabled' && h.maintenance === null && (h.standbySince ?? null) === null && (h.degraded ?? null) === null;
}
