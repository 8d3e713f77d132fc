import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, Dialect } from './schema.js';
import { NotFoundError } from './store-errors.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** What every repository is built with: the database, its dialect, the clock. */
export interface StoreContext {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** Current time as ISO-8601 UTC text. */
  now(): string;
}

/** Lock key for event appends on PostgreSQL ("nubo" in ASCII). */
const EVENTS_LOCK = 0x6e75626f;

/**
 * Runs `fn` in one transaction. SQLite transactions start with BEGIN
 * IMMEDIATE (see sqlite-immediate-dialect.ts); PostgreSQL runs READ COMMITTED
 * with explicit row locks, and a transaction that loses a deadlock or a
 * serialization check is retried a few times (nothing of it was committed).
 */
export async function inTransaction<T>(ctx: StoreContext, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.db.transaction().execute(fn);
    } catch (err) {
      if (attempt >= 5 || !isRetryable(err)) throw err;
    }
  }
}

function pgCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = err.code;
  return typeof code === 'string' ? code : undefined;
}

function isRetryable(err: unknown): boolean {
  const code = pgCode(err);
  return code === '40P01' || code === '40001';
}

export function isUniqueViolation(err: unknown): boolean {
  const code = pgCode(err);
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export function isForeignKeyViolation(err: unknown): boolean {
  const code = pgCode(err);
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

export function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}

/** Parses a JSON column. The store wrote it, so a parse failure is corruption and is thrown as such. */
export function fromJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  return JSON.parse(text) as T;
}

/** Throws NotFoundError unless a row with this id exists in `table`. */
export async function requireExists(
  trx: Kysely<Database>,
  table: 'users' | 'hosts' | 'vms' | 'templates' | 'networks' | 'volumes',
  id: string,
  resource: string,
): Promise<void> {
  const row = await trx.selectFrom(table).select('id').where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(resource, id);
}

export interface EventInput {
  readonly kind: string;
  readonly resource: string;
  readonly resourceId: string;
  readonly data?: JsonObject | undefined;
}

/**
 * Appends an event inside the caller's transaction; call it last in the
 * transaction. On PostgreSQL a transaction-scoped advisory lock makes
 * sequence numbers commit in order, so a reader that has seen seq N never
 * later finds a smaller one appear (which `listSince` relies on).
 */
export async function appendEvent(ctx: StoreContext, trx: Transaction<Database>, e: EventInput): Promise<number> {
  if (ctx.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${sql.lit(EVENTS_LOCK)})`.execute(trx);
  const row = await trx
    .insertInto('events')
    .values({ at: ctx.now(), kind: e.kind, resource: e.resource, resource_id: e.resourceId, data: toJson(e.data ?? {}) })
    .returning('seq')
    .executeTakeFirstOrThrow();
  return Number(row.seq);
}

/** Awaits a write and turns a unique-constraint violation into the ConflictError `conflict` makes. */
export async function mapUniqueViolation<T>(write: Promise<T>, conflict: (cause: unknown) => Error): Promise<T> {
  try {
    return await write;
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict(err);
    throw err;
  }
}
