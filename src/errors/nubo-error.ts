import type { ErrorCode } from './error-codes.js';

/**
 * Base of every error nubo raises on purpose. `code` is stable (clients and
 * tests match on it, never on the message) and registered once in
 * error-codes.ts; `details` carries typed fields
 * (which field was invalid, which state the VM was in) so that boundaries can
 * map an error once — QMP → driver error → HTTP status — without parsing text.
 * `Code` is widened only by RemoteError, which carries what a server sent.
 */
export abstract class NuboError<Code extends string = ErrorCode> extends Error {
  abstract readonly code: Code;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.details = Object.freeze({ ...details });
  }

  toJSON(): { code: Code; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
