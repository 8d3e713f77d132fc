import { ERROR_CODES, isErrorCode } from '../errors/error-codes.js';

/**
 * The one place an error code becomes an HTTP status, read from the registry
 * (errors/error-codes.ts). A code it does not know (a newer agent's, relayed)
 * is a 500.
 */
export function httpStatusOf(code: string): number {
  return isErrorCode(code) ? ERROR_CODES[code].status : 500;
}
