import { NuboError } from '../errors/nubo-error.js';

/** No row with this id (HTTP 404). */
export class NotFoundError extends NuboError {
  readonly code = 'NOT_FOUND';
  constructor(readonly resource: string, readonly id: string) {
    super(`${resource} ${id} not found`, { resource, id });
  }
}

/** A unique field is taken, or the row is still referenced (HTTP 409). */
export class ConflictError extends NuboError {
  readonly code = 'CONFLICT';
  constructor(readonly resource: string, readonly field: string, readonly value: string, reason = 'already exists', options?: ErrorOptions) {
    // A request field named after the resource (save-as's `image`, `template`) would read "image with image …".
    super(`${resource}${field === resource ? '' : ` with ${field}`} ${JSON.stringify(value)} ${reason}`, { resource, field, value, reason }, options);
  }
}

/**
 * A compare-and-set lost: the row is not in a state the operation may start
 * from (someone else moved it first). Nothing was written (HTTP 409, with the
 * current state in the message).
 */
export class StaleStateError extends NuboError {
  readonly code = 'STALE_STATE';
  constructor(
    readonly resource: string,
    readonly id: string,
    readonly current: string,
    readonly expected: readonly string[],
    readonly action: string,
  ) {
    super(`cannot ${action} ${resource} ${id}: it is ${current} (allowed from ${expected.join(', ') || 'nothing'})`, {
      resource, id, current, expected, action,
    });
  }
}

export interface Resources {
  readonly cpus: number;
  readonly memoryMib: number;
  readonly diskMib: number;
}

/** The host no longer has room for the demand (or no longer takes VMs); nothing was reserved. */
export class CapacityError extends NuboError {
  readonly code = 'CAPACITY';
  /** `hostName` is what the message names (a person reads it: ids are UUIDs); the details keep both. */
  constructor(readonly hostId: string, readonly demand: Resources, readonly free: Resources, readonly reason: string, readonly hostName: string = hostId) {
    super(`host ${hostName} cannot take ${fmt(demand)} (free ${fmt(free)}): ${reason}`, { hostId, hostName, demand, free, reason });
  }
}

/** A disk (a volume) does not fit in the free disk of the host it would land on, or of any host (HTTP 409, naming the request's field). */
export class DiskCapacityError extends NuboError {
  readonly code = 'DISK_CAPACITY';
  constructor(readonly field: string, readonly sizeMib: number, readonly freeMib: number, readonly where: string) {
    super(`${field}: ${sizeMib} MiB does not fit: ${where} has ${freeMib} MiB of disk free`, { field, sizeMib, freeMib, where });
  }
}

/** A pool (a network's address range) has nothing left to hand out. */
export class ExhaustedError extends NuboError {
  readonly code = 'EXHAUSTED';
  constructor(readonly resource: string, readonly id: string, what: string) {
    super(`${resource} ${id} has no ${what} left`, { resource, id, what });
  }
}

function fmt(r: Resources): string {
  return `${r.cpus} cpus, ${r.memoryMib} MiB memory, ${r.diskMib} MiB disk`;
}

/** The schema could not be brought up to date; the store was not opened. */
export class StoreMigrationError extends NuboError {
  readonly code = 'STORE_MIGRATION_FAILED';
  constructor(readonly migration: string, options?: ErrorOptions) {
    super(`store migration ${migration} failed${options?.cause instanceof Error ? `: ${options.cause.message}` : ''}`, { migration }, options);
  }
}
