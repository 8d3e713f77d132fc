import { sql, type Kysely } from 'kysely';

/**
 * Proactive HA (issue 16 item 5): `hosts.degraded`, the reason a host's own
 * health check fails (null: healthy). Its own column beside `state`, like
 * `standby_since`: a degraded host keeps its state (it still heartbeats and
 * runs VMs while they are moved away) but placement skips it with its own
 * reason, which needs the condition on the host's row. `host_fencing.degraded`
 * (0012) keeps what the HA view shows; both are written in one transaction.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('hosts').addColumn('degraded', 'text').execute();
  await sql`update hosts set degraded = (select f.degraded from host_fencing f where f.host_id = hosts.id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('hosts').dropColumn('degraded').execute();
}
