/** The CLI's exit codes; scripts may rely on them. */
export const EXIT = Object.freeze({
  OK: 0,
  /**
   * The operation failed (QEMU would not start, a package could not be fetched …);
   * for API calls: 404 not found, 409 wrong state, 5xx, controller unreachable,
   * a --wait that saw the VM fail or timed out.
   */
  FAILED: 1,
  /**
   * The command line or an input was invalid; nothing was changed. For API
   * calls: no credentials configured, 400 (invalid request), 401/403 (token).
   */
  USAGE: 2,
  /** Interrupted with Ctrl-C. */
  INTERRUPTED: 130,
});
