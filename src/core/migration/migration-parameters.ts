/**
 * What a migration policy yields for the hypervisor: the knobs of one
 * migration's stream. Decided in core (the policy), carried out by a driver.
 */
export interface MigrationParameters {
  /** Bytes per second; QEMU's default is 128 MiB/s. */
  readonly maxBandwidthBytes: number;
  readonly downtimeLimitMs: number;
  readonly autoConverge: boolean;
  readonly xbzrle: boolean;
  /** Enables the postcopy-ram capability (both ends); switching is a separate `tuneMigration`. */
  readonly postcopy: boolean;
}
