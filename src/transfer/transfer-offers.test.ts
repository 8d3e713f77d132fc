import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TransferOffers } from './transfer-offers.js';

const files = [{ name: 'disk.qcow2' as const, path: '/d/vms/v1/disk.qcow2', sizeBytes: 10 }];

test('an offer reads with its own token only, and only its files', () => {
  const offers = new TransferOffers();
  const o = offers.open('v1', 'm1', files, 60_000);
  assert.match(o.transferId, /^[0-9a-f]{32}$/);
  assert.match(o.token, /^[0-9a-f]{64}$/);
  assert.equal(offers.authorize(o.transferId, o.token), o);
  assert.throws(() => offers.authorize(o.transferId, 'x'.repeat(64)), { code: 'UNAUTHORIZED' });
  assert.throws(() => offers.authorize('0'.repeat(32), o.token), { code: 'UNAUTHORIZED' });
  assert.equal(offers.fileOf(o, 'disk.qcow2').path, '/d/vms/v1/disk.qcow2');
  assert.throws(() => offers.fileOf(o, 'memory.state'), { code: 'UNAUTHORIZED' });
});

test('the same migration gets the same offer; a new migration of the VM replaces it; revoke ends them', () => {
  const offers = new TransferOffers();
  const a = offers.open('v1', 'm1', files, 60_000);
  assert.equal(offers.open('v1', 'm1', files, 60_000), a);
  const b = offers.open('v1', 'm2', files, 60_000);
  assert.notEqual(b.token, a.token);
  assert.throws(() => offers.authorize(a.transferId, a.token), { code: 'UNAUTHORIZED' });
  const other = offers.open('v2', 'm3', files, 60_000);
  assert.equal(offers.isOpen('v1'), true);
  offers.revoke('v1');
  assert.equal(offers.isOpen('v1'), false);
  assert.throws(() => offers.authorize(b.transferId, b.token), { code: 'UNAUTHORIZED' });
  assert.equal(offers.authorize(other.transferId, other.token), other, 'other VMs keep theirs');
});

test('an offer expires', () => {
  let now = 1_000;
  const offers = new TransferOffers(() => now);
  const o = offers.open('v1', 'm1', files, 10_000);
  now += 9_999;
  assert.equal(offers.authorize(o.transferId, o.token), o);
  now += 1;
  assert.throws(() => offers.authorize(o.transferId, o.token), { code: 'UNAUTHORIZED' });
  assert.equal(offers.isOpen('v1'), false);
});
