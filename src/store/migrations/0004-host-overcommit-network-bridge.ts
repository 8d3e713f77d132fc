import type { Kysely } from 'kysely';

/**
 * Per-host CPU overcommit and per-network bridge.
 * - `hosts.cpu_overcommit`: vCPUs per physical CPU for this host; null keeps
 *   the controller's placement policy default. A 2-core laptop running tiny
 *   VMs needs more than one vCPU per core, a production host may need less.
 * - `networks.bridge`: the host bridge a network's TAPs join. The lab's hosts
 *   all have `br0`; the single-machine default network has a bridge of its
 *   own in the root namespace, so the name cannot be fixed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('hosts').addColumn('cpu_overcommit', 'double precision').execute();
  await db.schema.alterTable('networks').addColumn('bridge', 'text', (c) => c.notNull().defaultTo('br0')).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('networks').dropColumn('bridge').execute();
  await db.schema.alterTable('hosts').dropColumn('cpu_overcommit').execute();
}
