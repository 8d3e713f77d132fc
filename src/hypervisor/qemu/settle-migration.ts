import type { QmpClient } from './qmp-client.js';
import type { QmpMigrationStatus } from './qmp-schema.js';
import { ENDED_MIGRATION } from './ended-migration.js';
import { pollUntil, type WaitOptions } from '../../util/deadline.js';


/**
 * Waits until this QEMU's last migration has ended and QEMU has finished with
 * it (no longer `finish-migrate`: `cont` is refused until then); resolves with
 * its status (`none` when there was none). A save's writer needs no agent, so
 * a save whose agent died may still be streaming when its retry comes.
 */
export async function settleMigration(qmp: QmpClient, opts: WaitOptions): Promise<QmpMigrationStatus> {
  return pollUntil('the end of the last migration', async () => {
    const m = await qmp.execute('query-migrate', undefined, { signal: opts.signal, timeoutMs: 5_000 });
    // None at all, or one that has ended.
    if (m.status !== undefined && m.status !== 'none' && !ENDED_MIGRATION.has(m.status)) return undefined;
    const s = await qmp.execute('query-status', undefined, { signal: opts.signal, timeoutMs: 5_000 });
    return s.status === 'finish-migrate' ? undefined : (m.status ?? 'none');
  }, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 300_000, intervalMs: 5 });
}
