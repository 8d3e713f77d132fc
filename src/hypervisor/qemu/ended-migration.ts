import type { QmpMigrationStatus } from './qmp-schema.js';

/** A migration status after which QEMU does nothing more with that migration (live, save or restore alike). */
export const ENDED_MIGRATION: ReadonlySet<QmpMigrationStatus | undefined> = new Set<QmpMigrationStatus | undefined>(['completed', 'failed', 'cancelled']);
