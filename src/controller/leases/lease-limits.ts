/** What the controller's configuration may not exceed, whatever the policies admit. */
export interface LeaseLimits {
  /** Longest lease accepted. */
  readonly maxDurationS: number;
  /** How far ahead an advance reservation may start. */
  readonly maxAheadS: number;
}

export const DEFAULT_LEASE_LIMITS: LeaseLimits = Object.freeze({ maxDurationS: 7 * 86_400, maxAheadS: 90 * 86_400 });
