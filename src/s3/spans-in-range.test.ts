import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spansInRange } from './spans-in-range.js';

// Three parts of 10, 5 and 7 bytes: bytes 0–9 in a, 10–14 in b, 15–21 in c.
const spans = [{ blobId: 'a', size: 10 }, { blobId: 'b', size: 5 }, { blobId: 'c', size: 7 }];

test('spansInRange: the whole object is every blob whole', () => {
  assert.deepEqual(spansInRange(spans, 0, 21), [{ blobId: 'a', from: 0, to: 9 }, { blobId: 'b', from: 0, to: 4 }, { blobId: 'c', from: 0, to: 6 }]);
});

test('spansInRange: a range inside one part reads that blob only, at offsets inside it', () => {
  assert.deepEqual(spansInRange(spans, 11, 13), [{ blobId: 'b', from: 1, to: 3 }]);
  assert.deepEqual(spansInRange(spans, 0, 0), [{ blobId: 'a', from: 0, to: 0 }]);
  assert.deepEqual(spansInRange(spans, 21, 21), [{ blobId: 'c', from: 6, to: 6 }]);
});

test('spansInRange: a range across part boundaries reads the end of one blob and the start of the next', () => {
  assert.deepEqual(spansInRange(spans, 9, 10), [{ blobId: 'a', from: 9, to: 9 }, { blobId: 'b', from: 0, to: 0 }]);
  assert.deepEqual(spansInRange(spans, 8, 16), [{ blobId: 'a', from: 8, to: 9 }, { blobId: 'b', from: 0, to: 4 }, { blobId: 'c', from: 0, to: 1 }]);
  assert.deepEqual(spansInRange(spans, 10, 14), [{ blobId: 'b', from: 0, to: 4 }], 'exactly one part');
});

test('spansInRange: empty blobs hold nothing; an empty range is no piece', () => {
  const withEmpty = [{ blobId: 'e0', size: 0 }, { blobId: 'x', size: 3 }, { blobId: 'e1', size: 0 }, { blobId: 'y', size: 2 }];
  assert.deepEqual(spansInRange(withEmpty, 0, 4), [{ blobId: 'x', from: 0, to: 2 }, { blobId: 'y', from: 0, to: 1 }]);
  assert.deepEqual(spansInRange(withEmpty, 2, 3), [{ blobId: 'x', from: 2, to: 2 }, { blobId: 'y', from: 0, to: 0 }]);
  assert.deepEqual(spansInRange(spans, 0, -1), []);
  assert.deepEqual(spansInRange([{ blobId: 'z', size: 0 }], 0, -1), []);
});
