import { z } from 'zod';
import { ValidationError } from '../errors/validation-error.js';

const VM_ID = /^[a-z][a-z0-9-]{0,39}$/;
const VM_ID_RULE = 'must be 1-40 chars of a-z, 0-9 and -, starting with a letter';

/**
 * A VM id names directories on every host (`<dataDir>/vms/<id>`,
 * `<runDir>/<id>`) that are deleted with the VM, so one pattern is checked at
 * every layer that builds such a path, not only at the HTTP edge: an id like
 * `../x` or `a/b` must never reach `join`.
 */
export const vmIdSchema = z.string().regex(VM_ID, VM_ID_RULE);

export function isVmId(id: string): boolean {
  return VM_ID.test(id);
}

/** A VM id that could not name a VM's directory; raised before any path is built from it. */
export class InvalidVmIdError extends ValidationError {
  constructor(readonly vmId: string) {
    super('VM id', [{ field: 'id', message: `${JSON.stringify(vmId.slice(0, 64))} ${VM_ID_RULE}` }]);
  }
}

/** Returns `id` when it is a valid VM id; throws InvalidVmIdError otherwise. */
export function checkVmId(id: string): string {
  if (!isVmId(id)) throw new InvalidVmIdError(id);
  return id;
}
