/**
 * The controller's bursting policy: when a VM that no local host takes may
 * go to a remote cloud it did not ask for by requirement. `when-full`: at
 * once; `when-wait-exceeds`: once it has waited for a local host for more
 * than `maxWaitS` seconds (a host that frees up before then takes it, and it
 * never bursts).
 */
export type BurstPolicy =
  | { readonly kind: 'when-full' }
  | { readonly kind: 'when-wait-exceeds'; readonly maxWaitS: number };

export const BURST_POLICY_KINDS = ['when-full', 'when-wait-exceeds'] as const;

export type BurstTiming =
  /** `why`: what the wait policy says of a VM that may go now (kept in its state reason and history). */
  | { readonly now: true; readonly why?: string | undefined }
  /** Not yet: `reason` is what clouds say of it, `retryInMs` when it may. */
  | { readonly now: false; readonly reason: string; readonly retryInMs: number };

/** A wait in seconds, rounded up (it is told as more than a limit: never down to it): 3.1 s under ten, whole above. */
const seconds = (ms: number): string => {
  if (ms >= 10_000) return String(Math.ceil(ms / 1000));
  const tenths = Math.ceil(ms / 100);
  return tenths % 10 === 0 ? String(tenths / 10) : (tenths / 10).toFixed(1);
};

/**
 * Whether a VM pending since `pendingSinceMs` (the time it entered
 * `pending`, as its stored history says, so a controller restart does not
 * reset the wait) may burst at `nowMs`. An unknown pending time counts as
 * now: the VM waits the whole time.
 */
export function burstTiming(policy: BurstPolicy, pendingSinceMs: number | undefined, nowMs: number): BurstTiming {
  if (policy.kind === 'when-full') return { now: true };
  const limitMs = policy.maxWaitS * 1000;
  const waitedMs = Math.max(0, nowMs - (pendingSinceMs ?? nowMs));
  if (waitedMs > limitMs) return { now: true, why: `waited ${seconds(waitedMs)} s > ${policy.maxWaitS} s for a local host` };
  return {
    now: false,
    // The same words on every pass (its start, not how long so far): a waiting VM's reason is rewritten only when it changes.
    reason: `it takes VMs that waited more than ${policy.maxWaitS} s for a local host (this one waits since ${new Date(pendingSinceMs ?? nowMs).toISOString()})`,
    // Just past the limit: a retry at exactly the limit would find it not yet over.
    retryInMs: limitMs - waitedMs + 1,
  };
}
