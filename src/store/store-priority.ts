import { AsyncLocalStorage } from 'node:async_hooks';

const background = new AsyncLocalStorage<true>();

/**
 * Runs `fn` as background work: its store calls, and those of everything it
 * awaits, wait for the SQLite connection behind the calls of requests being
 * answered (connection-queue.ts). For the controller's own work that nobody
 * waits on an answer for — driving VMs through their steps — which, by the
 * thousand, otherwise stood in line before every API request.
 */
export function inBackground<T>(fn: () => Promise<T>): Promise<T> {
  return background.run(true, fn);
}

/** Whether the caller runs inside `inBackground`. */
export function isBackground(): boolean {
  return background.getStore() === true;
}
