/**
 * The dirty-rate measurements under way on this host, per VM. The planner
 * measures a VM's dirty rate while its live migration already runs (the
 * migration does not wait the second QEMU needs), so the source copy may be
 * released before QEMU answers: the release waits for the measurement first —
 * at most about one measurement's length — else the answer would be lost with
 * the process.
 */
export class MeasurementsInFlight {
  readonly #byVm = new Map<string, Set<Promise<unknown>>>();

  /** Runs `measure` and remembers it for the VM until it settles; answers what it answers. */
  track<T>(vmId: string, measure: Promise<T>): Promise<T> {
    const set = this.#byVm.get(vmId) ?? new Set<Promise<unknown>>();
    this.#byVm.set(vmId, set);
    set.add(measure);
    const forget = (): void => {
      set.delete(measure);
      if (set.size === 0 && this.#byVm.get(vmId) === set) this.#byVm.delete(vmId);
    };
    measure.then(forget, forget);
    return measure;
  }

  /** How many measurements of the VM are under way. */
  count(vmId: string): number {
    return this.#byVm.get(vmId)?.size ?? 0;
  }

  /**
   * Resolves once every measurement of the VM under way now has ended, or
   * after `timeoutMs`, or when `signal` aborts — whichever comes first. Never
   * rejects: what follows (ending the QEMU) must happen anyway.
   */
  async settled(vmId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const set = this.#byVm.get(vmId);
    if (set === undefined || set.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      if (signal !== undefined) {
        onAbort = resolve;
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    try {
      await Promise.race([Promise.allSettled([...set]), bound]);
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }
}
