import { quotaOverrun, type QuotaLimits, type QuotaUsage } from '../quota/quota.js';
import type { LeaseRequest } from './lease.js';

/** What an admission policy may ask about the world: the owner's limits and what their live leases hold. */
export interface AdmissionContext {
  /** The owner's limits (undefined: none set). */
  limits(owner: string): QuotaLimits | undefined;
  /** What the owner's live leases (accepted up to active, suspended included) hold now. */
  usage(owner: string): QuotaUsage;
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
  // A lease whose VMs would take its owner past a quota is refused at once, naming the quota; leases without an owner or limits pass.
  'quota-aware': {
    name: 'quota-aware',
    admit: (req, ctx) => {
      if (req.owner === undefined) return { ok: true };
      const limits = ctx.limits(req.owner);
      if (limits === undefined) return { ok: true };
      const over = quotaOverrun(limits, ctx.usage(req.owner), leaseCharge(req));
      if (over === undefined) return { ok: true };
      return { ok: false, reason: `quota exceeded: ${req.owner} may have ${over.limit} ${over.resource}; ${over.used} in use, ${over.requested} more requested (admission policy quota-aware)` };
    },
  },
};
