import { test } from 'node:test';
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { ValidationError } from '../errors/validation-error.js';
import { SqliteImmediateDialect } from './sqlite-immediate-dialect.js';
import { withStatementCache } from './statement-cache.js';

function counted(db: BetterSqlite3.Database): { db: BetterSqlite3.Database; prepared: string[] } {
  const prepared: string[] = [];
  const prepare = db.prepare.bind(db);
  return { db: Object.assign(Object.create(db) as BetterSqlite3.Database, { prepare: (s: string) => (prepared.push(s), prepare(s)), close: () => db.close() }), prepared };
}

test('a statement run again through Kysely is prepared once, and answers with the new parameters', async () => {
  const { db, prepared } = counted(new BetterSqlite3(':memory:'));
  const k = new Kysely<{ t: { id: number; name: string } }>({ dialect: new SqliteImmediateDialect({ database: withStatementCache(db) }) });
  try {
    await sql`create table t (id integer primary key, name text)`.execute(k);
    for (let i = 0; i < 5; i++) await k.insertInto('t').values({ id: i, name: `n${i}` }).execute();
    for (let i = 0; i < 5; i++) assert.equal((await k.selectFrom('t').select('name').where('id', '=', i).executeTakeFirstOrThrow()).name, `n${i}`);
    await k.transaction().execute(async (trx) => trx.updateTable('t').set({ name: 'x' }).where('id', '=', 1).execute());
    await k.transaction().execute(async (trx) => trx.updateTable('t').set({ name: 'y' }).where('id', '=', 2).execute());
    assert.equal(prepared.filter((s) => s.startsWith('insert')).length, 1);
    assert.equal(prepared.filter((s) => s.startsWith('select')).length, 1);
    assert.equal(prepared.filter((s) => s.startsWith('begin immediate')).length, 1);
    assert.deepEqual((await k.selectFrom('t').select('name').orderBy('id').execute()).map((r) => r.name), ['n0', 'x', 'y', 'n3', 'n4']);
  } finally {
    await k.destroy();
  }
});

test('bounded: past max, the least recently used statement is dropped and prepared again when needed', () => {
  const { db, prepared } = counted(new BetterSqlite3(':memory:'));
  const cache = withStatementCache(db, 2);
  try {
    cache.prepare('select 1');
    cache.prepare('select 2');
    cache.prepare('select 1'); // now the most recent
    cache.prepare('select 3'); // drops select 2
    assert.equal(cache.cached, 2);
    cache.prepare('select 1');
    cache.prepare('select 2');
    assert.deepEqual(prepared, ['select 1', 'select 2', 'select 3', 'select 2']);
  } finally {
    cache.close();
  }
});

test('a bad bound is refused, naming the field', () => {
  const db = new BetterSqlite3(':memory:');
  try {
    for (const max of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => withStatementCache(db, max), (e: unknown) => e instanceof ValidationError && e.issues[0]?.field === 'max');
    }
  } finally {
    db.close();
  }
});

test('a statement that fails to compile is not cached', () => {
  const { db, prepared } = counted(new BetterSqlite3(':memory:'));
  const cache = withStatementCache(db);
  try {
    assert.throws(() => cache.prepare('selec 1'));
    assert.equal(cache.cached, 0);
    assert.throws(() => cache.prepare('selec 1'));
    assert.equal(prepared.length, 2);
  } finally {
    cache.close();
  }
});
