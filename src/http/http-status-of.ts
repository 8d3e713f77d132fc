/**
 * The one place an error code becomes an HTTP status. Codes are the stable
 * `code` of nubo's error classes; anything unknown is a 500.
 */
const STATUS: Readonly<Record<string, number>> = {
  VALIDATION_FAILED: 400,
  AMBIGUOUS_ID: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  VM_NOT_FOUND: 404,
  CONFLICT: 409,
  AGENT_VM_CONFLICT: 409,
  VM_EXISTS: 409,
  VM_INVALID_STATE: 409,
  INVALID_STATE: 409,
  STALE_STATE: 409,
  CAPACITY: 409,
  MIGRATION_REFUSED: 409,
  MIGRATION_ABORTED: 409,
  EXHAUSTED: 409,
  UNSUPPORTED: 501,
  IMAGE_FETCH_FAILED: 502,
  HYPERVISOR_FAILED: 502,
  AGENT_UNREACHABLE: 502,
  TIMEOUT: 504,
};

export function httpStatusOf(code: string): number {
  return STATUS[code] ?? 500;
}
