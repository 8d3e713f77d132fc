import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Gives every table that lacks it migration 0007's fence trigger, so that a
 * table made by a later migration is fenced like the others — a follower's or
 * a deposed leader's write to it refused (docs/several-controllers.md). The
 * migration provider runs it after every migration from 0008 on, so no
 * migration can forget it. PostgreSQL only: SQLite has one controller.
 */
export async function fenceNewTables(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`DO $$
    DECLARE t text;
    BEGIN
      FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
          AND c.relname NOT IN ('controller_leadership', 'schema_migration', 'schema_migration_lock')
          AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'nubo_fence')
      LOOP
        EXECUTE format('CREATE TRIGGER nubo_fence BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION nubo_fence_controller_write()', t);
      END LOOP;
    END $$`.execute(db);
}
