import type { WaitOptions } from '../util/deadline.js';
import type { MigrationParameters } from '../core/migration/migration-parameters.js';

/**
 * The live-migration slice of a hypervisor driver (DESIGN.md §5), as small
 * steps the controller sequences itself: each one is a journal entry, so a
 * restarted controller knows exactly which side effects happened.
 *
 * Destination: `startIncoming` (QEMU paused with `-incoming defer`, NBD
 * exports for non-shared disks, `migrate-incoming`) … `activateIncoming`
 * (stop NBD, `cont`) or `destroy` to abort.
 * Source: [`mirrorDisks` → all disks `ready`] → `migrateOut` → poll
 * `migrationStatus` / `tuneMigration` → `completed` (source now
 * `postmigrate`) → `completeMirrors` … `destroy` after the commit, or
 * `cancelMigration` to abort before it.
 */
export interface LiveMigration {
  /** Starts the destination copy of `spec` waiting for the incoming stream. Resolves once it listens. */
  startIncoming(spec: unknown, opts: IncomingOptions): Promise<IncomingReady>;
  /**
   * Non-shared storage: starts mirroring the VM's writable disks to the
   * destination's NBD exports. Progress and readiness show in `migrationStatus().disks`.
   */
  mirrorDisks(vmId: string, opts: MirrorOptions): Promise<void>;
  /** Sets the migration parameters and capabilities and starts `migrate` (detached). */
  migrateOut(vmId: string, opts: OutgoingOptions): Promise<void>;
  /**
   * What `query-migrate` and `query-block-jobs` say now (source side), or the
   * incoming state (destination: `setup` while it waits for the stream,
   * `active`, then `completed` once it holds the whole state, paused).
   * The source reports `completed` a moment before the destination has
   * loaded everything: commit only once the destination says `completed`.
   * A source with no migration under way (none yet, or cancelled) says `none`.
   * With `waitMs`, a source whose migration is in flight answers once it ends
   * (completed — with QEMU's final figures —, failed, cancelled) or after
   * `waitMs`, whichever comes first: a long poll that sees the end at once.
   */
  migrationStatus(vmId: string, opts?: MigrationStatusOptions): Promise<MigrationProgress>;
  /** Changes a running migration: the convergence policy's levers. */
  tuneMigration(vmId: string, tuning: MigrationTuning, opts?: WaitOptions): Promise<void>;
  /**
   * After the memory migration `completed` (source paused in postmigrate):
   * ends the disk mirrors so the destination's disks hold every write, and
   * removes the NBD client nodes. No-op without mirrors. Refuses a source
   * whose vCPUs run; fails (after cleaning up) when a mirror did not finish.
   */
  completeMirrors(vmId: string, opts?: WaitOptions): Promise<void>;
  /**
   * Aborts before the commit: `migrate_cancel`, mirrors cancelled, NBD nodes
   * removed. The source keeps (or goes back to) running. Refuses a source
   * that already completed (postmigrate) or is in post-copy: only the
   * controller may decide that. Also cleans up after a migration that failed
   * by itself; a no-op when nothing is migrating. Not for destinations
   * (`destroy` them).
   */
  cancelMigration(vmId: string, opts?: WaitOptions): Promise<void>;
  /**
   * Source whose migration completed but whose destination is known dead
   * (the controller decided it): runs the postmigrate copy again. The driver's
   * `resume` refuses that on purpose; this is the one deliberate way. Refused
   * when the destination was to run the guest on its own at completion
   * (`destAutostart`): it may have, and this copy would then be stale.
   */
  resumeSource(vmId: string, opts?: WaitOptions): Promise<void>;
  /**
   * Destination after the commit: stops the NBD server and runs the VM
   * (`cont`). Refuses one still `inmigrate`; a no-op on one already running.
   */
  activateIncoming(vmId: string, opts?: WaitOptions): Promise<void>;
}

export interface MigrationStatusOptions extends WaitOptions {
  /** Source: wait up to this long (ms) for the in-flight migration to end before answering; 0 or absent: answer at once. */
  readonly waitMs?: number | undefined;
}

/** QEMU's tls-creds-x509 directory: ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem, client-key.pem. */
export interface MigrationTls {
  readonly dir: string;
}

export interface IncomingOptions extends WaitOptions {
  /** Address the destination listens on for the stream and NBD (the host's migration address). */
  readonly listenHost: string;
  /** Migration stream port; the driver picks a free one when absent. */
  readonly port?: number | undefined;
  /** NBD server port (only with `nbdDisks`); the driver picks a free one when absent. */
  readonly nbdPort?: number | undefined;
  /** When set, the stream (and NBD) must be TLS with a client certificate signed by the same CA. */
  readonly tls?: MigrationTls | undefined;
  /** Non-shared storage: ids of `spec.disks` to export writable over NBD (files must exist, sized like the source's). */
  readonly nbdDisks?: readonly string[] | undefined;
  /** Capabilities that must be on at both ends. */
  readonly postcopy?: boolean | undefined;
  /**
   * Resume on completion: the destination runs the guest by itself the moment
   * its incoming stream completes, with nobody's `cont` (QEMU started without
   * `-S`), so the guest's pause is QEMU's own. Shared storage and pre-copy only.
   */
  readonly autostart?: boolean | undefined;
}

export interface NbdTarget {
  readonly host: string;
  readonly port: number;
  /** Export name per disk id. */
  readonly exports: readonly { readonly diskId: string; readonly name: string }[];
}

export interface IncomingReady {
  /** The URI the source passes to `migrate`, e.g. `tcp:198.18.1.2:49153`. */
  readonly uri: string;
  readonly nbd?: NbdTarget | undefined;
}

export interface MirrorOptions extends WaitOptions {
  readonly nbd: NbdTarget;
  readonly tls?: MigrationTls | undefined;
  /** `top` copies only the overlay (the destination has the same base image); `full` copies everything. */
  readonly sync: 'top' | 'full';
  readonly maxBandwidthBytes?: number | undefined;
}

export type { MigrationParameters };

export interface OutgoingOptions extends WaitOptions {
  readonly uri: string;
  readonly tls?: MigrationTls | undefined;
  readonly params: MigrationParameters;
  /**
   * The destination runs the guest on its own once the stream completes
   * (IncomingOptions.autostart): from completion on this copy may be stale,
   * and `resumeSource` refuses it. Kept in the source's record across restarts.
   */
  readonly destAutostart?: boolean | undefined;
}

export interface MigrationTuning {
  readonly downtimeLimitMs?: number | undefined;
  readonly maxBandwidthBytes?: number | undefined;
  /** Initial CPU throttle for auto-converge, percent. */
  readonly cpuThrottlePercent?: number | undefined;
  /** Switch a running pre-copy to post-copy (`migrate-start-postcopy`). */
  readonly startPostcopy?: boolean | undefined;
}

export type MigrationStatusKind =
  | 'none' | 'setup' | 'active' | 'postcopy-active' | 'completed' | 'failed' | 'cancelling' | 'cancelled' | 'other';

export interface DiskMirrorProgress {
  readonly diskId: string;
  readonly offset: number;
  readonly len: number;
  readonly ready: boolean;
  /** Why the mirror ended without finishing (its target went away, it was cancelled). */
  readonly error?: string | undefined;
}

export interface MigrationProgress {
  readonly status: MigrationStatusKind;
  /** RAM bytes sent so far, left to send, and the guest's RAM size. */
  readonly transferredBytes: number;
  readonly remainingBytes: number;
  readonly totalBytes: number;
  /** Pages dirtied per second (QEMU `dirty-pages-rate`) times the page size. */
  readonly dirtyRateBytes: number;
  /** Pre-copy passes over memory (`dirty-sync-count`). */
  readonly passes: number;
  readonly mbps: number;
  readonly totalTimeMs?: number | undefined;
  /** Downtime QEMU measured (completed migrations) or expects (running ones). */
  readonly downtimeMs?: number | undefined;
  readonly expectedDowntimeMs?: number | undefined;
  readonly cpuThrottlePercent?: number | undefined;
  readonly error?: string | undefined;
  readonly disks: readonly DiskMirrorProgress[];
}
