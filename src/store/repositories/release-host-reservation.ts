import type { Transaction } from 'kysely';
import type { Database } from '../schema.js';
import type { Resources } from '../store-errors.js';

/** Gives a VM's reservation back to its host, inside the transaction that unbinds the VM. */
export async function releaseHostReservation(trx: Transaction<Database>, hostId: string, held: Resources): Promise<void> {
  await trx
    .updateTable('hosts')
    .set((eb) => ({
      reserved_cpus: eb('reserved_cpus', '-', held.cpus),
      reserved_memory_mib: eb('reserved_memory_mib', '-', held.memoryMib),
      reserved_disk_mib: eb('reserved_disk_mib', '-', held.diskMib),
    }))
    .where('id', '=', hostId)
    .execute();
}
