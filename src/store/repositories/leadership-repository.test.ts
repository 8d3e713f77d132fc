import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { openLeaseDb, openStore, type Store } from '../open-store.js';
import { LeadershipRepository } from './leadership-repository.js';
import { controllerSessionSettings } from '../controller-session-settings.js';
import { startPostgresCluster, type PostgresCluster } from '../../../test/support/postgres-cluster.js';

// The lease and the fence trigger of migration 0007 on a real PostgreSQL.

let cluster: PostgresCluster;
const opened: Store[] = [];

/** A store whose sessions name controller `id` (as the controller daemon's do), or no controller at all. */
async function storeAs(id?: string): Promise<Store> {
  const s = await openStore({ kind: 'postgres', connectionString: cluster.connectionString, ...(id !== undefined ? { pool: { application_name: `nubo-controller:${id}` } } : {}) });
  opened.push(s);
  return s;
}
const repoOf = (s: Store): LeadershipRepository => new LeadershipRepository(s.db as never);
const addUser = (s: Store, name: string): Promise<unknown> => s.users.create({ name, role: 'user' });
const pgCode = (err: unknown): unknown => (err as { code?: unknown }).code;

before(async () => {
  cluster = await startPostgresCluster();
});
after(async () => {
  for (const s of opened) await s.close();
  await cluster?.stop();
});

test('the lease: taken when free, renewed by its holder in the same term, refused to others while live, next term once lapsed', async () => {
  const repo = repoOf(await storeAs());
  assert.equal(await repo.current(), undefined);
  assert.deepEqual(await repo.acquireOrRenew('a', 'http://a', 60_000), { term: 1, holder: 'a', url: 'http://a', live: true });
  assert.equal((await repo.acquireOrRenew('a', 'http://a', 60_000))?.term, 1);
  assert.equal(await repo.acquireOrRenew('b', 'http://b', 60_000), undefined);
  await repo.release('b');
  assert.equal((await repo.current())?.holder, 'a', 'a non-holder cannot release');
  await repo.release('a');
  assert.equal((await repo.current())?.live, false);
  assert.deepEqual(await repo.acquireOrRenew('b', 'http://b', 200), { term: 2, holder: 'b', url: 'http://b', live: true });
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await repo.current())?.live, false, 'lapsed on PostgreSQL\'s clock');
  assert.equal((await repo.acquireOrRenew('b', 'http://b', 60_000))?.term, 3, 'a lapsed holder comes back with a new term');
});

test('the fence: only the live lease holder\'s sessions write; other sessions are not fenced', async () => {
  const admin = await storeAs();
  const repo = repoOf(admin);
  await repo.release('b');
  assert.ok(await repo.acquireOrRenew('leader', 'http://leader', 60_000));
  const leader = await storeAs('leader');
  const follower = await storeAs('follower');
  await addUser(leader, 'by-leader');
  await assert.rejects(addUser(follower, 'by-follower'), (err) => pgCode(err) === 'NUBOF' && /does not hold the leadership lease/.test(String(err)));
  await assert.rejects(sql`DELETE FROM users`.execute(follower.db), (err) => pgCode(err) === 'NUBOF');
  const names = (await admin.users.list()).map((u) => u.name);
  assert.ok(names.includes('by-leader'));
  assert.ok(!names.includes('by-follower'), 'the refused write left nothing behind');
  // The leader's lease lapses (it was paused): from then on its writes are refused too.
  await repo.release('leader');
  await assert.rejects(addUser(leader, 'late'), (err) => pgCode(err) === 'NUBOF');
  assert.ok(!(await admin.users.list()).some((u) => u.name === 'late'));
  // A session that is no controller's (an operator's, a migration's) is not fenced.
  await addUser(admin, 'by-operator');
});

test('a takeover waits for the old leader\'s open write transaction: that write commits under the old lease, or fails', async () => {
  const admin = await storeAs();
  const repo = repoOf(admin);
  assert.ok(await repo.acquireOrRenew('old', 'http://old', 500));
  const old = await storeAs('old');
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const tx = old.db.transaction().execute(async (trx) => {
    await sql`INSERT INTO users (id, name, role, token_hash, ssh_keys, created_at) VALUES ('u-held', 'held', 'user', 'not-a-hash', '[]', ${new Date().toISOString()})`.execute(trx);
    await held;
  });
  await new Promise((resolve) => setTimeout(resolve, 700));
  // The lease has lapsed on PostgreSQL's clock, but the row is share-locked by the old leader's open write.
  let taken = false;
  const takeover = repo.acquireOrRenew('new', 'http://new', 60_000).then((r) => (taken = r !== undefined));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(taken, false, 'the takeover waits');
  release();
  await tx;
  await takeover;
  assert.equal(taken, true);
  assert.equal((await repo.current())?.holder, 'new');
  assert.ok((await admin.users.list()).some((u) => u.name === 'held'), 'the write made under the live lease committed');
});

test('a leader stopped inside its write transaction does not block a takeover: its session ends after half a lease, its write with it', async () => {
  const admin = await storeAs();
  const repo = repoOf(admin);
  await repo.release('new');
  const leaseMs = 2_000;
  assert.ok(await repo.acquireOrRenew('stalled', 'http://stalled', leaseMs));
  // As the controller daemon opens its store: the same settings, on every session.
  const stalled = await openStore({ kind: 'postgres', connectionString: cluster.connectionString, pool: { ...controllerSessionSettings('stalled', leaseMs) } });
  opened.push(stalled);
  let never!: () => void;
  const forever = new Promise<void>((resolve) => (never = resolve));
  const tx = stalled.db.transaction().execute(async (trx) => {
    await sql`INSERT INTO users (id, name, role, token_hash, ssh_keys, created_at) VALUES ('u-stalled', 'stalled', 'user', 'not-a-hash-2', '[]', ${new Date().toISOString()})`.execute(trx);
    await forever; // the process stopped here
    await sql`SELECT 1`.execute(trx);
  }).then(() => 'committed', () => 'ended');
  const t0 = Date.now();
  let got: unknown;
  while (got === undefined && Date.now() - t0 < 10_000) {
    got = await repo.acquireOrRenew('next', 'http://next', 60_000);
    if (got === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(got !== undefined, 'taken over while the old leader still sits in its transaction');
  assert.ok(Date.now() - t0 < leaseMs * 1.5 + 2_000, `within a lease and a half (took ${Date.now() - t0} ms)`);
  never();
  assert.equal(await tx, 'ended', 'the stalled transaction could not commit after its session was ended');
  assert.ok(!(await admin.users.list()).some((u) => u.name === 'stalled'), 'nothing of the stalled write remains');
});

test("the lease's own connection: a renewal does not wait for the store's pool, busy with the controller's own work", async () => {
  // A store whose only pooled connection is held by a long transaction, as 200 API clients or a slow write would hold them all.
  const busy = await openStore({ kind: 'postgres', connectionString: cluster.connectionString, pool: { max: 1 } });
  opened.push(busy);
  let free!: () => void;
  const holding = busy.db.transaction().execute(async (trx) => {
    await sql`SELECT 1`.execute(trx);
    await new Promise<void>((resolve) => { free = resolve; });
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const own = new LeadershipRepository(openLeaseDb({ kind: 'postgres', connectionString: cluster.connectionString }), true);
  const shared = repoOf(busy);
  try {
    const renewedBy = async (repo: LeadershipRepository): Promise<string> => Promise.race([
      repo.current().then(() => 'answered'),
      new Promise<string>((resolve) => setTimeout(() => resolve('waiting'), 2_000)),
    ]);
    assert.equal(await renewedBy(shared), 'waiting', 'over the store\'s pool the lease waits for the busy connection');
    assert.equal(await renewedBy(own), 'answered', 'over its own connection it does not');
  } finally {
    free();
    await holding;
    await own.close();
  }
});

test('every table of the schema carries the fence trigger, the lease and the migrations\' bookkeeping excepted', async () => {
  const s = await storeAs();
  const { rows } = await sql<{ table: string; fenced: boolean }>`
    SELECT c.relname AS table, EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'nubo_fence') AS fenced
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname`.execute(s.db);
  const exempt = new Set(['controller_leadership', 'schema_migration', 'schema_migration_lock']);
  assert.ok(rows.some((r) => r.table === 'vms'), 'the schema was read');
  assert.deepEqual(rows.filter((r) => !exempt.has(r.table) && !r.fenced).map((r) => r.table), [], 'tables without the fence');
});
