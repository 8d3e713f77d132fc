import type { LeaseKind } from '../../core/leases/lease.js';
import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';
import type { Host } from '../../store/repositories/hosts-repository.js';
import type { LeaseLimits } from './lease-limits.js';

/** A lease as the API asks for it (validated by the contract's schema). */
export interface LeaseSubmission {
  readonly ownerId: string;
  readonly kind: LeaseKind;
  /** Advance reservations only: epoch seconds. */
  readonly startS?: number | undefined;
  readonly durationS: number;
  readonly count: number;
  readonly templateId: string;
  readonly vcpus: number;
  readonly memoryMib: number;
  readonly preemptible: boolean;
}

/** Refuses a submission the controller's limits or the enabled hosts (`hostCaps`) can never hold, naming the field to change. */
export function checkLeaseSubmission(sub: LeaseSubmission, now: number, limits: LeaseLimits, hostCaps: readonly Host[]): void {
  const issues: FieldIssue[] = [];
  if (sub.durationS > limits.maxDurationS) issues.push({ field: 'durationS', message: `must be at most ${limits.maxDurationS} s, the controller's limit (got ${sub.durationS})` });
  if (sub.kind === 'ar') {
    if (sub.startS === undefined) issues.push({ field: 'start', message: 'an advance reservation needs a start time' });
    else if (sub.startS < now) issues.push({ field: 'start', message: `is in the past (${new Date(sub.startS * 1000).toISOString()})` });
    else if (sub.startS > now + limits.maxAheadS) issues.push({ field: 'start', message: `is more than ${limits.maxAheadS} s ahead, the controller's limit` });
    if (sub.preemptible) issues.push({ field: 'preemptible', message: 'an advance reservation is never preemptible' });
  } else if (sub.startS !== undefined) {
    issues.push({ field: 'start', message: `only an advance reservation has a start time (this lease is ${sub.kind})` });
  }
  // A VM larger than every host is the size's fault, not the count's: the field named is the one to change.
  const largest = { cpus: Math.max(0, ...hostCaps.map((h) => h.total.cpus)), memoryMib: Math.max(0, ...hostCaps.map((h) => h.total.memoryMib)) };
  if (hostCaps.length > 0 && sub.vcpus > largest.cpus) issues.push({ field: 'vcpus', message: `${sub.vcpus} vCPUs: no enabled host has that many (the largest has ${largest.cpus})` });
  if (hostCaps.length > 0 && sub.memoryMib > largest.memoryMib) issues.push({ field: 'memoryMiB', message: `${sub.memoryMib} MiB: no enabled host has that much memory (the largest has ${largest.memoryMib} MiB)` });
  const fit = hostCaps.reduce((n, h) => n + Math.max(0, Math.min(Math.floor(h.total.cpus / sub.vcpus), Math.floor(h.total.memoryMib / sub.memoryMib))), 0);
  if (sub.count > fit && !issues.some((i) => i.field === 'vcpus' || i.field === 'memoryMiB')) issues.push({ field: 'count', message: `${sub.count} VMs of ${sub.vcpus} vCPU / ${sub.memoryMib} MiB: all the enabled hosts together hold ${fit}` });
  if (issues.length > 0) throw new ValidationError('lease', issues);
}
