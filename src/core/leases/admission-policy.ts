import type { LeaseRequest } from './lease.js';

/** May this request be considered at all? A refusal carries the reason the requester sees. */
export interface AdmissionPolicy {
  readonly name: string;
  admit(req: LeaseRequest): { readonly ok: true } | { readonly ok: false; readonly reason: string };
}

export const ADMISSION_POLICIES: Readonly<Record<string, AdmissionPolicy>> = {
  'accept-all': { name: 'accept-all', admit: () => ({ ok: true }) },
  // The paper's baseline: a cluster that takes no advance reservations.
  'no-ars': {
    name: 'no-ars',
    admit: (req) => (req.kind === 'ar' ? { ok: false, reason: 'advance reservations are not accepted (admission policy no-ars)' } : { ok: true }),
  },
};
