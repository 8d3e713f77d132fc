import type { QmpClient } from './qmp-client.js';
import type { QmpMigrationInfo } from './qmp-schema.js';
import { pollUntil, type WaitOptions } from '../../util/deadline.js';
import { StateSaveFailedError } from './qemu-errors.js';

/**
 * Writes a stopped VM's memory and device state to a file, the QEMU 7.2 way
 * (no `file:` URI yet): a migration into `exec:cat > path`. Resolves with the
 * final migration info once QEMU reports `completed`; the VM is then in
 * `postmigrate` and must not be resumed by the caller.
 */
export async function qmpSaveState(qmp: QmpClient, statePath: string, opts: WaitOptions): Promise<QmpMigrationInfo> {
  await qmp.execute('migrate', { uri: `exec:cat > ${statePath}` }, { signal: opts.signal, timeoutMs: 5_000 });
  const final = await pollUntil(
    'save of VM state',
    async () => {
      const m = await qmp.execute('query-migrate', undefined, { signal: opts.signal, timeoutMs: 5_000 });
      return m.status === 'completed' || m.status === 'failed' || m.status === 'cancelled' ? m : undefined;
    },
    { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 300_000, intervalMs: 50 },
  );
  if (final.status !== 'completed') throw new StateSaveFailedError(final.status, final['error-desc'] ?? `migration ${final.status ?? 'ended'}`);
  return final;
}
