import { openStore } from './open-store.js';
import { storeContract } from './store.contract.js';
import { startPostgresCluster, type PostgresCluster } from '../../test/support/postgres-cluster.js';

// The cluster starts on the first open; if PostgreSQL cannot be started the suite fails (it never skips).
let cluster: Promise<PostgresCluster> | undefined;

storeContract(
  'postgres',
  async () => {
    cluster ??= startPostgresCluster();
    return openStore({ kind: 'postgres', connectionString: (await cluster).connectionString });
  },
  async () => {
    // A cluster that failed to start has already removed itself.
    const c = await cluster?.catch(() => undefined);
    await c?.stop();
  },
);
