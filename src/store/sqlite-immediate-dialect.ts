import {
  CompiledQuery,
  SqliteAdapter,
  SqliteDriver,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type SqliteDialectConfig,
} from 'kysely';

/**
 * Kysely's SQLite driver transactions start with a deferred BEGIN, which
 * takes the write lock only at the first write: a read-then-write
 * transaction (the compare-and-set in `vms.transition`, `bindToHost`) can
 * then fail with SQLITE_BUSY against another process instead of waiting.
 * BEGIN IMMEDIATE takes the write lock up front, so busy_timeout applies.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

export class SqliteImmediateDialect implements Dialect {
  constructor(private readonly config: SqliteDialectConfig) {}
  createDriver(): Driver {
    return new ImmediateSqliteDriver(this.config);
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
