import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Leadership } from './leadership.js';
import type { LeadershipRepository, LeaseHolder } from '../store/repositories/leadership-repository.js';
import { NotLeaderError } from '../errors/not-leader-error.js';

const logger = pino({ level: 'silent' });

/** The lease row in memory, on the same virtual clock as the controller (PostgreSQL's clock in real life). */
class FakeLease {
  row: { term: number; holder: string; url: string; expires: number } | undefined;
  constructor(readonly clock: { t: number }) {}
  asRepo(): LeadershipRepository {
    const repo: Pick<LeadershipRepository, 'acquireOrRenew' | 'current' | 'release' | 'close'> = {
      acquireOrRenew: async (holder, url, leaseMs) => {
        const now = this.clock.t;
        const r = this.row;
        if (r && r.expires > now && r.holder !== holder) return undefined;
        const term = r === undefined ? 1 : r.holder === holder && r.expires > now ? r.term : r.term + 1;
        this.row = { term, holder, url, expires: now + leaseMs };
        return { term, holder, url, live: true };
      },
      current: async (): Promise<LeaseHolder | undefined> => (this.row ? { ...this.row, live: this.row.expires > this.clock.t } : undefined),
      release: async (holder) => {
        if (this.row?.holder === holder) this.row.expires = this.clock.t;
      },
      close: async () => {},
    };
    return repo as LeadershipRepository;
  }
}

function controller(lease: FakeLease, id: string, lost: string[]): Leadership {
  return new Leadership({ repo: lease.asRepo(), id, url: () => `http://${id}`, leaseMs: 1_000, logger, onLost: (r) => lost.push(r), monotonicMs: () => lease.clock.t });
}

test('one controller takes the lease; a second cannot while it is live, and takes it with the next term once it lapsed', async () => {
  const clock = { t: 0 };
  const lease = new FakeLease(clock);
  const lostA: string[] = [];
  const a = controller(lease, 'a', lostA);
  const b = controller(lease, 'b', []);
  try {
    assert.equal(await a.tryAcquire(), true);
    assert.equal(a.term, 1);
    assert.equal(await b.tryAcquire(), false);
    assert.equal((await b.leader())?.url, 'http://a');
    assert.throws(() => b.check(), NotLeaderError);
    // A paused: the virtual clock runs on while no renewal is sent.
    clock.t = 1_500;
    assert.equal(await b.tryAcquire(), true);
    assert.equal(b.term, 2);
    // A wakes: its deadline passed, so it refuses to act before it has even tried to renew.
    assert.equal(a.isLeader(), false);
    assert.throws(() => a.check(), NotLeaderError);
    assert.equal(lostA.length, 1);
  } finally {
    await a.release();
    await b.release();
  }
});

test('the local deadline falls before the lease ends on the store\'s clock', async () => {
  const clock = { t: 0 };
  const lease = new FakeLease(clock);
  const a = controller(lease, 'a', []);
  try {
    await a.tryAcquire();
    const expires = lease.row?.expires ?? 0;
    clock.t = expires - 1;
    // The store still counts the lease as live here, but the controller has stopped trusting it (the margin).
    assert.equal((await lease.asRepo().current())?.live, true);
    assert.equal(a.isLeader(), false);
  } finally {
    await a.release();
  }
});

test('a leader whose renewal finds another holder loses the leadership once and reports why', async () => {
  const clock = { t: 0 };
  const lease = new FakeLease(clock);
  const lost: string[] = [];
  const a = new Leadership({ repo: lease.asRepo(), id: 'a', url: () => 'http://a', leaseMs: 90, logger, onLost: (r) => lost.push(r), monotonicMs: () => clock.t });
  try {
    assert.equal(await a.tryAcquire(), true);
    // Someone took the row over behind its back (an operator, a split brain the fence will refuse).
    lease.row = { term: 7, holder: 'b', url: 'http://b', expires: 10_000 };
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.deepEqual(lost, ['another controller holds the lease']);
    assert.equal(a.isLeader(), false);
  } finally {
    await a.release();
  }
});

test('release ends the lease at once, so a follower need not wait for it to lapse', async () => {
  const clock = { t: 0 };
  const lease = new FakeLease(clock);
  const a = controller(lease, 'a', []);
  const b = controller(lease, 'b', []);
  try {
    await a.tryAcquire();
    await a.release();
    assert.equal(await b.tryAcquire(), true);
    assert.equal(b.term, 2);
  } finally {
    await b.release();
  }
});
