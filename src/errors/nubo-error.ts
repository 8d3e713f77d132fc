/**
 * Base of every error nubo raises on purpose. `code` is stable (clients and
 * tests match on it, never on the message); `details` carries typed fields
 * (which field was invalid, which state the VM was in) so that boundaries can
 * map an error once — QMP → driver error → HTTP status — without parsing text.
 */
export abstract class NuboError extends Error {
  abstract readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.details = Object.freeze({ ...details });
  }

  toJSON(): { code: string; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
