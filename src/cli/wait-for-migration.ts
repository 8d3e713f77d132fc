import type { NuboClient } from '../client/nubo-client.js';
import type { MigrationView } from '../contract/migration-schemas.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { sleep } from '../util/deadline.js';
import { shortId } from './migration-format.js';
import { startMigrationProgress } from './migration-progress.js';
import { WaitFailedError } from './wait-for-vm.js';

export interface WaitForMigrationOptions {
  readonly client: NuboClient;
  /** The migration as the start request answered. */
  readonly initial: MigrationView;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  readonly intervalMs: number;
}

/**
 * Polls the migration until it ends, showing its stages and numbers on
 * stderr, and returns it as it ended (whichever way). Stopping the wait —
 * Ctrl-C or the timeout — leaves the migration running on the controller;
 * only `nubo migration cancel` stops it, so the wait says how to follow it.
 * @throws TimeoutError after `timeoutMs`
 */
export async function waitForMigration(o: WaitForMigrationOptions): Promise<MigrationView> {
  const t0 = Date.now();
  const id = o.initial.id;
  let m = o.initial;
  const progress = startMigrationProgress(m);
  try {
    for (;;) {
      progress.update(m);
      if (m.state !== 'running' && m.state !== 'queued') return m;
      const remaining = t0 + o.timeoutMs - Date.now();
      if (remaining <= 0) throw new TimeoutError(`waiting for migration ${shortId(id)} of ${m.vm} to end (it is at ${m.stage})`, o.timeoutMs);
      await sleep(Math.min(o.intervalMs, remaining), o.signal);
      m = await o.client.getMigration(id, { signal: o.signal, timeoutMs: Math.min(10_000, Math.max(t0 + o.timeoutMs - Date.now(), 1_000)) });
    }
  } catch (err) {
    progress.stop();
    if (o.signal.aborted || err instanceof TimeoutError) {
      process.stderr.write(`stopped waiting; migration ${shortId(id)} goes on (\`nubo migration show ${shortId(id)}\` follows it, \`nubo migration cancel ${shortId(id)}\` stops it)\n`);
    }
    throw err;
  } finally {
    progress.stop();
  }
}

/** The error a wait ends with when the migration did not succeed: its reason, and where the VM is now. */
export function migrationFailure(m: MigrationView): WaitFailedError {
  // A roll-back (journalled as `aborting`, or a cancel) leaves the VM on its source; other failures need the VM's own record.
  // A queue entry cancelled or refused before its turn never left the source either.
  const rolledBack = m.state === 'aborted' || m.state === 'cancelled' || m.state === 'refused' || m.journal.some((e) => e.stage === 'aborting');
  const where = rolledBack ? `; the VM stays on ${m.source}` : `; see \`nubo vm show ${m.vm}\` for where the VM is`;
  return new WaitFailedError(
    m.state === 'aborted' ? 'MIGRATION_ABORTED' : 'MIGRATION_FAILED',
    `migration ${shortId(m.id)} of ${m.vm} ${m.state} at ${m.stage}: ${m.reason ?? 'no reason given'}${where}`,
    { id: m.id, state: m.state, stage: m.stage, reason: m.reason },
  );
}
