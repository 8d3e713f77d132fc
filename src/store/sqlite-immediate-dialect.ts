import {
  CompiledQuery,
  SelectQueryNode,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type SqliteDatabase,
  type SqliteDialectConfig,
} from 'kysely';
import { ConnectionQueue } from './connection-queue.js';
import { isBackground } from './store-priority.js';
import { InvariantError } from '../errors/invariant-error.js';

/** The one connection: each statement run synchronously by better-sqlite3, as Kysely's own SQLite connection does. */
class SqliteConnection implements DatabaseConnection {
  constructor(private readonly db: SqliteDatabase) {}

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.db.prepare(compiled.sql);
    if (stmt.reader) return Promise.resolve({ rows: stmt.all(compiled.parameters) as R[] });
    const { changes, lastInsertRowid } = stmt.run(compiled.parameters);
    return Promise.resolve({ numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] });
  }

  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiled.query)) throw new InvariantError('SQLite streams select queries only', { sql: compiled.sql });
    for (const row of this.db.prepare(compiled.sql).iterate(compiled.parameters)) yield { rows: [row as R] };
  }
}

/**
 * Kysely's SQLite driver with two changes. Transactions start with BEGIN
 * IMMEDIATE: a deferred BEGIN takes the write lock only at the first write,
 * so a read-then-write transaction (the compare-and-set in `vms.transition`,
 * `bindToHost`) could fail with SQLITE_BUSY against another process instead of
 * waiting; IMMEDIATE takes it up front, so busy_timeout applies. And the one
 * connection is handed out by a ConnectionQueue: in order, with requests
 * before background work (see connection-queue.ts).
 */
class QueuedSqliteDriver implements Driver {
  readonly #queue = new ConnectionQueue();
  #db: SqliteDatabase | undefined;
  #connection: SqliteConnection | undefined;

  constructor(private readonly config: SqliteDialectConfig) {}

  async init(): Promise<void> {
    this.#db = typeof this.config.database === 'function' ? await this.config.database() : this.config.database;
    this.#connection = new SqliteConnection(this.#db);
    if (this.config.onCreateConnection) await this.config.onCreateConnection(this.#connection);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#queue.acquire(isBackground());
    if (this.#connection === undefined) {
      this.#queue.release();
      throw new InvariantError('the SQLite driver was not initialised', {});
    }
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(): Promise<void> {
    this.#queue.release();
  }

  async destroy(): Promise<void> {
    this.#db?.close();
  }
}

export class SqliteImmediateDialect implements Dialect {
  constructor(private readonly config: SqliteDialectConfig) {}
  createDriver(): Driver {
    return new QueuedSqliteDriver(this.config);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
