/** The CLI's exit codes; scripts may rely on them. */
export const EXIT = Object.freeze({
  OK: 0,
  /** The operation failed (QEMU would not start, a package could not be fetched …). */
  FAILED: 1,
  /** The command line or an input was invalid; nothing was changed. */
  USAGE: 2,
  /** Interrupted with Ctrl-C. */
  INTERRUPTED: 130,
});
