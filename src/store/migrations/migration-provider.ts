import type { Migration, MigrationProvider } from 'kysely';
import type { Dialect } from '../schema.js';
import { fenceNewTables } from './fence-new-tables.js';
import * as m0001 from './0001-initial.js';
import * as m0002 from './0002-migration-reservation.js';
import * as m0003 from './0003-volumes.js';
import * as m0004 from './0004-host-overcommit-network-bridge.js';
import * as m0005 from './0005-events-at-index.js';
import * as m0006 from './0006-tenancy.js';
import * as m0007 from './0007-controller-leadership.js';
import * as m0008 from './0008-quotas.js';
import * as m0009 from './0009-usage.js';
import * as m0010 from './0010-capacity-leases.js';
import * as m0011 from './0011-migration-planner.js';
import * as m0012 from './0012-ha.js';
import * as m0013 from './0013-drs-scaling-groups.js';
import * as m0014 from './0014-access-keys-s3.js';
import * as m0015 from './0015-ec2.js';
import * as m0017 from './0017-system-image-bucket.js';
import * as m0021 from './0021-host-degraded.js';
import * as m0022 from './0022-migration-queue-forced.js';
import * as m0028 from './0028-clusters.js';
import * as m0029 from './0029-clouds.js';
import * as m0030 from './0030-s3-object-parts.js';
import * as m0031 from './0031-occi-mixins.js';
import * as m0032 from './0032-cloud-migrations.js';
import * as m0034 from './0034-datastores-volume-clusters.js';
import * as m0035 from './0035-vms-owner-name-index.js';
import * as m0036 from './0036-image-min-memory.js';

/**
 * The migrations, listed statically (no directory scan: the compiled layout
 * and bundlers cannot break it). Each gets the dialect for the few places
 * where DDL differs. Names sort in apply order.
 */
export function migrationProvider(dialect: Dialect): MigrationProvider {
  const migrations: Record<string, Migration> = {
    '0001-initial': { up: (db) => m0001.up(db, dialect), down: (db) => m0001.down(db) },
    '0002-migration-reservation': { up: (db) => m0002.up(db), down: (db) => m0002.down(db) },
    '0003-volumes': { up: (db) => m0003.up(db), down: (db) => m0003.down(db) },
    '0004-host-overcommit-network-bridge': { up: (db) => m0004.up(db), down: (db) => m0004.down(db) },
    '0005-events-at-index': { up: (db) => m0005.up(db), down: (db) => m0005.down(db) },
    '0006-tenancy': { up: (db) => m0006.up(db), down: (db) => m0006.down(db) },
    '0007-controller-leadership': { up: (db) => m0007.up(db, dialect), down: (db) => m0007.down(db, dialect) },
    '0008-quotas': { up: (db) => m0008.up(db, dialect), down: (db) => m0008.down(db) },
    '0009-usage': { up: (db) => m0009.up(db, dialect), down: (db) => m0009.down(db) },
    '0010-capacity-leases': { up: (db) => m0010.up(db, dialect), down: (db) => m0010.down(db) },
    '0011-migration-planner': { up: (db) => m0011.up(db), down: (db) => m0011.down(db) },
    '0012-ha': { up: (db) => m0012.up(db, dialect), down: (db) => m0012.down(db) },
    '0013-drs-scaling-groups': { up: (db) => m0013.up(db, dialect), down: (db) => m0013.down(db) },
    '0014-access-keys-s3': { up: (db) => m0014.up(db), down: (db) => m0014.down(db) },
    '0015-ec2': { up: (db) => m0015.up(db), down: (db) => m0015.down(db) },
    '0017-system-image-bucket': { up: (db) => m0017.up(db), down: (db) => m0017.down(db) },
    '0021-host-degraded': { up: (db) => m0021.up(db), down: (db) => m0021.down(db) },
    '0022-migration-queue-forced': { up: (db) => m0022.up(db), down: (db) => m0022.down(db) },
    '0028-clusters': { up: (db) => m0028.up(db), down: (db) => m0028.down(db) },
    '0029-clouds': { up: (db) => m0029.up(db), down: (db) => m0029.down(db) },
    '0030-s3-object-parts': { up: (db) => m0030.up(db), down: (db) => m0030.down(db) },
    '0031-occi-mixins': { up: (db) => m0031.up(db), down: (db) => m0031.down(db) },
    '0032-cloud-migrations': { up: (db) => m0032.up(db), down: (db) => m0032.down(db) },
    '0034-datastores-volume-clusters': { up: (db) => m0034.up(db), down: (db) => m0034.down(db) },
    '0035-vms-owner-name-index': { up: (db) => m0035.up(db), down: (db) => m0035.down(db) },
    '0036-image-min-memory': { up: (db) => m0036.up(db), down: (db) => m0036.down(db) },
  };
  // Tables made after the fence (0007) get its trigger as part of the migration that made them.
  for (const [name, m] of Object.entries(migrations)) {
    if (name > '0007-controller-leadership') migrations[name] = { ...m, up: async (db) => { await m.up(db); await fenceNewTables(db, dialect); } };
  }
  return { getMigrations: async () => migrations };
}
