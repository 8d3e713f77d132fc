import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import { sleep } from '../util/deadline.js';
import type { Ends, LiveMigratorOptions } from './live-migrator-deps.js';
import { MigrationStepError } from './migration-errors.js';

/** Non-shared storage: follows the disk mirrors until every one is ready, recording their progress. */
export async function watchMirrors(o: LiveMigratorOptions, e: Ends, m: MigrationRecord, signal: AbortSignal): Promise<void> {
  const every = o.pollIntervalMs ?? 200;
  let lastWrite = 0;
  let lastDestCheck = Date.now();
  for (;;) {
    // A mirror into a destination that died just stalls (its NBD client waits): only the destination can say.
    if (Date.now() - lastDestCheck >= 1_000) {
      lastDestCheck = Date.now();
      const d = await e.dst.get(e.id, { signal, timeoutMs: 5_000 });
      if (d.state !== 'inmigrate') throw new MigrationStepError(m.id, `the destination holds the VM ${d.state} while the disks are mirrored to it`);
    }
    const p = await e.src.migrationStatus(e.id, { signal });
    if (p.disks.length === 0) throw new MigrationStepError(m.id, 'the source reports no disk mirror');
    const done = p.disks.reduce((s, d) => s + d.offset, 0);
    const len = p.disks.reduce((s, d) => s + d.len, 0);
    if (Date.now() - lastWrite >= 500 || p.disks.every((d) => d.ready)) {
      lastWrite = Date.now();
      await o.store.migrations.updateProgress(m.id, { diskCopiedBytes: done, diskTotalBytes: len });
    }
    if (p.disks.every((d) => d.ready)) return;
    await sleep(every, signal);
  }
}
