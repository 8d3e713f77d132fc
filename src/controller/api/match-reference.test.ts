import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AmbiguousIdError, byIdPrefix } from './match-reference.js';

const items = [{ id: '3f2a9c1e-aaaa', name: 'web-1' }, { id: '3f2a77d0-bbbb', name: 'web-2' }, { id: '9d00e1f2-cccc', name: 'db' }];

test('byIdPrefix: the one id that starts with the reference', () => {
  assert.equal(byIdPrefix('vm', '3f2a9', items)?.name, 'web-1');
  assert.equal(byIdPrefix('vm', '9d00e1f2-cccc', items)?.name, 'db');
  assert.equal(byIdPrefix('vm', 'ffff', items), undefined);
});

test('byIdPrefix: fewer than 4 characters are not taken as a prefix', () => {
  assert.equal(byIdPrefix('vm', '9d0', items), undefined);
});

test('byIdPrefix: a prefix of several ids is AMBIGUOUS_ID naming each candidate', () => {
  assert.throws(() => byIdPrefix('vm', '3f2a', items), (err: unknown) => {
    assert.ok(err instanceof AmbiguousIdError);
    assert.equal(err.code, 'AMBIGUOUS_ID');
    assert.deepEqual(err.details['candidates'], ['3f2a9c1e-aaaa', '3f2a77d0-bbbb']);
    assert.match(err.message, /vm 3f2a is ambiguous: it fits 2 vms \(3f2a9c1e-aaaa \(web-1\), 3f2a77d0-bbbb \(web-2\)\)/);
    return true;
  });
});
