/** How long proactive HA waits before it hands a VM whose move failed or was refused to the queue again. */
export const MOVE_RETRY_MS = 30_000;

/**
 * Whether proactive HA hands a running VM of a degraded host to the
 * migration queue now: not while an operation runs on it (a migration
 * already), not while a migration of it waits in the queue, and not again
 * within MOVE_RETRY_MS of the last try (a VM that cannot move — no room —
 * is not retried at every heartbeat).
 */
export function shouldMoveAway(vm: { readonly id: string; readonly state: string; readonly operation: unknown }, waiting: readonly string[], triedAt: number | undefined, now: number): boolean {
  if (vm.state !== 'running' || vm.operation !== null) return false;
  if (waiting.includes(vm.id)) return false;
  return triedAt === undefined || now - triedAt >= MOVE_RETRY_MS;
}
