import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';

/**
 * The kinds of lease, after Haizea: an advance reservation starts at an exact
 * time and is never preempted; best effort waits in a queue and may be
 * suspended; immediate starts now or not at all.
 */
export type LeaseKind = 'ar' | 'be' | 'immediate';

/** What one VM of a lease needs on its host. */
export interface VmShape {
  readonly cpus: number;
  readonly memoryMiB: number;
}

/** The disk image a lease's VMs boot from; its size is what preparation transfers and migration moves. */
export interface LeaseImage {
  readonly id: string;
  readonly sizeMiB: number;
}

/** A lease as requested: all times in seconds (the simulator's from the trace start, the controller's epoch seconds). */
export interface LeaseRequest {
  readonly id: string;
  readonly kind: LeaseKind;
  /** When the request arrived. */
  readonly submit: number;
  /** The exact start of an advance reservation; absent for the other kinds. */
  readonly start?: number;
  /** The requested running time: what the scheduler reserves. */
  readonly duration: number;
  readonly vms: number;
  readonly shape: VmShape;
  readonly image?: LeaseImage;
  readonly preemptible: boolean;
  /** Whose lease it is: what a quota-aware admission charges (the controller's user, a trace's user). */
  readonly owner?: string;
}

/** Longest lease the model accepts (a year): anything longer is a unit mistake, not a lease. */
export const MAX_LEASE_DURATION_S = 365 * 24 * 3600;

/** The issues of one request, each naming its field; empty when it is well-formed. */
export function leaseRequestIssues(r: LeaseRequest): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const finite = (field: string, v: number, min: number): void => {
    if (!Number.isFinite(v) || v < min) issues.push({ field, message: `must be a finite number ≥ ${min} (got ${v})` });
  };
  if (r.id === '') issues.push({ field: 'id', message: 'must not be empty' });
  finite('submit', r.submit, 0);
  finite('duration', r.duration, 1);
  if (r.duration > MAX_LEASE_DURATION_S) issues.push({ field: 'duration', message: `must be at most ${MAX_LEASE_DURATION_S} s (got ${r.duration})` });
  if (!Number.isInteger(r.vms) || r.vms < 1) issues.push({ field: 'vms', message: `must be a whole number ≥ 1 (got ${r.vms})` });
  if (!(r.shape.cpus > 0)) issues.push({ field: 'shape.cpus', message: `must be above 0 (got ${r.shape.cpus})` });
  if (!(r.shape.memoryMiB > 0)) issues.push({ field: 'shape.memoryMiB', message: `must be above 0 (got ${r.shape.memoryMiB})` });
  if (r.image !== undefined) finite('image.sizeMiB', r.image.sizeMiB, 0);
  if (r.kind === 'ar') {
    if (r.start === undefined) issues.push({ field: 'start', message: 'an advance reservation needs a start time' });
    else if (!Number.isFinite(r.start) || r.start < r.submit) issues.push({ field: 'start', message: `must not be before the submit time ${r.submit} (got ${r.start})` });
    if (r.preemptible) issues.push({ field: 'preemptible', message: 'an advance reservation is never preemptible' });
  } else if (r.start !== undefined) {
    issues.push({ field: 'start', message: `only an advance reservation has a start time (this lease is ${r.kind})` });
  }
  return issues;
}

/** Throws a ValidationError naming every offending field. */
export function assertLeaseRequest(r: LeaseRequest): void {
  const issues = leaseRequestIssues(r);
  if (issues.length > 0) throw new ValidationError(`lease ${r.id || '(no id)'}`, issues);
}
