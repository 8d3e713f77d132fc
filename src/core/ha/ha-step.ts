/**
 * The HA decision for one host, after the monitor's silence check: what the
 * HA service does next. Pure: it reads the facts it is given and the clock
 * passed in; the service journals the step before it carries it out.
 *
 * The order is the rule: suspected → fencing → fenced → recovering →
 * recovered. No VM is restarted before the fence succeeded (`fenced`), and a
 * host that answers again while it is being fenced is not trusted until the
 * fence is through: only a host that comes back while merely `suspected` is
 * cleared without one.
 */
export const FENCING_STEPS = ['ok', 'suspected', 'fencing', 'fenced', 'recovering', 'recovered'] as const;
export type FencingStep = (typeof FENCING_STEPS)[number];

export interface HaHostFacts {
  /** The host's state as the monitor keeps it: `error` once its heartbeats stopped. */
  readonly hostState: string;
  readonly method: 'none' | 'command' | 'lab';
  readonly fencing: FencingStep;
  readonly suspectedAt: number | undefined;
  /** When the last fence attempt started (undefined: none yet). */
  readonly fencingAt: number | undefined;
  /** Whether a fence of this host is running in this controller right now. */
  readonly fenceInFlight: boolean;
  /** Restarts of the incident not yet done (planned or restarting). */
  readonly openRestarts: number;
}

export interface HaTiming {
  /** How long a silent host stays suspected before it is fenced (a heartbeat late by a little is not a failure). */
  readonly suspectGraceMs: number;
  /** How long after a failed (or interrupted) fence attempt the next one starts. */
  readonly fenceRetryMs: number;
}

export type HaStep =
  | { readonly kind: 'none' }
  /** Silent and fenceable: the host becomes suspected (a new incident). */
  | { readonly kind: 'suspect' }
  /** Back before the fence started: the suspicion ends, nothing was done. */
  | { readonly kind: 'clear' }
  /** Run (or run again) the host's fence. */
  | { readonly kind: 'fence' }
  /** Fenced: decide, per VM, restart where or lost — journaled together, before any restart. */
  | { readonly kind: 'plan' }
  /** Carry out the journaled restarts not done yet. */
  | { readonly kind: 'restart' }
  /** Every restart of the incident is done. */
  | { readonly kind: 'finish' };

export function haStep(f: HaHostFacts, now: number, t: HaTiming): HaStep {
  const silent = f.hostState === 'error';
  switch (f.fencing) {
    case 'ok':
      return silent && f.method !== 'none' ? { kind: 'suspect' } : { kind: 'none' };
    case 'suspected':
      if (!silent) return { kind: 'clear' };
      // A method set to `none` meanwhile: the host stays suspected; an operator decides.
      if (f.method === 'none') return { kind: 'none' };
      return now - (f.suspectedAt ?? now) >= t.suspectGraceMs ? { kind: 'fence' } : { kind: 'none' };
    case 'fencing':
      if (f.fenceInFlight) return { kind: 'none' };
      // No attempt running here: it failed, or the controller restarted in the middle of it. Fencing is idempotent.
      return f.fencingAt === undefined || now - f.fencingAt >= t.fenceRetryMs ? { kind: 'fence' } : { kind: 'none' };
    case 'fenced':
      return { kind: 'plan' };
    case 'recovering':
      return f.openRestarts > 0 ? { kind: 'restart' } : { kind: 'finish' };
    case 'recovered':
      return { kind: 'none' };
  }
}

/** Whether a host that heartbeats again may be enabled now, must first have its stale copies destroyed, or must wait. */
export function hostReturn(fencing: FencingStep): 'enable' | 'clean-then-enable' | 'hold' {
  if (fencing === 'ok' || fencing === 'suspected') return 'enable';
  // Fenced and every decision carried out: what it still runs is stale.
  if (fencing === 'recovered') return 'clean-then-enable';
  // The fence, or the restarts of its VMs, are not through yet: a copy it runs may be the one that is restarted.
  return 'hold';
}
