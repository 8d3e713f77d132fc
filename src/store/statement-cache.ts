import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { ValidationError } from '../errors/validation-error.js';

/**
 * The database with `prepare` answered from a bounded cache of compiled
 * statements, keyed by SQL text. Kysely's SQLite driver prepares every query
 * afresh — SQLite parses and plans it each time — which was about a quarter of
 * the controller's CPU at scale, while the controller runs a few dozen
 * distinct statements over and over. Least recently used statements are
 * dropped past `max` (queries with `in (?, ?, …)` lists give one text per
 * length). Safe because the driver runs one statement at a time on its one
 * connection: a cached statement is never in use twice at once.
 * @throws ValidationError when `max` is not a positive integer.
 */
export function withStatementCache(db: SqliteDatabase, max = 256): SqliteDatabase & { readonly cached: number } {
  if (!Number.isInteger(max) || max < 1) throw new ValidationError('statement cache', [{ field: 'max', message: `must be an integer >= 1, got ${max}` }]);
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => {
      cache.clear();
      db.close();
    },
    prepare: (sql) => {
      const hit = cache.get(sql);
      if (hit !== undefined) {
        // Map keeps insertion order: re-inserting makes it the most recently used.
        cache.delete(sql);
        cache.set(sql, hit);
        return hit;
      }
      const stmt = db.prepare(sql);
      cache.set(sql, stmt);
      if (cache.size > max) cache.delete(cache.keys().next().value!);
      return stmt;
    },
    get cached() {
      return cache.size;
    },
  };
}
