/** The PostgreSQL session settings of every connection a controller opens. */
export interface ControllerSessionSettings {
  readonly application_name: string;
  readonly idle_in_transaction_session_timeout: number;
}

/**
 * The name is what the fence trigger of migration 0007 checks the lease
 * against. The idle timeout is what lets another controller take over from
 * one stopped (SIGSTOP, a paused VM) inside a write transaction: that
 * transaction holds the fence's key-share lock on the lease row, which the
 * takeover waits for; PostgreSQL ends the session once it idles in its
 * transaction for half a lease, so a takeover comes within a lease and a half.
 * A running controller's transactions never idle that long.
 */
export function controllerSessionSettings(controllerId: string, leaseMs: number): ControllerSessionSettings {
  return { application_name: `nubo-controller:${controllerId}`, idle_in_transaction_session_timeout: Math.max(1_000, Math.floor(leaseMs / 2)) };
}
