import { NO_USAGE, quotaOverrun, sumUsage, type QuotaLimits, type QuotaUsage } from '../quota/quota.js';
import type { LeaseRequest } from './lease.js';

/** One set of limits in force for an owner: their own, or one of their groups' (capping all its members together). */
export interface QuotaScope {
  /** How a refusal names it (`ana`; in the controller `user ana`, `group devs`). */
  readonly name: string;
  readonly limits: QuotaLimits;
  /** Whose live leases count against it: the owner, or the group's members. */
  readonly owners: readonly string[];
  /** What counts against it besides those leases (in the controller: their VMs outside leases). */
  readonly held?: QuotaUsage | undefined;
}

/** What an admission policy may ask about the world: the limits in force for an owner and what live leases hold. */
export interface AdmissionContext {
  /** The limits in force for `owner`, each with whom it covers (none: no limits). */
  scopes(owner: string): readonly QuotaScope[];
  /** What the live leases (accepted up to active, suspended included) of these owners hold now. */
  usage(owners: readonly string[]): QuotaUsage;
}

export type AdmissionVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** May this request be considered at all? A refusal carries the reason the requester sees. */
export interface AdmissionPolicy {
  readonly name: string;
  admit(req: LeaseRequest, ctx: AdmissionContext): AdmissionVerdict;
}

/** What a lease charges against its owner's quota: its VMs, their CPUs and memory, and one lease. */
export const leaseCharge = (req: LeaseRequest): { vms: number; vcpus: number; memoryMiB: number; leases: number } => ({
  vms: req.vms,
  vcpus: req.vms * req.shape.cpus,
  memoryMiB: req.vms * req.shape.memoryMiB,
  leases: 1,
});

export const ADMISSION_POLICIES: Readonly<Record<string, AdmissionPolicy>> = {
  'accept-all': { name: 'accept-all', admit: () => ({ ok: true }) },
  // The paper's baseline: a cluster that takes no advance reservations.
  'no-ars': {
    name: 'no-ars',
    admit: (req) => (req.kind === 'ar' ? { ok: false, reason: 'advance reservations are not accepted (admission policy no-ars)' } : { ok: true }),
  },
  // A lease whose VMs would take its owner (or one of the owner's groups) past a quota is refused at once, naming the quota;
  // leases without an owner or limits pass.
  'quota-aware': {
    name: 'quota-aware',
    admit: (req, ctx) => {
      if (req.owner === undefined) return { ok: true };
      for (const scope of ctx.scopes(req.owner)) {
        const over = quotaOverrun(scope.limits, sumUsage([ctx.usage(scope.owners), scope.held ?? NO_USAGE]), leaseCharge(req));
        if (over !== undefined) return { ok: false, reason: `quota exceeded: ${scope.name} may have ${over.limit} ${over.resource}; ${over.used} in use, ${over.requested} more requested (admission policy quota-aware)` };
      }
      return { ok: true };
    },
  },
};
