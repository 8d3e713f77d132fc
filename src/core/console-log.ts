/**
 * A VM's console log is one log for its whole life on every host it runs on (boots, suspends, migrations), removed
 * with the VM. It is kept bounded: a launch that finds this host's log over this size keeps only its last this many
 * bytes, and a migration carries at most this much of the source's log to the destination (kept in a file of its
 * own there, read first).
 */
export const CONSOLE_LOG_MAX_BYTES = 1024 * 1024;

/** What `vm console` shows by default: the log's last 64 KiB. */
export const CONSOLE_TAIL_BYTES = 64 * 1024;
