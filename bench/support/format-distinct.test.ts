import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDistinct } from './format-distinct.js';

test('adds digits until different numbers read differently', () => {
  assert.deepEqual(formatDistinct([322.4, 321.9]), ['322.4', '321.9']);
  assert.deepEqual(formatDistinct([322.44, 322.41]), ['322.44', '322.41']);
  assert.deepEqual(formatDistinct([1.2, 1.3], 2), ['1.20', '1.30']);
});

test('equal numbers need no extra digits, and non-finite ones print as a dash', () => {
  assert.deepEqual(formatDistinct([322, 322]), ['322', '322']);
  assert.deepEqual(formatDistinct([NaN, 3]), ['—', '3']);
});

test('stops at the digit cap', () => {
  assert.deepEqual(formatDistinct([1, 1 + 1e-9], 0, 3), ['1.000', '1.000']);
});
