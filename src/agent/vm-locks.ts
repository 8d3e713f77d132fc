import { InvalidVmIdError, isVmId } from '../core/vm-id.js';
import { abortReason } from '../util/deadline.js';

/**
 * Serialises the operations on each VM of this host: two calls on one VM
 * never interleave, calls on different VMs run side by side.
 */
export class VmLocks {
  readonly #tails = new Map<string, Promise<unknown>>();

  /**
   * Runs `fn` once every earlier call on the VM has settled. `signal`: a
   * caller that gave up while queued (the client went away, its deadline
   * passed) is not served once the lock comes free.
   */
  run<T>(id: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!isVmId(id)) return Promise.reject(new InvalidVmIdError(id));
    const prev = this.#tails.get(id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => {
      if (signal?.aborted) throw abortReason(signal, `call on VM ${id}`);
      return fn();
    });
    this.#tails.set(id, next);
    void next.finally(() => {
      if (this.#tails.get(id) === next) this.#tails.delete(id);
    }).catch(() => {});
    return next;
  }
}
