import type { Transaction } from 'kysely';
import type { Database } from '../schema.js';
import type { Resources } from '../store-errors.js';

/**
 * Adds a VM's reservation to its host (`+`, binding it) or gives it back (`-`, unbinding), inside the transaction that
 * binds or unbinds the VM: the arithmetic is the database's, so two transactions never overwrite each other's.
 */
export async function adjustHostReservation(trx: Transaction<Database>, hostId: string, r: Resources, op: '+' | '-'): Promise<void> {
  await trx
    .updateTable('hosts')
    .set((eb) => ({
      reserved_cpus: eb('reserved_cpus', op, r.cpus),
      reserved_memory_mib: eb('reserved_memory_mib', op, r.memoryMib),
      reserved_disk_mib: eb('reserved_disk_mib', op, r.diskMib),
    }))
    .where('id', '=', hostId)
    .execute();
}
