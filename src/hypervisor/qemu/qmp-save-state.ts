import type { QmpClient } from './qmp-client.js';
import type { QmpMigrationInfo } from './qmp-schema.js';
import { pollUntil, type WaitOptions } from '../../util/deadline.js';
import { StateSaveFailedError } from './qemu-errors.js';
import { listenForStateFile, type StateFileHooks } from './state-file-receiver.js';

/**
 * No cap: QEMU's default (128 MiB/s on 7.2) throttled a save to half the
 * disk's speed. The largest integer JSON carries exactly, far below QEMU's
 * own limit.
 */
export const SAVE_MAX_BANDWIDTH = Number.MAX_SAFE_INTEGER;

/**
 * Writes a stopped VM's memory and device state to a file, the QEMU 7.2 way
 * (no `file:` URI yet): a migration into a unix socket (`socketPath`) that
 * this process listens on and copies into `statePath`. Resolves with the
 * final migration info once QEMU reports `completed` and the file is durable
 * on the disk; the VM is then in `postmigrate` and must not be resumed by the
 * caller. A failed save leaves no file behind.
 */
export async function qmpSaveState(qmp: QmpClient, statePath: string, socketPath: string, opts: WaitOptions, hooks: StateFileHooks = {}): Promise<QmpMigrationInfo> {
  const q = { signal: opts.signal, timeoutMs: 5_000 };
  // Whatever an earlier live migration of this process left set would slow a save or make its stream unreadable as a file.
  await qmp.execute('migrate-set-capabilities', {
    capabilities: (['xbzrle', 'auto-converge', 'postcopy-ram', 'pause-before-switchover'] as const).map((capability) => ({ capability, state: false })),
  }, q);
  await qmp.execute('migrate-set-parameters', { 'max-bandwidth': SAVE_MAX_BANDWIDTH }, q);
  const receiver = await listenForStateFile(socketPath, statePath, opts, hooks);
  try {
    await qmp.execute('migrate', { uri: `unix:${socketPath}` }, q);
    const final = await pollUntil(
      'save of VM state',
      async () => {
        const m = await qmp.execute('query-migrate', undefined, q);
        return m.status === 'completed' || m.status === 'failed' || m.status === 'cancelled' ? m : undefined;
      },
      { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 300_000, intervalMs: 20 },
    );
    if (final.status !== 'completed') throw new StateSaveFailedError(final.status, final['error-desc'] ?? `migration ${final.status ?? 'ended'}`);
    await receiver.done;
    return final;
  } catch (err) {
    // The receiver removes its file once it has settled: wait for that, so the caller never sees a half-written state.
    receiver.close();
    await receiver.done.catch(() => {});
    throw err;
  }
}
