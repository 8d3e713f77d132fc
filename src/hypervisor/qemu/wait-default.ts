import type { WaitOptions } from '../../util/deadline.js';

/** The caller's signal, and its timeout or else this step's own. */
export function waitDefault(o: WaitOptions, timeoutMs: number): WaitOptions {
  return { signal: o.signal, timeoutMs: o.timeoutMs ?? timeoutMs };
}
