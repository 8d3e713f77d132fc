import { chmodSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations/migration-provider.js';
import type { Database, Dialect } from './schema.js';
import { SqliteImmediateDialect } from './sqlite-immediate-dialect.js';
import { withStatementCache } from './statement-cache.js';
import type { StoreContext } from './store-context.js';
import { StoreMigrationError } from './store-errors.js';
import { DatastoresRepository } from './repositories/datastores-repository.js';
import { EventsRepository } from './repositories/events-repository.js';
import { HostsRepository } from './repositories/hosts-repository.js';
import { ClustersRepository } from './repositories/clusters-repository.js';
import { ImagesRepository } from './repositories/images-repository.js';
import { LeasesRepository } from './repositories/leases-repository.js';
import { MigrationsRepository } from './repositories/migrations-repository.js';
import { MigrationQueueRepository } from './repositories/migration-queue-repository.js';
import { HostMaintenanceRepository } from './repositories/host-maintenance-repository.js';
import { NetworksRepository } from './repositories/networks-repository.js';
import { TemplatesRepository } from './repositories/templates-repository.js';
import { UsersRepository } from './repositories/users-repository.js';
import { ApiTokensRepository } from './repositories/api-tokens-repository.js';
import { GroupsRepository } from './repositories/groups-repository.js';
import { SharesRepository } from './repositories/shares-repository.js';
import { VmsRepository } from './repositories/vms-repository.js';
import { VolumesRepository } from './repositories/volumes-repository.js';
import { QuotasRepository } from './repositories/quotas-repository.js';
import { UsageRepository } from './repositories/usage-repository.js';
import { HaRepository } from './repositories/ha-repository.js';
import { CapacityLeasesRepository } from './repositories/capacity-leases-repository.js';
import { AccessKeysRepository } from './repositories/access-keys-repository.js';
import { S3Repository } from './repositories/s3-repository.js';
import { CloudsRepository } from './repositories/clouds-repository.js';
import { CloudMigrationsRepository } from './repositories/cloud-migrations-repository.js';

interface CommonConfig {
  /** The clock (tests pin it); default `new Date()`. */
  readonly now?: (() => Date) | undefined;
}

export interface SqliteStoreConfig extends CommonConfig {
  readonly kind: 'sqlite';
  /** Database file (created if missing), or `:memory:`. */
  readonly path: string;
  /** How long a writer waits for another process's lock; default 5000 ms. */
  readonly busyTimeoutMs?: number | undefined;
}

export interface PostgresStoreConfig extends CommonConfig {
  readonly kind: 'postgres';
  /** e.g. `postgresql:///nubo?host=/run/postgresql`. */
  readonly connectionString?: string | undefined;
  /** Further pool settings (max connections, timeouts …); `types` is always the store's own. */
  readonly pool?: Omit<pg.PoolConfig, 'types'> | undefined;
}

export type StoreConfig = SqliteStoreConfig | PostgresStoreConfig;

/** The controller's state: one repository per concept, over one Kysely instance. */
export interface Store {
  readonly dialect: Dialect;
  /** For the rare query no repository offers, and for tests. */
  readonly db: Kysely<Database>;
  readonly users: UsersRepository;
  readonly hosts: HostsRepository;
  readonly clusters: ClustersRepository;
  readonly datastores: DatastoresRepository;
  readonly images: ImagesRepository;
  readonly templates: TemplatesRepository;
  readonly vms: VmsRepository;
  readonly networks: NetworksRepository;
  readonly leases: LeasesRepository;
  readonly migrations: MigrationsRepository;
  /** Requested migrations waiting for their turn (0011). */
  readonly migrationQueue: MigrationQueueRepository;
  /** Hosts in maintenance and their evacuation's journal (0011). */
  readonly maintenance: HostMaintenanceRepository;
  readonly events: EventsRepository;
  readonly volumes: VolumesRepository;
  readonly tokens: ApiTokensRepository;
  readonly groups: GroupsRepository;
  readonly shares: SharesRepository;
  readonly quotas: QuotasRepository;
  /** Showback records, written with the VMs' state changes (read-only here). */
  readonly usage: UsageRepository;
  readonly ha: HaRepository;
  /** Capacity leases (Haizea-style reservations; `leases` are the network address leases). */
  readonly capacityLeases: CapacityLeasesRepository;
  /** SigV4 access keys of the EC2/S3 listeners (secrets sealed). */
  readonly accessKeys: AccessKeysRepository;
  /** The S3 listener's buckets, objects and multipart uploads (the bytes are files under NUBO_HOME/s3). */
  readonly s3: S3Repository;
  /** Remote clouds VMs burst to, and the VMs bound to them (0029). */
  readonly clouds: CloudsRepository;
  /** The journal of cross-cloud cold migrations (0032). */
  readonly cloudMigrations: CloudMigrationsRepository;
  close(): Promise<void>;
}

/** PostgreSQL int8 (bigint, bigserial, count(*)) as a number; the store's values stay far below 2^53. */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${text} exceeds the safe integer range`);
  return n;
}

/** OID of PostgreSQL's int8. */
const INT8_OID = 20;

const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : (pg.types.getTypeParser(oid, format) as unknown)) as pg.CustomTypesConfig['getTypeParser'],
};

function createKysely(config: StoreConfig): Kysely<Database> {
  if (config.kind === 'sqlite') {
    const sqlite = new BetterSqlite3(config.path);
    try {
      // The database holds the hosts' tokens: the owner only. Before WAL, because SQLite gives -wal and -shm the database's mode.
      if (config.path !== ':memory:' && config.path !== '') chmodSync(config.path, 0o600);
      sqlite.pragma('journal_mode = WAL');
      sqlite.pragma('foreign_keys = ON');
      sqlite.pragma(`busy_timeout = ${Math.max(0, Math.trunc(config.busyTimeoutMs ?? 5000))}`);
      sqlite.pragma('synchronous = NORMAL');
    } catch (err) {
      sqlite.close();
      throw err;
    }
    return new Kysely<Database>({ dialect: new SqliteImmediateDialect({ database: withStatementCache(sqlite) }) });
  }
  const pool = new pg.Pool({ max: 10, ...config.pool, ...(config.connectionString !== undefined ? { connectionString: config.connectionString } : {}), types: pgTypes });
  // An idle client losing its connection must not crash the controller; the next query reports the failure.
  pool.on('error', () => {});
  // Nor one in use: PostgreSQL ends a session that idles in a transaction (controller-session-settings.ts) while the
  // client is checked out, and pg emits that on the client — unheard, an uncaught exception. The transaction's next
  // query fails with the reason; that is where it is handled.
  pool.on('connect', (client) => client.on('error', () => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * A connection of the leadership lease's own (a pool of one), beside the
 * store's pool: a renewal must not queue behind the controller's own work when
 * every pooled connection is busy (200 API clients, a long transaction), or
 * the leader loses the lease to its own load. Same session settings as the
 * store's (the fence trigger reads the name).
 */
export function openLeaseDb(config: PostgresStoreConfig): Kysely<unknown> {
  const pool = new pg.Pool({ ...config.pool, max: 1, ...(config.connectionString !== undefined ? { connectionString: config.connectionString } : {}) });
  // As the store's pool: a lost connection is reported by the next renewal, never an uncaught exception.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * Opens the store and brings its schema up to date (idempotent: opening an
 * up-to-date store applies nothing; concurrent openers are serialised by
 * Kysely's migration lock). Throws StoreMigrationError, with nothing left
 * open, when a migration fails.
 */
export async function openStore(config: StoreConfig): Promise<Store> {
  const db = createKysely(config);
  const dialect: Dialect = config.kind;
  const clock = config.now ?? (() => new Date());
  const ctx: StoreContext = { db, dialect, now: () => clock().toISOString() };
  try {
    const migrator = new Migrator({
      db,
      provider: migrationProvider(dialect),
      migrationTableName: 'schema_migration',
      migrationLockTableName: 'schema_migration_lock',
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error !== undefined) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? '(setup)';
      throw new StoreMigrationError(failed, { cause: error });
    }
  } catch (err) {
    await db.destroy();
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    dialect,
    db,
    users: new UsersRepository(ctx),
    hosts: new HostsRepository(ctx),
    clusters: new ClustersRepository(ctx),
    datastores: new DatastoresRepository(ctx),
    images: new ImagesRepository(ctx),
    templates: new TemplatesRepository(ctx),
    vms: new VmsRepository(ctx),
    networks: new NetworksRepository(ctx),
    leases: new LeasesRepository(ctx),
    migrations: new MigrationsRepository(ctx),
    migrationQueue: new MigrationQueueRepository(ctx),
    maintenance: new HostMaintenanceRepository(ctx),
    events: new EventsRepository(ctx),
    volumes: new VolumesRepository(ctx),
    tokens: new ApiTokensRepository(ctx),
    groups: new GroupsRepository(ctx),
    shares: new SharesRepository(ctx),
    quotas: new QuotasRepository(ctx),
    usage: new UsageRepository(ctx),
    ha: new HaRepository(ctx),
    capacityLeases: new CapacityLeasesRepository(ctx),
    accessKeys: new AccessKeysRepository(ctx),
    s3: new S3Repository(ctx),
    clouds: new CloudsRepository(ctx),
    cloudMigrations: new CloudMigrationsRepository(ctx),
    close: () => (closed ??= db.destroy()),
  };
}
