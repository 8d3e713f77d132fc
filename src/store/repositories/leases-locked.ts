/** Thrown inside a transaction that takes leases to roll it back and try again (PostgreSQL: every free row locked). */
export class LeasesLocked extends Error {}
