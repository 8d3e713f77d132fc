import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { predictMigration } from './predict-migration.js';

const MiB = 2 ** 20;

describe('predictMigration', () => {
  it('an idle guest: one pass of all memory, nothing left for the stop', () => {
    // 1024 MiB at 128 MiB/s is 8 s; nothing dirtied, so no downtime copy.
    assert.deepEqual(predictMigration({ memoryBytes: 1024 * MiB, dirtyBytesPerSec: 0, bandwidthBytesPerSec: 128 * MiB, downtimeLimitMs: 300, setupMs: 500 }), {
      totalMs: 8_500, downtimeMs: 0, passes: 1, transferredBytes: 1024 * MiB, converges: true,
    });
  });

  it('a guest dirtying 32 MiB/s: passes of 8 s, 2 s and 0.5 s, then 16 MiB in 125 ms', () => {
    // Pass 1: 1024 MiB in 8 s, 256 MiB dirtied; pass 2: 256 MiB in 2 s, 64 MiB dirtied; pass 3: 64 MiB in 0.5 s, 16 MiB dirtied,
    // which takes 125 ms ≤ 300 ms: the stop-and-copy. Total 8 + 2 + 0.5 + 0.125 s; 1024 + 256 + 64 + 16 MiB sent.
    assert.deepEqual(predictMigration({ memoryBytes: 1024 * MiB, dirtyBytesPerSec: 32 * MiB, bandwidthBytesPerSec: 128 * MiB, downtimeLimitMs: 300 }), {
      totalMs: 10_625, downtimeMs: 125, passes: 3, transferredBytes: 1360 * MiB, converges: true,
    });
  });

  it('a guest dirtying faster than the link: no convergence, and the downtime it would take', () => {
    // 512 MiB at 64 MiB/s: 8 s, in which 1024 MiB would be dirtied — all 512 MiB again, no smaller: 8 s of downtime.
    assert.deepEqual(predictMigration({ memoryBytes: 512 * MiB, dirtyBytesPerSec: 128 * MiB, bandwidthBytesPerSec: 64 * MiB, downtimeLimitMs: 300 }), {
      totalMs: 16_000, downtimeMs: 8_000, passes: 1, transferredBytes: 1024 * MiB, converges: false,
    });
  });

  it('gives up after maxPasses when the rest shrinks too slowly', () => {
    const p = predictMigration({ memoryBytes: 1024 * MiB, dirtyBytesPerSec: 120 * MiB, bandwidthBytesPerSec: 128 * MiB, downtimeLimitMs: 10, maxPasses: 4 });
    assert.equal(p.passes, 4);
    assert.equal(p.converges, false);
    assert.ok(p.downtimeMs > 10);
  });

  it('the switch-over\'s fixed pause is part of the downtime and of the total: an idle guest\'s downtime is that pause, not ~0', () => {
    assert.deepEqual(predictMigration({ memoryBytes: 1024 * MiB, dirtyBytesPerSec: 0, bandwidthBytesPerSec: 128 * MiB, downtimeLimitMs: 300, switchoverMs: 450 }), {
      totalMs: 8_450, downtimeMs: 450, passes: 1, transferredBytes: 1024 * MiB, converges: true,
    });
    // With a rest to copy (the 32 MiB/s case above: 125 ms), the pause comes on top.
    const p = predictMigration({ memoryBytes: 1024 * MiB, dirtyBytesPerSec: 32 * MiB, bandwidthBytesPerSec: 128 * MiB, downtimeLimitMs: 300, switchoverMs: 400 });
    assert.deepEqual([p.downtimeMs, p.totalMs, p.passes], [525, 11_025, 3]);
  });
});
