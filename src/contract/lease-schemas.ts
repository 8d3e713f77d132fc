import { z } from 'zod';
import { MIN_VM_MEMORY_MIB } from '../core/memory-minimum.js';
import { LEASE_STATES } from '../core/leases/lease-state.js';

/** The native API's shapes for capacity leases (`/api/v1/leases`). */

export const leaseTypeSchema = z.enum(['ar', 'be', 'immediate']);
export const leaseStateSchema = z.enum(LEASE_STATES);

/** Ten years: anything longer is a unit mistake; the controller's own limit (default 7 days) is checked after. */
const ABSURD_S = 10 * 365 * 86_400;

export const createLeaseBody = z.strictObject({
  /** ar: advance reservation at `start`, never preempted; be: best effort, queued, preemptible; immediate: now or refused. */
  type: leaseTypeSchema,
  /** Advance reservations only: when the VMs must be running (ISO 8601 with a zone). */
  start: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with a zone, e.g. 2026-01-31T12:00:00Z' }).optional(),
  durationS: z.number().int().min(1).max(ABSURD_S),
  /** The VMs' template (name or id): their image, and their size unless vcpus/memoryMiB say otherwise. */
  template: z.string().min(1).max(64),
  count: z.number().int().min(1).max(1000).optional(),
  vcpus: z.number().int().min(1).max(64).optional(),
  memoryMiB: z.number().int().min(MIN_VM_MEMORY_MIB).max(1024 * 1024).optional(),
  /** Best effort only (its default: true): whether an advance reservation may suspend it. */
  preemptible: z.boolean().optional(),
});
export type CreateLeaseBody = z.input<typeof createLeaseBody>;

const segmentView = z.object({ kind: z.enum(['prepare', 'migrate', 'resume', 'run', 'suspend', 'shutdown']), from: z.string(), to: z.string() });
export const leaseView = z.object({
  id: z.string(),
  owner: z.string(),
  type: leaseTypeSchema,
  state: leaseStateSchema,
  /** Why it failed or was cancelled, or why it was last requeued (an AR needed its hosts and it could not be suspended). */
  reason: z.string().nullable(),
  preemptible: z.boolean(),
  start: z.string().nullable(),
  durationS: z.number(),
  /** Running time still owed (less than the duration once it was suspended). */
  remainingS: z.number(),
  count: z.number().int(),
  vcpus: z.number().int(),
  memoryMiB: z.number().int(),
  template: z.string(),
  /** The current plan: which hosts hold how many of its VMs, and its steps in time. */
  plan: z.object({ placements: z.array(z.object({ host: z.string(), vms: z.number().int() })), segments: z.array(segmentView), suspendedOn: z.array(z.object({ host: z.string(), vms: z.number().int() })).nullable() }),
  /** The VMs it made and where each is. */
  vms: z.array(z.object({ index: z.number().int(), vm: z.string(), host: z.string() })),
  /** The step journaled and not yet done, if any. */
  pendingStep: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type LeaseView = z.infer<typeof leaseView>;
export const leaseDetailView = leaseView.extend({ history: z.array(z.object({ at: z.string(), kind: z.string(), detail: z.record(z.string(), z.unknown()) })) });
export type LeaseDetailView = z.infer<typeof leaseDetailView>;
