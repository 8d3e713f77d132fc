import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkBandwidth, predictionError, type PastMigration } from './link-bandwidth.js';

const MB = 1_000_000;
const past = (s: string, d: string, mb: number, ms: number): PastMigration => ({ sourceHostId: s, destHostId: d, transferredBytes: mb * MB, totalTimeMs: ms });

test('link bandwidth: the median throughput of past migrations on this link, either direction', () => {
  const h = [past('h1', 'h2', 100, 1000), past('h2', 'h1', 300, 1000), past('h1', 'h2', 200, 1000), past('h1', 'h3', 900, 1000)];
  assert.deepEqual(linkBandwidth(h, 'h1', 'h2', 1e12), { bytesPerSec: 200 * MB, basis: 'link', samples: 3 });
});

test('link bandwidth: any link when this one has none; the policy with no history; capped; only the last five', () => {
  assert.deepEqual(linkBandwidth([past('h1', 'h3', 50, 500)], 'h1', 'h2', 1e12), { bytesPerSec: 100 * MB, basis: 'any', samples: 1 });
  assert.deepEqual(linkBandwidth([], 'h1', 'h2', 64 * MB), { bytesPerSec: 64 * MB, basis: 'policy', samples: 0 });
  assert.equal(linkBandwidth([past('h1', 'h2', 100, 1000)], 'h1', 'h2', 10 * MB).bytesPerSec, 10 * MB);
  const many = [1, 1, 1, 1, 1, 1000, 1000, 1000].map((mb) => past('h1', 'h2', mb, 1000));
  assert.equal(linkBandwidth(many, 'h1', 'h2', 1e12).bytesPerSec, 1 * MB);
  // Records without figures (aborted early) are not evidence.
  assert.equal(linkBandwidth([past('h1', 'h2', 0, 1000), past('h1', 'h2', 5, 0)], 'h1', 'h2', 7).basis, 'policy');
});

test('link bandwidth: the reported downtime is left out of the time the bytes took (the prediction adds the switch-over itself); an odd one is ignored', () => {
  // 100 MB in 1500 ms of which 500 ms were the switch-over's pause: 100 MB/s for the copy.
  assert.equal(linkBandwidth([{ ...past('h1', 'h2', 100, 1500), downtimeMs: 500 }], 'h1', 'h2', 1e12).bytesPerSec, 100 * MB);
  // A downtime not below the total (a bad record) leaves the whole time.
  assert.equal(linkBandwidth([{ ...past('h1', 'h2', 100, 1000), downtimeMs: 1000 }], 'h1', 'h2', 1e12).bytesPerSec, 100 * MB);
});

test('prediction error: signed, relative to the actual; none without an actual', () => {
  assert.equal(predictionError(1200, 1000), 0.2);
  assert.equal(predictionError(500, 1000), -0.5);
  assert.equal(predictionError(5, 0), null);
});
