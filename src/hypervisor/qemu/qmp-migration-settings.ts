import type { OutgoingOptions } from '../live-migration.js';
import type { WaitOptions } from '../../util/deadline.js';
import type { QmpClient } from './qmp-client.js';
import type { QmpMigrationCapability } from './qmp-schema.js';
import { ensureTlsCreds, TLS_OUT_ID } from './qmp-tls-creds.js';

/** Sets the named migration capabilities on or off (QEMU keeps them across migrations of the same process). */
export async function setCapabilities(qmp: QmpClient, caps: Partial<Record<QmpMigrationCapability, boolean>>, o: WaitOptions): Promise<void> {
  const capabilities = Object.entries(caps).map(([capability, state]) => ({ capability: capability as QmpMigrationCapability, state: state === true }));
  await qmp.execute('migrate-set-capabilities', { capabilities }, o);
}

/** The source's capabilities, TLS credentials and parameters for one outgoing migration to `host`. */
export async function applyOutgoingSettings(qmp: QmpClient, opts: OutgoingOptions, host: string, o: WaitOptions): Promise<void> {
  const p = opts.params;
  // With resume on completion the destination runs the guest the moment it has loaded the stream. Without a return
  // path the source calls the migration completed once it flushed its socket: a destination that then failed to load
  // would leave a completed source that may never run again and no copy at all; and a source that failed after the
  // destination loaded would resume itself beside it. The return path makes the source wait for the destination's
  // word that it loaded (QEMU's MIG_RP_MSG_SHUT), so both sides agree on the outcome but for a message lost on the wire.
  // x-ignore-shared always set, and off: a state save of format 2 sets it on (its guest RAM is copied beside QEMU's
  // stream), and left on it would make a live migration silently skip the guest's RAM (shared memory, a memfd).
  await setCapabilities(qmp, { events: true, 'auto-converge': p.autoConverge, xbzrle: p.xbzrle, 'postcopy-ram': p.postcopy, 'return-path': opts.destAutostart === true, 'x-ignore-shared': false }, o);
  if (opts.tls) await ensureTlsCreds(qmp, TLS_OUT_ID, opts.tls.dir, 'client', o);
  // Always set: parameters outlive a migration, and a VM that arrived over TLS still names its server credentials.
  await qmp.execute('migrate-set-parameters', {
    'downtime-limit': p.downtimeLimitMs,
    'max-bandwidth': p.maxBandwidthBytes,
    'tls-creds': opts.tls ? TLS_OUT_ID : '',
    'tls-hostname': opts.tls ? host : '',
  }, o);
}
