import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Several controllers on one PostgreSQL (docs/several-controllers.md): one
 * row holds the leadership lease (term, holder, its URL, expiry on
 * PostgreSQL's clock), and a statement trigger on every table fences the
 * writes of any controller session that does not hold a live lease. The
 * trigger locks the lease row FOR SHARE, so a takeover (an UPDATE of that
 * row) waits for the old leader's open write transaction to end: a write
 * either committed under a live lease or failed. Sessions are told apart by
 * `application_name = 'nubo-controller:<id>'`; other sessions (migrations,
 * operators, tests) are not fenced. SQLite is single-controller: nothing to
 * add there.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`CREATE TABLE controller_leadership (
    id integer PRIMARY KEY CHECK (id = 1),
    term bigint NOT NULL,
    holder text NOT NULL,
    url text NOT NULL,
    expires_at timestamptz NOT NULL
  )`.execute(db);
  await sql`CREATE FUNCTION nubo_fence_controller_write() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      app text := coalesce(current_setting('application_name', true), '');
      me text;
    BEGIN
      IF app NOT LIKE 'nubo-controller:%' THEN RETURN NULL; END IF;
      me := substr(app, length('nubo-controller:') + 1);
      PERFORM 1 FROM controller_leadership WHERE id = 1 AND holder = me AND expires_at > clock_timestamp() FOR KEY SHARE;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'controller % does not hold the leadership lease: write to % refused', me, TG_TABLE_NAME USING ERRCODE = 'NUBOF';
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  // Every table there is now (0006's included); the schema's own bookkeeping and the lease itself are left out.
  await sql`DO $$
    DECLARE t text;
    BEGIN
      FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
        AND tablename NOT IN ('controller_leadership', 'schema_migration', 'schema_migration_lock')
      LOOP
        EXECUTE format('CREATE TRIGGER nubo_fence BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION nubo_fence_controller_write()', t);
      END LOOP;
    END $$`.execute(db);
}

export async function down(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`DROP FUNCTION nubo_fence_controller_write() CASCADE`.execute(db);
  await sql`DROP TABLE controller_leadership`.execute(db);
}
